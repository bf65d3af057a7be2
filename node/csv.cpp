// Streaming CSV reader; see csv.h.
#include "node/csv.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unicode/ustring.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "node/text.h"
#include "storage/files.h"

namespace bosai::node {
namespace {

constexpr size_t kChunk = 1 << 20;
constexpr int kRowNotBegun = 0;  // libcsv's parser state between records
// libcsv's parser states where its strict mode stops: inside an unquoted field, which a quote
// may not be in; after a quoted field's closing quote, which only a delimiter may follow.
constexpr int kFieldBegun = 2, kFieldMightHaveEnded = 3;

// Decides --encoding auto: UTF-8 when the file is valid UTF-8 up to its end, or up to its first
// kDecidingBytes bytes of non-ASCII text. Japanese text in CP932 is not valid UTF-8 beyond a few
// characters, so a register's first rows decide. A file that turns invalid further on is then
// refused at the line of its first bad byte (CsvReader::Fill), not read as CP932 mojibake; so is
// one that turns invalid sooner, after at least kUtf8EvidenceBytes of valid non-ASCII UTF-8 (16
// kanji or kana): a damaged UTF-8 file, not a CP932 one.
constexpr size_t kDecidingBytes = 64 << 10;
constexpr size_t kUtf8EvidenceBytes = 48;

Result<bool> FileIsUtf8(const std::string& path, const std::string& name) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return Status::IoError(fmt::format("{}: {}", name, std::strerror(errno)));
  std::string buf(kChunk, '\0');
  std::string carry;
  size_t non_ascii = 0;
  while (true) {
    size_t n = std::fread(buf.data(), 1, buf.size(), f.get());
    std::string text = carry + buf.substr(0, n);
    // Keep an incomplete trailing character for the next round.
    size_t cut = text.size();
    for (size_t k = 1; k <= 3 && k <= text.size(); ++k) {
      uint8_t c = uint8_t(text[text.size() - k]);
      if ((c & 0xC0) == 0xC0) {
        size_t need = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
        if (need > k) cut = text.size() - k;
        break;
      }
      if ((c & 0x80) == 0) break;
    }
    if (n == 0) cut = text.size();
    std::string_view chunk = std::string_view(text).substr(0, cut);
    std::string_view valid = chunk.substr(0, ValidUtf8Prefix(chunk));
    for (char c : valid) non_ascii += uint8_t(c) >> 7;
    if (non_ascii >= kDecidingBytes) return true;
    if (valid.size() < chunk.size()) return non_ascii >= kUtf8EvidenceBytes;
    carry = text.substr(cut);
    if (n == 0) return carry.empty();
  }
}

// What a file is when its first bytes say it is not text: a workbook given where its CSV was
// meant (the common mistake: `sheet`), or another binary file. what is nullptr for anything else.
struct BinaryKind {
  const char* what = nullptr;
  bool sheet = false;
};
BinaryKind BinaryKindOf(std::string_view head) {
  auto starts = [&](std::string_view magic) { return head.substr(0, magic.size()) == magic; };
  if (starts("PK\x03\x04"))
    return {"a ZIP archive (an Excel .xlsx or a LibreOffice .ods workbook?)", true};
  if (starts("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1")) return {"an Excel 97-2003 workbook (.xls)", true};
  if (starts("%PDF-")) return {"a PDF document"};
  if (starts("\x1F\x8B")) return {"a gzip-compressed file"};
  if (starts(std::string_view("SQLite format 3\0", 16))) return {"an SQLite database"};
  return {};
}

// Whether a file's first bytes are a UTF-16 byte order mark, little- or big-endian.
bool HasUtf16Bom(std::string_view head) {
  return head.substr(0, 2) == "\xFF\xFE" || head.substr(0, 2) == "\xFE\xFF";
}

}  // namespace

Result<Encoding> ParseEncoding(std::string_view name) {
  if (name == "auto") return Encoding::kAuto;
  if (name == "utf-8" || name == "utf8" || name == "UTF-8") return Encoding::kUtf8;
  if (name == "cp932" || name == "CP932" || name == "shift_jis" || name == "sjis" ||
      name == "Shift_JIS") {
    return Encoding::kCp932;
  }
  if (name == "utf-16" || name == "utf16" || name == "UTF-16") return Encoding::kUtf16;
  return Status::Invalid(
      fmt::format("unknown encoding \"{}\" (use auto, utf-8, cp932 or utf-16)", name));
}

