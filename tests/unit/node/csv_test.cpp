// CSV reader: quoting, line numbers of records, BOM, CRLF, CP932, UTF-16 and tabs as Excel
// saves "Unicode text", and malformed input.
#include "node/csv.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <tuple>

namespace bosai::node {
namespace {

class CsvTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& bytes) {
    auto path = std::filesystem::temp_directory_path() /
                ("bosai-csv-" + std::to_string(getpid()) + "-" + std::to_string(n_++) + ".csv");
    std::ofstream(path, std::ios::binary) << bytes;
    paths_.push_back(path);
    return path.string();
  }
  ~CsvTest() override {
    for (auto& p : paths_) std::filesystem::remove(p);
  }
  std::vector<CsvRecord> ReadAll(const std::string& path, Encoding enc = Encoding::kAuto,
                                 Status* error = nullptr) {
    std::vector<CsvRecord> out;
    auto r = CsvReader::Open(path, enc);
    if (!r.ok()) {
      if (error) *error = r.status();
      return out;
    }
    CsvRecord rec;
    while (true) {
      auto more = (*r)->Next(&rec);
      if (!more.ok()) {
        if (error) *error = more.status();
        break;
      }
      if (!*more) break;
      out.push_back(rec);
    }
    return out;
  }
  int n_ = 0;
  std::vector<std::filesystem::path> paths_;
};

TEST_F(CsvTest, QuotedFieldsAndPhysicalLines) {
  auto recs = ReadAll(Write("a,b,c\n1,\"x, y\",\"say \"\"hi\"\"\"\n2,\"two\nlines\",z\n3,,\n"));
  ASSERT_EQ(recs.size(), 4u);
  EXPECT_EQ(recs[1].fields[1], "x, y");
  EXPECT_EQ(recs[1].fields[2], "say \"hi\"");
  EXPECT_EQ(recs[2].fields[1], "two\nlines");
  EXPECT_EQ(recs[2].line, 3u);
  EXPECT_EQ(recs[3].line, 5u);  // after the two-line record
  EXPECT_EQ(recs[3].fields.size(), 3u);
}

TEST_F(CsvTest, BomCrlfAndBlankLines) {
  auto recs = ReadAll(Write("\xEF\xBB\xBFname,age\r\n佐藤,1\r\n\r\n鈴木,2\r\n"));
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_EQ(recs[0].fields[0], "name");
  EXPECT_EQ(recs[1].fields[0], "佐藤");
  EXPECT_EQ(recs[2].fields[0], "鈴木");
  EXPECT_EQ(recs[2].line, 4u);
}

TEST_F(CsvTest, Cp932IsDecodedWithMicrosoftsMapping) {
  // 佐藤,髙橋,～ in CP932 (髙 is an IBM extension; ～ is 0x8160 → U+FF5E in Microsoft's table).
  std::string cp932 = "\x8d\xb2\x93\xa1,\xfb\xfc\x8b\xb4,\x81\x60\n";
  auto recs = ReadAll(Write(cp932));
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].fields[0], "佐藤");
  EXPECT_EQ(recs[0].fields[1], "髙橋");
  EXPECT_EQ(recs[0].fields[2], "～");
}

TEST_F(CsvTest, MalformedInputIsReportedWithItsLine) {
  Status err;
  ReadAll(Write("a,b\n1,\"open\n2,3\n"), Encoding::kAuto, &err);
  EXPECT_FALSE(err.ok());
  EXPECT_NE(err.message().find(":2:"), std::string::npos) << err.message();

  // A quote out of place: at its line and field, with what is wrong.
  err = Status::Ok();
  std::string path = Write("a,b\n1,x\"y\n");
  ReadAll(path, Encoding::kAuto, &err);
  EXPECT_EQ(err.message(),
            path +
                ":2:2: a quote inside a field that is not quoted; a quote in a field "
                "needs the whole field in quotes, the quote doubled (\"山\"\"田\")");
  err = Status::Ok();
  path = Write("a,b,c\n1,\"two\nlines\" ,3\n4,\"x\"y,5\n");
  ReadAll(path, Encoding::kAuto, &err);
  EXPECT_EQ(err.message().substr(0, err.message().find(';')),
            path + ":4:2: text after the quote that closes a quoted field");

  err = Status::Ok();
  ReadAll(Write("a,b\n1,2\n\xff\xfe,3\n"), Encoding::kUtf8, &err);
  EXPECT_FALSE(err.ok());
  EXPECT_NE(err.message().find(":3:"), std::string::npos) << err.message();
}

