// Streaming CSV reader for register files (DESIGN §8): RFC 4180 quoting through libcsv, UTF-8
// with or without BOM, CP932 (Microsoft's mapping, via ICU) or UTF-16 (as Excel's "Unicode
// text" saves it: a byte order mark, little-endian, tab-separated), CRLF or LF. Fields are
// separated by commas, or by tabs when the first line has tabs and no comma. Each record carries
// the physical line on which it starts. Memory stays bounded whatever the file size: a record
// may not exceed kMaxRecordBytes. Not thread-safe.
#pragma once

#include <csv.h>
#include <unicode/ucnv.h>

#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "storage/status.h"

namespace bosai::node {

enum class Encoding { kAuto, kUtf8, kCp932, kUtf16 };
Result<Encoding> ParseEncoding(std::string_view name);
const char* EncodingName(Encoding e);

struct CsvRecord {
  size_t line = 0;  // physical line where the record starts (1-based)
  std::vector<std::string> fields;
};

// Appends V to OUT as a CSV field (RFC 4180): quoted when it holds a comma, a quote or a line
// break, or begins or ends with a space or a tab; its quotes doubled.
void AppendCsvField(std::string& out, std::string_view v);

// Writes a CSV file (RFC 4180, fields quoted as AppendCsvField quotes them) in UTF-8 with LF line
// ends, or in CP932 (Microsoft's mapping) with CRLF line ends, as Excel on Windows reads a CSV
// file. What it writes, CsvReader reads back the same, but for the characters CP932 holds in
// another form than the text (Cp932Form): those are written in that form and counted. The file is
// written beside its path and appears there, whole, only when Close() succeeds. Not
// thread-safe.
// The character CP932 holds in place of CH, or 0. Seven characters have one form in JIS X 0208,
// as text converted on Unix holds them (〜 U+301C, − U+2212, ‖ U+2016, — U+2014, ¢, £, ¬), and
// another in Microsoft's CP932, as Windows reads and writes them (～ U+FF5E, － U+FF0D, ∥ U+2225,
// ― U+2015, ￠, ￡, ￢): the same bytes, different code points (the "wave dash" problem).
char32_t Cp932Form(char32_t ch);

// CP932's form written for a character, and how often.
struct Substitution {
  char32_t from = 0, to = 0;
  uint64_t count = 0;
};

class CsvWriter {
 public:
  // Starts the file with the header row COLUMNS, after a byte order mark when `bom` (UTF-8
  // only: Excel reads a UTF-8 file as such only with one). A `secret` file (one that may hold My
  // Numbers in full) is readable by its owner alone (mode 0600), whatever the umask.
  static Result<std::unique_ptr<CsvWriter>> Create(const std::string& path, Encoding encoding,
                                                   std::vector<std::string> columns,
                                                   bool bom = false, bool secret = false);
  ~CsvWriter();  // without a Close() that succeeded, removes what it wrote
  // One record, a field for each column. A field CP932 cannot hold is an error that names its
  // column and its first such character, and writes nothing.
  Status Write(const std::vector<std::string>& fields);
  // A record as a file had it, with more or fewer fields than columns (a rejected row).
  Status WriteAsRead(const std::vector<std::string>& fields) { return WriteLine(fields); }
  Status Close();
  // Whether the records go straight to the file (a terminal, a pipe), so that those written
  // before an error are there; else the file appears whole at Close() or not at all.
  bool in_place() const { return in_place_; }
  // The characters written in CP932's form (Cp932Form), by code point.
  std::vector<Substitution> substitutions() const;

 private:
  CsvWriter() = default;
  Status WriteLine(const std::vector<std::string>& fields);
  // TEXT in CP932, or nullopt when CP932 cannot hold all of it, read back the same.
  std::optional<std::string> ToCp932(std::u16string_view text);

  std::string path_;       // as given
  std::string target_;     // the file replaced (ResolveOutput): path_, or what its link names
  std::string temp_path_;  // written, then renamed to target_; path_ itself when in_place_
  bool in_place_ = false;  // path_ is no regular file (a terminal, a pipe, /dev/stdout)
  std::vector<std::string> columns_;
  std::FILE* file_ = nullptr;
  UConverter* cp932_ = nullptr;               // when the file is CP932
  std::string line_;                          // the record being written, UTF-8
  std::string bytes_;                         // the record in CP932
  std::map<char32_t, uint64_t> substituted_;  // Cp932Form's characters written, by code point
  bool closed_ = false;
};

class CsvReader {
 public:
  static constexpr size_t kMaxRecordBytes = 64 * 1024;

  // NAME is what errors call the file (PATH when empty): "standard input" for a spooled copy.
  static Result<std::unique_ptr<CsvReader>> Open(const std::string& path, Encoding encoding,
                                                 const std::string& name = "");
  ~CsvReader();

  // Reads the next record into *out. Returns false at the end of the file.
  Result<bool> Next(CsvRecord* out);

  Encoding encoding() const { return encoding_; }
  char delimiter() const { return delimiter_; }  // ',' or '\t', decided by the first line
  uint64_t bytes_read() const { return bytes_read_; }
  uint64_t file_size() const { return file_size_; }
  bool has_bom() const { return bom_ > 0; }  // the file begins with a byte order mark

 private:
  CsvReader() = default;
  Status Fill();  // reads, decodes and parses the next chunk
  Status FeedText(std::string_view utf8);
  Status FeedLine(std::string_view line);
  Status TooLong(size_t record_start) const;  // a record past kMaxRecordBytes
  // The error for bytes that are not text in the file's encoding, after the DECODED text.
  Status BadText(std::string_view decoded, std::string_view reason);

  static void OnField(void* data, size_t len, void* self);
  static void OnRecord(int terminator, void* self);

  // constant after Open
  std::string path_;
  Encoding encoding_ = Encoding::kUtf8;
  uint64_t file_size_ = 0;

  std::FILE* file_ = nullptr;
  UConverter* source_ = nullptr;  // the file's encoding to UTF-16, when it is not UTF-8
  UConverter* utf8_ = nullptr;
  size_t bom_ = 0;  // bytes of byte order mark at the start of the file
  char delimiter_ = ',';
  csv_parser parser_{};
  bool parser_ready_ = false;
  bool eof_ = false;
  bool first_chunk_ = true;
  uint64_t bytes_read_ = 0;
  std::string partial_line_;  // decoded text after the last newline
  std::string carry_;         // undecoded bytes of a split multi-byte character
  size_t line_ = 0;           // lines fed so far
  size_t record_start_ = 0;
  size_t record_bytes_ = 0;
  CsvRecord current_;
  std::deque<CsvRecord> ready_;
};

}  // namespace bosai::node