const char* EncodingName(Encoding e) {
  switch (e) {
    case Encoding::kAuto:
      return "auto";
    case Encoding::kUtf8:
      return "utf-8";
    case Encoding::kCp932:
      return "cp932";
    case Encoding::kUtf16:
      return "utf-16";
  }
  return "?";
}

Result<std::unique_ptr<CsvReader>> CsvReader::Open(const std::string& path, Encoding encoding,
                                                   const std::string& name) {
  std::unique_ptr<CsvReader> r(new CsvReader());
  r->path_ = name.empty() ? path : name;
  r->file_ = std::fopen(path.c_str(), "rb");
  if (!r->file_) return Status::IoError(fmt::format("{}: {}", r->path_, std::strerror(errno)));
  char first[16];
  std::string head(first, std::fread(first, 1, sizeof first, r->file_));
  if (BinaryKind kind = BinaryKindOf(head); kind.what) {
    return Status::Invalid(fmt::format(
        "{}: this is {}, not CSV text{}", r->path_, kind.what,
        kind.sheet
            ? ": save the sheet as CSV (in Excel: 名前を付けて保存, CSV UTF-8 (コンマ区切り))"
            : ""));
  }
  head.resize(std::min<size_t>(head.size(), 3));  // for a BOM
  std::fseek(r->file_, 0, SEEK_END);
  r->file_size_ = uint64_t(std::ftell(r->file_));
  std::fseek(r->file_, 0, SEEK_SET);
  if (encoding == Encoding::kAuto && HasUtf16Bom(head)) encoding = Encoding::kUtf16;
  if (encoding == Encoding::kAuto) {
    BOSAI_ASSIGN_OR_RETURN(bool utf8, FileIsUtf8(path, r->path_));
    encoding = utf8 ? Encoding::kUtf8 : Encoding::kCp932;
  }
  // A UTF-16 file without a byte order mark is taken as little-endian, as Windows writes it.
  const char* source = nullptr;
  if (encoding == Encoding::kUtf8) {
    r->bom_ = head == "\xEF\xBB\xBF" ? 3 : 0;
  } else if (encoding == Encoding::kCp932) {
    source = "windows-31j";  // Microsoft's mapping (ibm-943_P15A-2003)
  } else {
    r->bom_ = HasUtf16Bom(head) ? 2 : 0;
    source = head.substr(0, 2) == "\xFE\xFF" ? "UTF-16BE" : "UTF-16LE";
  }
  r->encoding_ = encoding;
  if (source) {
    UErrorCode err = U_ZERO_ERROR;
    r->source_ = ucnv_open(source, &err);
    if (U_FAILURE(err)) return Status::IoError(fmt::format("ICU has no {} converter", source));
    ucnv_setToUCallBack(r->source_, UCNV_TO_U_CALLBACK_STOP, nullptr, nullptr, nullptr, &err);
    r->utf8_ = ucnv_open("UTF-8", &err);
    if (U_FAILURE(err)) return Status::IoError("ICU has no UTF-8 converter");
  }
  if (csv_init(&r->parser_, CSV_STRICT | CSV_STRICT_FINI) != 0) {
    return Status::IoError("cannot initialize the CSV parser");
  }
  r->parser_ready_ = true;
  return r;
}

CsvReader::~CsvReader() {
  if (file_) std::fclose(file_);
  if (source_) ucnv_close(source_);
  if (utf8_) ucnv_close(utf8_);
  if (parser_ready_) csv_free(&parser_);
}

void CsvReader::OnField(void* data, size_t len, void* self) {
  auto* r = static_cast<CsvReader*>(self);
  r->current_.fields.emplace_back(static_cast<const char*>(data), len);
}

void CsvReader::OnRecord(int /*terminator*/, void* self) {
  auto* r = static_cast<CsvReader*>(self);
  r->current_.line = r->record_start_;
  r->ready_.push_back(std::move(r->current_));
  r->current_ = CsvRecord();
  r->record_bytes_ = 0;
}