TEST_F(CsvTest, AutoEncodingIsDecidedByTheFirstJapaneseText) {
  // CP932 text after 2 MiB of ASCII rows: the whole prefix is read before deciding.
  std::string ascii = "a,b\n";
  while (ascii.size() < (2u << 20)) ascii += "12345,abcdefghij\n";
  const size_t ascii_rows = std::count(ascii.begin(), ascii.end(), '\n');
  auto r = CsvReader::Open(Write(ascii + "\x8E\x52\x89\xBA,x\n"), Encoding::kAuto);  // 山下
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)->encoding(), Encoding::kCp932);
  auto recs = ReadAll(Write(ascii + "\x8E\x52\x89\xBA,x\n"));
  ASSERT_EQ(recs.size(), ascii_rows + 1);
  EXPECT_EQ(recs.back().fields[0], "山下");

  // A UTF-8 register that turns invalid after its first rows is refused at that line, not read
  // as CP932.
  std::string utf8 = "a,b\n";
  while (utf8.size() < (128u << 10)) utf8 += "宮城県石巻市中里5丁目,ヤマシタ\n";
  const size_t utf8_rows = std::count(utf8.begin(), utf8.end(), '\n');
  std::string mixed = Write(utf8 + "\x8E\x52\x89\xBA,x\n");
  r = CsvReader::Open(mixed, Encoding::kAuto);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)->encoding(), Encoding::kUtf8);
  Status err;
  ReadAll(mixed, Encoding::kAuto, &err);
  EXPECT_NE(err.message().find(fmt::format(":{}:1: byte 0x8E is not UTF-8 text", utf8_rows + 1)),
            std::string::npos)
      << err.message();

  // So is a short one, damaged after a few rows of Japanese text: its record and field are
  // named, as a validation error names them.
  std::string damaged = "a,b,c\n1,宮城県石巻市中里,ヤマシタ\n2,宮城県石巻市,\"ヤマ\nシタ\xff\"\n";
  r = CsvReader::Open(Write(damaged), Encoding::kAuto);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)->encoding(), Encoding::kUtf8);
  err = Status::Ok();
  ReadAll(Write(damaged), Encoding::kAuto, &err);
  EXPECT_NE(err.message().find(":3:3: byte 0xFF is not UTF-8 text (try --encoding cp932)"),
            std::string::npos)
      << err.message();
}

TEST_F(CsvTest, BytesThatAreNotCp932AreNamedWithTheirRecordAndField) {
  // 山下 in CP932, then 0x85 0x40, which CP932 does not assign, in the third field of line 3.
  std::string text = "a,b,c\n1,\x8E\x52\x89\xBA,x\n2,y,\x8E\x52\x85\x40\n";
  Status err;
  ReadAll(Write(text), Encoding::kCp932, &err);
  EXPECT_NE(err.message().find(":3:3: bytes 0x85 0x40 are not CP932 text (try --encoding utf-8)"),
            std::string::npos)
      << err.message();
}

