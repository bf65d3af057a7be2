// libFuzzer target: what a register file brings in (DESIGN §8) must never crash, read out of
// bounds or grow without bound, whatever its bytes: the CSV reader in every encoding, and the
// date, text, kana and field rules its fields go through. And what an export writes, the reader
// reads back: any text as a field, written in UTF-8 or (when it can be) CP932, is read back the
// same.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "node/csv.h"
#include "node/dates.h"
#include "node/records.h"
#include "node/text.h"
#include "storage/ids.h"

namespace {

// The input as a file, since the reader reads files: one per process, rewritten each run.
const std::string& InputPath() {
  static const std::string path = [] {
    const char* dir = std::getenv("TMPDIR");
    return std::string(dir && *dir ? dir : "/tmp") + "/bosai-register-fuzz-" +
           std::to_string(getpid()) + ".csv";
  }();
  return path;
}

void ReadAll(bosai::node::Encoding encoding) {
  using bosai::node::CsvReader;
  auto reader = CsvReader::Open(InputPath(), encoding);
  if (!reader.ok()) return;
  bosai::node::CsvRecord rec;
  size_t last_line = 0;
  for (int n = 0; n < 100000; ++n) {
    auto more = (*reader)->Next(&rec);
    if (!more.ok() || !*more) return;
    if (rec.line < last_line || rec.line == 0) __builtin_trap();  // lines only go forward
    last_line = rec.line;
    size_t bytes = 0;
    for (const std::string& f : rec.fields) {
      bytes += f.size();
      if (!bosai::node::IsValidUtf8(f)) __builtin_trap();  // fields are decoded text
    }
    if (bytes > CsvReader::kMaxRecordBytes) __builtin_trap();
  }
}

// TEXT as the one field of a record, written by CsvWriter in ENCODING and read back by CsvReader,
// is TEXT (unless CP932 cannot hold it), with CP932's form of the characters it holds in another
// (and the writer counts each of those).
void RoundTrip(std::string_view text, bosai::node::Encoding encoding) {
  using namespace bosai::node;
  const std::string path = InputPath() + ".out";
  std::string expected;
  uint64_t forms = 0;
  for (size_t i = 0; i < text.size();) {
    const int32_t ch = NextCodePoint(text, i);
    const char32_t form = encoding == Encoding::kCp932 ? Cp932Form(char32_t(ch)) : 0;
    forms += form != 0;
    AppendUtf8(expected, form ? int32_t(form) : ch);
  }
  {
    auto writer = CsvWriter::Create(path, encoding, {"a", "b"});
    if (!writer.ok()) return;
    if (!(*writer)->Write({std::string(text), "z"}).ok()) return;  // no CP932 form
    if (!(*writer)->Close().ok()) return;
    uint64_t counted = 0;
    for (const Substitution& s : (*writer)->substitutions()) counted += s.count;
    if (counted != forms) __builtin_trap();
  }
  auto reader = CsvReader::Open(path, encoding);
  if (!reader.ok()) __builtin_trap();
  CsvRecord rec;
  auto header = (*reader)->Next(&rec);
  if (!header.ok() || !*header) __builtin_trap();
  auto more = (*reader)->Next(&rec);
  if (!more.ok() || !*more || rec.fields.size() != 2 || rec.fields[0] != expected ||
      rec.fields[1] != "z") {
    __builtin_trap();
  }
  std::remove(path.c_str());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace bosai::node;
  std::string_view input(reinterpret_cast<const char*>(data), size);

  // A field's text: dates (ISO and 和暦) and the text code a valid field goes through.
  auto date = ParseDate(input);
  if (date.ok()) {
    auto again = ParseDate(FormatDate(*date));  // what it prints, it reads back the same
    if (!again.ok() || *again != *date) __builtin_trap();
  }
  // A register code packs exactly when it is valid, and packs to its own text; of two codes
  // (the input's halves), the packed order is the texts'.
  auto packed = bosai::PackedCode::Of(input);
  if (packed.has_value() != bosai::ValidateRegisterCode(input, "code").ok()) __builtin_trap();
  if (packed && packed->Text() != input) __builtin_trap();
  {
    auto a = bosai::PackedCode::Of(input.substr(0, size / 2));
    auto b = bosai::PackedCode::Of(input.substr(size / 2));
    if (a && b && (*a < *b) != (input.substr(0, size / 2) < input.substr(size / 2))) {
      __builtin_trap();
    }
  }
  if (IsValidUtf8(input)) {
    (void)Nfc(input);
    // A reading's index form: a prefix code, so a text and its first half keep their relation.
    const std::string folded = SearchFold(input);
    const std::string form = KanaIndexForm(folded);
    size_t half = folded.size() / 2;
    while (half > 0 && (uint8_t(folded[half]) & 0xC0) == 0x80) --half;  // a character's start
    if (!form.starts_with(KanaIndexForm(folded.substr(0, half)))) __builtin_trap();
    (void)NarrowNumber(input);
    // A reading as stored: valid text, no longer, kana when it was, stored again unchanged, and
    // found by the text it was stored from.
    const std::string wide = WideKatakana(std::string(input));
    if (!IsValidUtf8(wide) || wide.size() > input.size() || IsKanaText(wide) != IsKanaText(input) ||
        WideKatakana(wide) != wide || SearchFold(wide) != folded) {
      __builtin_trap();
    }
    // A field without its padding: a part of it, valid text, with no blank at either end, and
    // empty exactly when the field is blank.
    const std::string_view trimmed = TrimBlank(input);
    if (trimmed.data() < input.data() || trimmed.data() + trimmed.size() > input.data() + size ||
        !IsValidUtf8(trimmed) || TrimBlank(trimmed) != trimmed ||
        IsBlank(input) != trimmed.empty()) {
      __builtin_trap();
    }
    (void)HasPrivateUse(input);
    (void)ParsePostalCode(input);
    (void)ParsePhone(input);
    (void)ParseMyNumberDigits(input);
    (void)ParseSex(input);
    (void)ParseResidentStatus(input);
    // Text the reader takes (no NUL, within a record's bound) comes back from a file written.
    if (input.find('\0') == std::string_view::npos && size < 8192) {
      RoundTrip(input, Encoding::kUtf8);
      RoundTrip(input, Encoding::kCp932);
    }
  } else if (ValidUtf8Prefix(input) >= size) {
    __builtin_trap();  // invalid text has an invalid byte within it
  }

  // The whole input as a register file, read as each encoding.
  std::FILE* f = std::fopen(InputPath().c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  for (Encoding e : {Encoding::kAuto, Encoding::kUtf8, Encoding::kCp932, Encoding::kUtf16}) {
    ReadAll(e);
  }
  std::remove(InputPath().c_str());
  return 0;
}