Status CsvReader::FeedLine(std::string_view line) {
  ++line_;
  if (line_ == 1 && line.find('\t') != std::string_view::npos &&
      line.find(',') == std::string_view::npos) {
    delimiter_ = '\t';
    csv_set_delim(&parser_, '\t');
  }
  if (parser_.pstate == kRowNotBegun) record_start_ = line_;
  record_bytes_ += line.size();
  if (record_bytes_ > kMaxRecordBytes) return TooLong(record_start_);
  if (csv_parse(&parser_, line.data(), line.size(), OnField, OnRecord, this) != line.size()) {
    // At the field it stopped in (the fields before it are in current_).
    const std::string where = fmt::format("{}:{}:{}", path_, line_, current_.fields.size() + 1);
    if (csv_error(&parser_) != CSV_EPARSE) {
      return Status::Invalid(fmt::format("{}: {}", where, csv_strerror(csv_error(&parser_))));
    }
    return Status::Invalid(fmt::format(
        "{}: {}; a quote in a field needs the whole field in quotes, the quote doubled "
        "(\"山\"\"田\")",
        where,
        parser_.pstate == kFieldMightHaveEnded ? "text after the quote that closes a quoted field"
        : parser_.pstate == kFieldBegun        ? "a quote inside a field that is not quoted"
                                               : "a quote out of place"));
  }
  return Status::Ok();
}

Status CsvReader::TooLong(size_t record_start) const {
  return Status::Invalid(fmt::format("{}:{}: record longer than {} bytes (an unterminated quote?)",
                                     path_, record_start, kMaxRecordBytes));
}

Status CsvReader::FeedText(std::string_view text) {
  size_t start = 0;
  while (true) {
    size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) {
      partial_line_.append(text.substr(start));
      // A line with no end in sight is not held whole either.
      if (record_bytes_ + partial_line_.size() > kMaxRecordBytes) {
        return TooLong(parser_.pstate == kRowNotBegun ? line_ + 1 : record_start_);
      }
      return Status::Ok();
    }
    if (partial_line_.empty()) {
      BOSAI_RETURN_IF_ERROR(FeedLine(text.substr(start, nl + 1 - start)));
    } else {
      partial_line_.append(text.substr(start, nl + 1 - start));
      std::string line = std::move(partial_line_);
      partial_line_.clear();
      BOSAI_RETURN_IF_ERROR(FeedLine(line));
    }
    start = nl + 1;
  }
}