// UTF-8 text as UTF-16 bytes (ICU's own converter), little- or big-endian, after a byte order mark.
std::string Utf16(const std::string& utf8, bool big_endian = false) {
  std::string out(utf8.size() * 4 + 16, '\0');
  UErrorCode err = U_ZERO_ERROR;
  int32_t n = ucnv_convert(big_endian ? "UTF-16BE" : "UTF-16LE", "UTF-8", out.data(),
                           int32_t(out.size()), utf8.data(), int32_t(utf8.size()), &err);
  EXPECT_TRUE(U_SUCCESS(err));
  out.resize(size_t(n));
  return (big_endian ? std::string("\xFE\xFF") : std::string("\xFF\xFE")) + out;
}

// What Excel saves as "Unicode text": UTF-16 with a byte order mark, tab-separated, CRLF; a
// field with a tab or a line break inside is quoted.
TEST_F(CsvTest, Utf16WithAByteOrderMarkAndTabsIsReadAsExcelSavesIt) {
  const std::string text =
      "氏名\tふりがな\t住所\r\n𠮷田 太郎\tヨシダ タロウ\t\"石巻市\t穀町\r\n1-1\"\r\n"
      "髙橋 花子\tタカハシ ハナコ\t\"a,b\"\r\n";
  for (bool big_endian : {false, true}) {
    Status err;
    auto r = CsvReader::Open(Write(Utf16(text, big_endian)), Encoding::kAuto);
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ((*r)->encoding(), Encoding::kUtf16);
    std::vector<CsvRecord> recs;
    CsvRecord rec;
    while (true) {
      auto more = (*r)->Next(&rec);
      ASSERT_TRUE(more.ok()) << more.status().message();
      if (!*more) break;
      recs.push_back(rec);
    }
    EXPECT_EQ((*r)->delimiter(), '\t');
    ASSERT_EQ(recs.size(), 3u) << big_endian;
    EXPECT_EQ(recs[0].fields, (std::vector<std::string>{"氏名", "ふりがな", "住所"}));
    EXPECT_EQ(recs[1].fields,
              (std::vector<std::string>{"𠮷田 太郎", "ヨシダ タロウ", "石巻市\t穀町\r\n1-1"}));
    EXPECT_EQ(recs[1].line, 2u);
    EXPECT_EQ(recs[2].line, 4u);
    EXPECT_EQ(recs[2].fields[2], "a,b");
  }
  // --encoding utf-16 without a byte order mark: little-endian, as Windows writes it.
  auto recs = ReadAll(Write(Utf16("a\tb\r\n山\t川\r\n").substr(2)), Encoding::kUtf16);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[1].fields, (std::vector<std::string>{"山", "川"}));
}

TEST_F(CsvTest, AUtf16CharacterSplitBetweenReadsIsWhole) {
  // 𠮷 is a surrogate pair; place one across the reader's 1 MiB reads.
  constexpr size_t kChunk = 1 << 20;
  const size_t before = (kChunk - 2 - 2) / 2 - 2;  // characters before it, after "a\n"
  std::string utf8 = "a\n";
  for (size_t i = 0; i < before / 100; ++i) utf8 += std::string(99, 'x') + "\n";
  utf8 += std::string(before % 100, 'x') + "𠮷\n";
  std::string bytes = Utf16(utf8);
  ASSERT_EQ(bytes.substr(kChunk - 2, 4), Utf16("𠮷").substr(2));
  auto recs = ReadAll(Write(bytes));
  ASSERT_EQ(recs.size(), 2 + before / 100);
  EXPECT_EQ(recs.back().fields[0], std::string(before % 100, 'x') + "𠮷");
}

TEST_F(CsvTest, TextThatIsNotUtf16OrHasNulBytesIsNamedWithItsRecordAndField) {
  // A high surrogate (0xD842) without its low half, in the second field of line 3.
  std::string bytes = Utf16("a\tb\n1\t2\n3\t") + std::string("\x42\xD8\x34\x00\n\x00", 6);
  Status err;
  ReadAll(Write(bytes), Encoding::kAuto, &err);
  EXPECT_NE(err.message().find(":3:2: bytes 0x42 0xD8 are not UTF-16 text"), std::string::npos)
      << err.message();
  // UTF-16 without its byte order mark, read as UTF-8: NUL bytes are named, with a hint.
  ReadAll(Write(Utf16("a,b\n1,2\n").substr(2)), Encoding::kAuto, &err);
  EXPECT_NE(err.message().find(":1:1: byte 0x00 is not text (UTF-16 without a byte order mark? "
                               "try --encoding utf-16)"),
            std::string::npos)
      << err.message();
}