Status CsvReader::Fill() {
  std::string buf(kChunk, '\0');
  size_t n = std::fread(buf.data(), 1, buf.size(), file_);
  if (n == 0 && std::ferror(file_)) {
    return Status::IoError(fmt::format("{}: cannot read: {}", path_, std::strerror(errno)));
  }
  buf.resize(n);
  bytes_read_ += n;
  if (first_chunk_) buf.erase(0, std::min(bom_, buf.size()));
  first_chunk_ = false;
  bool last = n == 0;

  std::string text;
  if (source_) {
    // CP932 or UTF-16 → UTF-16 → UTF-8 through ICU's pivot buffer; a character split between chunks
    // waits in the converter. Returns where ICU stopped, past the bad bytes, or npos.
    auto decode = [this](std::string_view in, bool flush, std::string* out) {
      out->resize(in.size() * 3 + 16);
      const char* src = in.data();
      char* dst = out->data();
      UErrorCode err = U_ZERO_ERROR;
      UChar pivot[4096];
      UChar* ps = pivot;
      UChar* pt = pivot;
      ucnv_convertEx(utf8_, source_, &dst, out->data() + out->size(), &src, in.data() + in.size(),
                     pivot, &ps, &pt, pivot + 4096, false, flush, &err);
      out->resize(size_t(dst - out->data()));
      return U_FAILURE(err) ? size_t(src - in.data()) : std::string_view::npos;
    };
    size_t stop = decode(buf, last, &text);
    if (stop != std::string_view::npos) {
      char bad[8];
      int8_t bad_len = sizeof bad;
      UErrorCode err = U_ZERO_ERROR;
      ucnv_getInvalidChars(source_, bad, &bad_len, &err);
      if (U_FAILURE(err)) bad_len = 0;
      std::string bytes;
      for (int8_t i = 0; i < bad_len; ++i) {
        bytes += fmt::format("{}0x{:02X}", i ? " " : "", uint8_t(bad[i]));
      }
      // The text before them, whole: ICU may have left its end in the pivot buffer.
      ucnv_reset(source_);
      ucnv_reset(utf8_);
      decode(std::string_view(buf).substr(0, stop - std::min(stop, size_t(bad_len))), true, &text);
      const bool cp932 = encoding_ == Encoding::kCp932;
      return BadText(text,
                     fmt::format("{} {} {} not {} text{}", bad_len > 1 ? "bytes" : "byte", bytes,
                                 bad_len > 1 ? "are" : "is", cp932 ? "CP932" : "UTF-16",
                                 cp932 ? " (try --encoding utf-8)" : ""));
    }
  } else {
    text = carry_ + buf;
    carry_.clear();
    if (!last) {
      // Hold back an incomplete trailing UTF-8 character.
      size_t k = 0;
      while (k < 3 && k < text.size() && (uint8_t(text[text.size() - 1 - k]) & 0xC0) == 0x80) ++k;
      if (k < text.size() && (uint8_t(text[text.size() - 1 - k]) & 0xC0) == 0xC0) {
        carry_ = text.substr(text.size() - 1 - k);
        text.resize(text.size() - 1 - k);
      }
    }
    if (!IsValidUtf8(text)) {
      size_t valid = ValidUtf8Prefix(text);
      return BadText(text.substr(0, valid),
                     fmt::format("byte 0x{:02X} is not UTF-8 text (try --encoding cp932)",
                                 uint8_t(text[valid])));
    }
    if (size_t nul = text.find('\0'); nul != std::string::npos) {
      return BadText(text.substr(0, nul),
                     "byte 0x00 is not text (UTF-16 without a byte order mark? try --encoding "
                     "utf-16)");
    }
  }
  BOSAI_RETURN_IF_ERROR(FeedText(text));
  if (last) {
    if (!partial_line_.empty()) {
      std::string line = std::move(partial_line_);
      partial_line_.clear();
      BOSAI_RETURN_IF_ERROR(FeedLine(line));
    }
    if (csv_fini(&parser_, OnField, OnRecord, this) != 0) {
      return Status::Invalid(fmt::format("{}:{}: unterminated quoted field at the end of the file",
                                         path_, record_start_));
    }
    eof_ = true;
  }
  return Status::Ok();
}

Status CsvReader::BadText(std::string_view decoded, std::string_view reason) {
  // Parse the text before the bad bytes, so that the error names the record and the field they
  // are in, as a validation error does (a malformed record before them is reported instead).
  BOSAI_RETURN_IF_ERROR(FeedText(decoded));
  size_t record = parser_.pstate == kRowNotBegun ? line_ + 1 : record_start_;
  csv_parse(&parser_, partial_line_.data(), partial_line_.size(), OnField, OnRecord, this);
  return Status::Invalid(
      fmt::format("{}:{}:{}: {}", path_, record, current_.fields.size() + 1, reason));
}

Result<bool> CsvReader::Next(CsvRecord* out) {
  while (ready_.empty() && !eof_) BOSAI_RETURN_IF_ERROR(Fill());
  if (ready_.empty()) return false;
  *out = std::move(ready_.front());
  ready_.pop_front();
  return true;
}

// ---- CsvWriter

char32_t Cp932Form(char32_t ch) {
  switch (ch) {
    case U'\u301C':
      return U'\uFF5E';  // WAVE DASH → FULLWIDTH TILDE
    case U'\u2212':
      return U'\uFF0D';  // MINUS SIGN → FULLWIDTH HYPHEN-MINUS
    case U'\u2016':
      return U'\u2225';  // DOUBLE VERTICAL LINE → PARALLEL TO
    case U'\u2014':
      return U'\u2015';  // EM DASH → HORIZONTAL BAR
    case U'\u00A2':
      return U'\uFFE0';  // CENT SIGN → FULLWIDTH CENT SIGN
    case U'\u00A3':
      return U'\uFFE1';  // POUND SIGN → FULLWIDTH POUND SIGN
    case U'\u00AC':
      return U'\uFFE2';  // NOT SIGN → FULLWIDTH NOT SIGN
    default:
      return 0;
  }
}

void AppendCsvField(std::string& out, std::string_view v) {
  // Spaces and tabs at either end too: the reader (libcsv) trims them from unquoted fields.
  auto blank = [](char c) { return c == ' ' || c == '\t'; };
  const bool padded = !v.empty() && (blank(v.front()) || blank(v.back()));
  if (!padded && v.find_first_of(",\"\r\n") == std::string_view::npos) {
    out += v;
    return;
  }
  out += '"';
  for (char c : v) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

Result<std::unique_ptr<CsvWriter>> CsvWriter::Create(const std::string& path, Encoding encoding,
                                                     std::vector<std::string> columns, bool bom,
                                                     bool secret) {
  if (encoding != Encoding::kUtf8 && encoding != Encoding::kCp932) {
    return Status::Invalid(
        fmt::format("cannot write {}: write utf-8 or cp932", EncodingName(encoding)));
  }
  if (bom && encoding != Encoding::kUtf8) {
    return Status::Invalid("a byte order mark is for UTF-8 only");
  }
  std::unique_ptr<CsvWriter> w(new CsvWriter());
  const OutputTarget target = ResolveOutput(path);
  w->path_ = path;
  w->target_ = target.path.string();
  w->in_place_ = target.in_place;
  w->temp_path_ = w->in_place_ ? w->target_ : w->target_ + ".partial";
  w->columns_ = std::move(columns);
  if (encoding == Encoding::kCp932) {
    UErrorCode err = U_ZERO_ERROR;
    w->cp932_ = ucnv_open("windows-31j", &err);
    if (U_FAILURE(err)) return Status::IoError("ICU has no windows-31j converter");
    ucnv_setFromUCallBack(w->cp932_, UCNV_FROM_U_CALLBACK_STOP, nullptr, nullptr, nullptr, &err);
  }
  if (!w->in_place_) ::unlink(w->temp_path_.c_str());  // one left by a crash keeps its mode
  // (In place: appended, as WriteFileAtomically does.)
  w->file_ = std::fopen(w->temp_path_.c_str(), w->in_place_ ? "ab" : "wb");
  if (!w->file_ || (secret && !w->in_place_ && ::fchmod(fileno(w->file_), 0600) != 0)) {
    return Status::IoError(fmt::format("{}: cannot create: {}", w->path_, std::strerror(errno)));
  }
  if (bom && std::fputs("\xEF\xBB\xBF", w->file_) == EOF) {
    return Status::IoError(fmt::format("{}: cannot write: {}", w->path_, std::strerror(errno)));
  }
  BOSAI_RETURN_IF_ERROR(w->WriteLine(w->columns_));
  return w;
}

CsvWriter::~CsvWriter() {
  if (file_) std::fclose(file_);
  if (!closed_ && !in_place_ && !temp_path_.empty()) std::remove(temp_path_.c_str());
  if (cp932_) ucnv_close(cp932_);
}

Status CsvWriter::Write(const std::vector<std::string>& fields) {
  if (fields.size() != columns_.size()) {
    return Status::Invalid(fmt::format("{} fields for {} columns", fields.size(), columns_.size()));
  }
  return WriteLine(fields);
}

Status CsvWriter::WriteLine(const std::vector<std::string>& fields) {
  line_.clear();
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i) line_ += ',';
    AppendCsvField(line_, fields[i]);
  }
  std::string_view out = line_;
  if (cp932_) {
    line_ += "\r\n";
    auto utf16 = [](std::string_view utf8) {
      std::u16string u(utf8.size() + 1, u'\0');
      UErrorCode err = U_ZERO_ERROR;
      int32_t n = 0;
      u_strFromUTF8(reinterpret_cast<UChar*>(u.data()), int32_t(u.size()), &n, utf8.data(),
                    int32_t(utf8.size()), &err);
      u.resize(U_SUCCESS(err) ? size_t(n) : 0);
      return u;
    };
    // CP932's own form of the characters it holds in another (all in the BMP: one UTF-16 unit).
    auto cp932_forms = [](std::u16string text, std::map<char32_t, uint64_t>* counts) {
      for (char16_t& ch : text) {
        if (char32_t form = Cp932Form(ch)) {
          if (counts) ++(*counts)[ch];
          ch = char16_t(form);
        }
      }
      return text;
    };
    std::map<char32_t, uint64_t> substituted;
    auto bytes = ToCp932(cp932_forms(utf16(line_), &substituted));
    if (bytes) {
      for (const auto& [ch, n] : substituted) substituted_[ch] += n;
    } else {
      // Which field, which character: the first that does not convert alone. A variation
      // selector is invisible: it is named by the character whose glyph it picks.
      for (size_t i = 0; i < fields.size(); ++i) {
        std::string_view before;  // the character before
        for (size_t at = 0; at < fields[i].size();) {
          const size_t start = at;
          const int32_t code_point = NextCodePoint(fields[i], at);
          std::string_view ch = std::string_view(fields[i]).substr(start, at - start);
          if (!ToCp932(cp932_forms(utf16(ch), nullptr))) {
            const bool selector = (code_point >= 0xFE00 && code_point <= 0xFE0F) ||
                                  (code_point >= 0xE0100 && code_point <= 0xE01EF);
            return Status::Invalid(fmt::format(
                "{} \"{}\": {} (U+{:04X}) has no CP932 form", columns_[i], fields[i],
                selector && !before.empty() ? fmt::format("the variation selector after {}", before)
                                            : std::string(ch),
                code_point));
          }
          before = ch;
        }
      }
      return Status::Invalid("the record has no CP932 form");
    }
    bytes_ = std::move(*bytes);
    out = bytes_;
  } else {
    line_ += '\n';
    out = line_;
  }
  if (std::fwrite(out.data(), 1, out.size(), file_) != out.size()) {
    return Status::IoError(fmt::format("{}: cannot write: {}", path_, std::strerror(errno)));
  }
  return Status::Ok();
}