TEST_F(CsvTest, ALineWithCommasIsSplitAtCommasWhateverTabsItHas) {
  auto recs = ReadAll(Write("a,b\tc\n1,2\t3\n"));
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[1].fields, (std::vector<std::string>{"1", "2\t3"}));
}

// A workbook given where its CSV was meant, or another binary file, is named for what it is, in
// any encoding asked for, rather than refused at its first byte that is not text.
TEST_F(CsvTest, AWorkbookIsNamedNotReadAsText) {
  const std::string tail(64, '\x05');
  const std::vector<std::pair<std::string, std::string>> files = {
      {"PK\x03\x04\x14\x00\x06\x00" + tail,
       "this is a ZIP archive (an Excel .xlsx or a LibreOffice .ods workbook?), not CSV text: save "
       "the sheet as CSV (in Excel: 名前を付けて保存, CSV UTF-8 (コンマ区切り))"},
      {"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1" + tail,
       "this is an Excel 97-2003 workbook (.xls), not CSV text: save the sheet as CSV (in Excel: "
       "名前を付けて保存, CSV UTF-8 (コンマ区切り))"},
      {"%PDF-1.7\n" + tail, "this is a PDF document, not CSV text"},
      {std::string("SQLite format 3\0", 16) + tail, "this is an SQLite database, not CSV text"}};
  for (const auto& [bytes, reason] : files) {
    const std::string path = Write(bytes);
    for (Encoding e : {Encoding::kAuto, Encoding::kUtf8, Encoding::kCp932}) {
      auto r = CsvReader::Open(path, e);
      ASSERT_FALSE(r.ok()) << reason;
      EXPECT_EQ(r.status().message(), path + ": " + reason);
    }
  }
  // Text that begins with the same letters is text.
  auto recs = ReadAll(Write("PK,name\n1,a\n"));
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].fields, (std::vector<std::string>{"PK", "name"}));
}

// What CsvWriter writes, CsvReader reads back the same, in UTF-8 and in CP932: quotes, commas,
// line breaks, spaces at either end (which the reader trims from unquoted fields), tabs, empty
// fields. A character CP932 cannot hold, or would drop without a word (U+FEFF), is an error that
// names the column and the character, and no file is left.
TEST_F(CsvTest, WhatTheWriterWritesTheReaderReadsBack) {
  const std::vector<std::string> fields = {" lead",   "trail ", "a,b", "say \"hi\"", "two\r\nlines",
                                           "tab\tin", "",       "\t",  "　全角　",   "髙﨑①"};
  std::vector<std::string> columns;
  for (size_t i = 0; i < fields.size(); ++i) columns.push_back(fmt::format("c{}", i));
  for (Encoding e : {Encoding::kUtf8, Encoding::kCp932}) {
    const std::string path = Write("");
    auto w = CsvWriter::Create(path, e, columns);
    ASSERT_TRUE(w.ok()) << w.status().message();
    ASSERT_TRUE((*w)->Write(fields).ok());
    ASSERT_TRUE((*w)->Write(std::vector<std::string>(fields.rbegin(), fields.rend())).ok());
    ASSERT_TRUE((*w)->Close().ok());
    Status err;
    auto recs = ReadAll(path, e, &err);
    ASSERT_TRUE(err.ok()) << err.message();
    ASSERT_EQ(recs.size(), 3u) << EncodingName(e);
    EXPECT_EQ(recs[0].fields, columns);
    EXPECT_EQ(recs[1].fields, fields) << EncodingName(e);
    EXPECT_EQ(recs[2].fields, std::vector<std::string>(fields.rbegin(), fields.rend()));
  }
  // The field, and its character CP932 has not; a variation selector (invisible) by the
  // character whose glyph it picks.
  for (const auto& [bad, why] : std::vector<std::pair<std::string, std::string>>{
           {"a\uFEFFb", "\uFEFF (U+FEFF)"},
           {"𠮷", "𠮷 (U+20BB7)"},
           {"葛\U000E0100城", "the variation selector after 葛 (U+E0100)"},
           {"\uFE00", "\uFE00 (U+FE00)"}}) {
    const std::string path = Write("") + ".sjis";
    auto w = CsvWriter::Create(path, Encoding::kCp932, {"name", "kana"});
    ASSERT_TRUE(w.ok());
    Status st = (*w)->Write({"ok", bad});
    EXPECT_EQ(st.message(), fmt::format("kana \"{}\": {} has no CP932 form", bad, why));
    w->reset();
    EXPECT_FALSE(std::filesystem::exists(path));
    EXPECT_FALSE(std::filesystem::exists(path + ".partial"));
  }
  // UTF-8 after a byte order mark, as Excel reads UTF-8: the reader skips it.
  const std::string path = Write("");
  auto w = CsvWriter::Create(path, Encoding::kUtf8, {"name"}, /*bom=*/true);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Write({"𠮷田"}).ok());
  ASSERT_TRUE((*w)->Close().ok());
  std::ifstream in(path, std::ios::binary);
  EXPECT_EQ(std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()),
            "\xEF\xBB\xBFname\n𠮷田\n");
  auto recs = ReadAll(path);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].fields, std::vector<std::string>{"name"});
  EXPECT_FALSE(CsvWriter::Create(path, Encoding::kCp932, {"name"}, /*bom=*/true).ok());
}

// A file that cannot be created is named as it was asked for, not by the temporary file the
// writer fills before it takes the name.
TEST_F(CsvTest, AFileThatCannotBeCreatedIsNamedAsAskedFor) {
  const std::string path =
      (std::filesystem::path(Write("")).parent_path() / "no-such-dir" / "rejects.csv").string();
  auto w = CsvWriter::Create(path, Encoding::kUtf8, {"name"});
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().message(), path + ": cannot create: No such file or directory");
}

// Random records, each wider or narrower, longer or shorter than the one before it, with quotes,
// commas, line breaks and multi-byte text, come back exactly as written, across the reader's
// reads of the file (more than one chunk): nothing of one record is left in the next.
TEST_F(CsvTest, RecordsOfEveryWidthAndLengthComeBackAsWritten) {
  std::mt19937 rng(7);
  const std::vector<std::string> pieces = {"a", "0", " ", ",", "\"", "\n", "全", "ｶ", "𠮷", "　"};
  std::vector<std::vector<std::string>> written;
  std::string bytes;
  while (bytes.size() < (3u << 20)) {
    std::vector<std::string> record(1 + rng() % 20);
    for (std::string& field : record) {
      const size_t n = rng() % 4 == 0 ? rng() % 300 : rng() % 12;
      for (size_t i = 0; i < n; ++i) field += pieces[rng() % pieces.size()];
    }
    if (record.size() == 1 && record[0].empty()) record[0] = "x";  // a blank line is no record
    for (size_t i = 0; i < record.size(); ++i) {
      if (i > 0) bytes += ',';
      AppendCsvField(bytes, record[i]);
    }
    bytes += '\n';
    written.push_back(std::move(record));
  }
  Status err;
  auto read = ReadAll(Write(bytes), Encoding::kUtf8, &err);
  ASSERT_TRUE(err.ok()) << err.message();
  ASSERT_EQ(read.size(), written.size());
  for (size_t i = 0; i < written.size(); ++i) {
    ASSERT_EQ(read[i].fields, written[i]) << "record " << i;
  }
}