std::vector<Substitution> CsvWriter::substitutions() const {
  std::vector<Substitution> out;
  for (const auto& [ch, n] : substituted_) out.push_back({ch, Cp932Form(ch), n});
  return out;
}

std::optional<std::string> CsvWriter::ToCp932(std::u16string_view text) {
  UErrorCode err = U_ZERO_ERROR;
  std::string bytes(text.size() * 2 + 16, '\0');
  ucnv_resetFromUnicode(cp932_);
  int32_t len =
      ucnv_fromUChars(cp932_, bytes.data(), int32_t(bytes.size()),
                      reinterpret_cast<const UChar*>(text.data()), int32_t(text.size()), &err);
  if (U_FAILURE(err)) return std::nullopt;
  bytes.resize(size_t(len));
  // ICU drops a default-ignorable character it cannot map (U+FEFF, U+200B) without a word: what
  // does not read back the same has no CP932 form either.
  std::u16string back(bytes.size() + 1, u'\0');
  ucnv_resetToUnicode(cp932_);
  int32_t n = ucnv_toUChars(cp932_, reinterpret_cast<UChar*>(back.data()), int32_t(back.size()),
                            bytes.data(), len, &err);
  if (U_FAILURE(err) || std::u16string_view(back.data(), size_t(n)) != text) return std::nullopt;
  return bytes;
}

Status CsvWriter::Close() {
  // Written to the disk before it takes the path: a crash leaves the old file or the new one.
  bool ok = std::fflush(file_) == 0 && SyncOutput(fileno(file_));
  ok = std::fclose(file_) == 0 && ok;
  file_ = nullptr;
  if (!ok || (!in_place_ && std::rename(temp_path_.c_str(), target_.c_str()) != 0)) {
    return Status::IoError(fmt::format("{}: cannot write: {}", path_, std::strerror(errno)));
  }
  closed_ = true;
  if (in_place_) return Status::Ok();
  return SyncDirectory(std::filesystem::path(target_).parent_path());
}

}  // namespace bosai::node