// The seven characters whose JIS X 0208 form (as a register converted on Unix holds them) is not
// CP932's are written in CP932's form, the bytes Windows shows as the same character, and
// counted; UTF-8 keeps them as they are. CP932's own forms are written unchanged, uncounted.
TEST_F(CsvTest, ACp932FileHoldsCp932sFormOfTheWaveDashAndItsKin) {
  const std::string jis = "1〜2−‖—¢£¬〜";
  const std::string windows = "1～2－∥―￠￡￢～";
  for (Encoding e : {Encoding::kUtf8, Encoding::kCp932}) {
    const std::string path = Write("");
    auto w = CsvWriter::Create(path, e, {"address", "note"});
    ASSERT_TRUE(w.ok()) << w.status().message();
    ASSERT_TRUE((*w)->Write({jis, windows}).ok());
    ASSERT_TRUE((*w)->Close().ok());
    Status err;
    auto recs = ReadAll(path, e, &err);
    ASSERT_TRUE(err.ok()) << err.message();
    ASSERT_EQ(recs.size(), 2u);
    if (e == Encoding::kUtf8) {
      EXPECT_EQ(recs[1].fields, (std::vector<std::string>{jis, windows}));
      EXPECT_TRUE((*w)->substitutions().empty());
      continue;
    }
    EXPECT_EQ(recs[1].fields, (std::vector<std::string>{windows, windows}));
    std::ifstream in(path, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::string sjis =
        "1\x81\x60"
        "2\x81\x7C\x81\x61\x81\x5C\x81\x91\x81\x92\x81\xCA\x81\x60";
    EXPECT_EQ(bytes, "address,note\r\n" + sjis + "," + sjis + "\r\n");
    std::vector<std::tuple<char32_t, char32_t, uint64_t>> counted;
    for (const Substitution& s : (*w)->substitutions()) counted.emplace_back(s.from, s.to, s.count);
    EXPECT_EQ(counted,
              (std::vector<std::tuple<char32_t, char32_t, uint64_t>>{{0xA2, 0xFFE0, 1},
                                                                     {0xA3, 0xFFE1, 1},
                                                                     {0xAC, 0xFFE2, 1},
                                                                     {0x2014, 0x2015, 1},
                                                                     {0x2016, 0x2225, 1},
                                                                     {0x2212, 0xFF0D, 1},
                                                                     {0x301C, 0xFF5E, 2}}));
  }
  EXPECT_EQ(Cp932Form(U'\uFF5E'), 0u);
  EXPECT_EQ(Cp932Form(U'a'), 0u);
}

// A record longer than kMaxRecordBytes is refused at the line it starts on: one of many lines (an
// unterminated quote), or one line with no end, refused before the file is read through (it is
// not held whole in memory).
TEST_F(CsvTest, OverlongRecordIsRefused) {
  for (std::string big : {"a\nb\n\"" + std::string(CsvReader::kMaxRecordBytes + 10, 'x') + "\"\n",
                          "a\nb\n\"" + std::string(8 * 1024, 'x') + "\n" +
                              std::string(CsvReader::kMaxRecordBytes, 'y') + "\n\"\n",
                          "a\nb\n" + std::string(16 << 20, 'z')}) {
    const std::string path = Write(big);
    auto r = CsvReader::Open(path, Encoding::kUtf8);
    ASSERT_TRUE(r.ok());
    CsvRecord rec;
    Status err;
    while (true) {
      auto more = (*r)->Next(&rec);
      if (!more.ok()) err = more.status();
      if (!more.ok() || !*more) break;
    }
    EXPECT_EQ(err.message(), path + ":3: record longer than 65536 bytes (an unterminated quote?)");
    EXPECT_LT((*r)->bytes_read(), uint64_t(4 << 20)) << "read through";
  }
}

}  // namespace
}  // namespace bosai::node
