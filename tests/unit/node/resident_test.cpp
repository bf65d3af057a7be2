// Resident import on a real data dir: validation with FILE:LINE:COLUMN, Japanese headers,
// three-way re-import, partial files, My Number uniqueness and search.
#include "node/resident.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "node/enroll.h"
#include "node/gen.h"
#include "node/records.h"
#include "node/replication.h"
#include "node/text.h"
#include "storage/ids.h"
#include "tests/common/fresh_dir.h"
#include "tests/common/full_disk.h"

namespace bosai::node {
namespace {

namespace fs = std::filesystem;

class ResidentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::FreshDir(std::string("bosai-res-") +
                             ::testing::UnitTest::GetInstance()->current_test_info()->name() + "-");
    InitOptions o;
    o.data_dir = (dir_ / "data").string();
    o.node_id = "042021-honcho";
    o.municipality = "042021";
    auto n = Node::Init(o);
    ASSERT_TRUE(n.ok()) << n.status().message();
    node_ = std::move(n).value();
  }
  void TearDown() override {
    node_.reset();
    fs::remove_all(dir_);
  }
  // A node NODE_ID in a data dir named DIR, enrolled under the root of dir_/root (made once).
  std::unique_ptr<Node> NodeUnderRoot(const std::string& dir, const std::string& node_id) {
    const std::string root = (dir_ / "root").string();
    if (!fs::exists(root)) {
      EXPECT_TRUE(CreateRootDir("042021", root).ok());
    }
    InitOptions io;
    io.data_dir = (dir_ / dir).string();
    io.node_id = node_id;
    io.municipality = "042021";
    io.root_key = root + "/root.key";
    auto made = Node::Init(io);
    EXPECT_TRUE(made.ok()) << made.status().message();
    return made.ok() ? std::move(made).value() : nullptr;
  }
  // Sends TO what FROM holds and TO lacks, as a bundle; none held for its clock.
  void Send(Node& from, Node& to) {
    const std::string vector = (dir_ / "to.vec").string(), bundle = (dir_ / "b.bundle").string();
    ASSERT_TRUE(WriteVectorFile(to, vector).ok());
    auto exported = ExportFor(from, "", vector, bundle);
    ASSERT_TRUE(exported.ok()) << exported.status().message();
    auto imported = ImportFile(to, bundle);
    ASSERT_TRUE(imported.ok()) << imported.status().message();
    ASSERT_EQ(imported->held, 0u);
  }
  // A town hall (042021-honcho) and a shelter (042021-shelter) under one root, both holding the
  // register at PATH, imported at the hall and sent to the shelter; nulls when that fails.
  struct HallAndShelter {
    std::unique_ptr<Node> hall, shelter;
  };
  HallAndShelter TwoNodesHolding(const std::string& path) {
    HallAndShelter n{NodeUnderRoot("hall", "042021-honcho"),
                     NodeUnderRoot("shelter", "042021-shelter")};
    if (!n.hall || !n.shelter) return {};
    ImportOptions o;
    o.path = path;
    auto imported = ImportResidents(*n.hall, o);
    EXPECT_TRUE(imported.ok() && imported->problems.empty())
        << (imported.ok() ? imported->problems[0] : imported.status().message());
    if (!imported.ok()) return {};
    Send(*n.hall, *n.shelter);
    return n;
  }
  // A register drawn at random: ROWS rows (fewer when a code is drawn twice) of resident codes
  // 100 to 100 + CODES - 1, each with an address and a phone drawn from VALUES; the phone column
  // is left out one time in LEAVE_OUT_PHONE.
  struct DrawnRegister {
    std::string csv;
    bool phone_column = true;
    std::map<std::string, std::array<std::string, 2>> rows;  // by code: address, phone
  };
  static DrawnRegister DrawRegister(std::mt19937_64& rng, int rows, int codes,
                                    const std::array<std::vector<std::string>, 2>& values,
                                    int leave_out_phone) {
    DrawnRegister d;
    d.phone_column = rng() % leave_out_phone != 0;
    for (int i = 0; i < rows; ++i) {
      auto& row = d.rows[std::to_string(100 + rng() % codes)];
      for (int f = 0; f < 2; ++f) row[f] = values[f][rng() % values[f].size()];
    }
    d.csv = "resident_code,household_code,name,birth_date,sex,relationship,address";
    d.csv += d.phone_column ? ",phone\n" : "\n";
    for (const auto& [code, row] : d.rows) {
      d.csv += fmt::format("{},H{},甲,1970-01-01,男,世帯主,{}", code, code, row[0]);
      d.csv += d.phone_column ? "," + row[1] + "\n" : "\n";
    }
    return d;
  }
  // A synthetic register of COUNT residents (`bosai gen residents`), written to a file.
  std::string Generated(uint64_t count, uint64_t seed) {
    GenOptions g;
    g.municipality = "042021";
    g.count = count;
    g.seed = seed;
    const std::string path = (dir_ / fmt::format("gen-{}-{}.csv", count, seed)).string();
    std::FILE* f = std::fopen(path.c_str(), "wb");
    EXPECT_TRUE(f && GenerateResidents(g, f).ok());
    if (f) std::fclose(f);
    return path;
  }
  std::string Write(const std::string& name, const std::string& text) {
    auto p = dir_ / name;
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }
  ImportReport Import(const std::string& path, std::optional<std::string> rejects = std::nullopt) {
    ImportOptions o;
    o.path = path;
    o.rejects_path = rejects;
    auto r = ImportResidents(*node_, o);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? *r : ImportReport();
  }
  std::string Address(const std::string& key) {
    auto r = GetResident(*node_, key);
    return r.ok() && *r ? (*r)->resident.address() : "<missing>";
  }
  // Writes FIELD of the record as VALUE (a message holding it) straight to the store, as a peer's
  // write would come: none of an edit's rules.
  void WriteField(uint32_t entity, const std::string& key, uint32_t field,
                  const google::protobuf::MessageLite& value) {
    ASSERT_TRUE(node_->store().BeginWrite("test").ok());
    ASSERT_TRUE(
        node_->store().Put(node_->scope(), entity, key, {{field, value.SerializeAsString()}}).ok());
    ASSERT_TRUE(node_->store().CommitWrite().ok());
  }

  // The households HouseholdHeadProblems finds: "<id> [<heads>] named <head>", one per line.
  static std::string HeadProblems(Node& node) {
    auto found = HouseholdHeadProblems(node);
    EXPECT_TRUE(found.ok()) << found.status().message();
    std::string out;
    for (const HouseholdHeadProblem& h :
         found.ok() ? *found : std::vector<HouseholdHeadProblem>{}) {
      out += fmt::format("{}{} [{}] named {}", out.empty() ? "" : "\n", h.household,
                         fmt::join(h.heads, ", "), h.named);
    }
    return out;
  }
  // The head a household's record names on NODE ("<none>" when it has no record).
  static std::string Head(Node& node, const std::string& household) {
    auto body = node.store().GetBody(v1::ENTITY_HOUSEHOLD, household);
    v1::Household h;
    if (!body.ok() || !*body || !h.ParseFromString(**body)) return "<none>";
    return h.head();
  }

  fs::path dir_;
  std::unique_ptr<Node> node_;
};

constexpr const char* kHeader =
    "municipality_code,resident_code,household_code,name,name_kana,birth_date,sex,relationship,"
    "postal_code,address,my_number,phone,resident_since\n";

TEST_F(ResidentTest, ImportsWithJapaneseHeadersInAnyOrder) {
  std::string path = Write(
      "jp.csv",
      "氏名,ふりがな,生年月日,性別,住民票コード,世帯番号,続柄,住所,個人番号,備考\n"
      "佐藤　太郎,さとう　たろう,昭和50年4月1日,男,1001,H1,世帯主,石巻市中央1丁目,983205673214,x\n"
      "佐藤　花子,サトウ　ハナコ,S52.10.3,女,1002,H1,妻,石巻市中央1丁目,,y\n");
  ImportReport r = Import(path);
  EXPECT_EQ(r.problem_count, 0u) << (r.problems.empty() ? "" : r.problems[0]);
  EXPECT_EQ(r.imported, 2u);
  ASSERT_EQ(r.warnings.size(), 1u);  // 備考 is not a known column
  EXPECT_NE(r.warnings[0].find("備考"), std::string::npos);
  EXPECT_EQ(*CountResidents(*node_), 2u);
  auto taro = GetResident(*node_, "042021:1001");
  ASSERT_TRUE(taro.ok() && *taro);
  EXPECT_EQ((*taro)->resident.birth_date(), 19750401);
  EXPECT_EQ((*taro)->resident.household(), "042021:H1");
  auto j = ResidentJson(*node_, **taro, false);
  EXPECT_EQ(j["my_number"], "********3214");
  EXPECT_EQ(ResidentJson(*node_, **taro, true)["my_number"], "983205673214");

  ResidentQuery q;
  q.kana = "サトウ";
  EXPECT_EQ(SearchResidents(*node_, q)->size(), 2u);
  q.kana.reset();
  q.my_number = "983205673214";
  auto found = SearchResidents(*node_, q);
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].key, "042021:1001");
  q.my_number.reset();
  q.birth = "1977-10-03";
  EXPECT_EQ(SearchResidents(*node_, q)->size(), 1u);
}

// A reading in half-width katakana (as older systems and CP932 files write it) is held in
// full-width, the form certificates and the terminal show: from an import, a re-import of the
// same file changes nothing, and from an edit. A search finds it either way.
TEST_F(ResidentTest, AReadingInHalfWidthKatakanaIsHeldInFullWidth) {
  const std::string path =
      Write("half.csv", std::string(kHeader) +
                            "042021,6001,H1,岩崎　直樹,ｲﾜｻｷ ﾅｵｷ,1970-01-01,男,世帯主,,,,,\n"
                            "042021,6002,H1,岩崎　葉子,ｲﾜｻｷ ﾖｳｺ,1972-01-01,女,妻,,,,,\n"
                            "042021,6003,H2,和院　一,ﾜﾞｲﾝ ﾊｼﾞﾒ,1980-01-01,男,世帯主,,,,,\n");
  EXPECT_EQ(Import(path).imported, 3u);
  auto kana = [&](const std::string& key) {
    auto r = GetResident(*node_, key);
    return r.ok() && *r ? (*r)->resident.name_kana() : "<missing>";
  };
  EXPECT_EQ(kana("042021:6001"), "イワサキ ナオキ");
  EXPECT_EQ(kana("042021:6002"), "イワサキ ヨウコ");
  const std::string held = *node_->store().StateHash();
  ImportReport again = Import(path);
  EXPECT_EQ(again.changed, 0u);
  EXPECT_EQ(*node_->store().StateHash(), held);

  ASSERT_TRUE(UpdateResident(*node_, "042021:6002", {{"name_kana", "ｲﾜｻｷ ﾖｳｺﾞ"}}).ok());
  EXPECT_EQ(kana("042021:6002"), "イワサキ ヨウゴ");
  ResidentQuery q;
  for (const char* reading : {"ｲﾜｻｷ", "いわさき", "イワサキ"}) {
    q.kana = reading;
    EXPECT_EQ(SearchResidents(*node_, q)->size(), 2u) << reading;
  }
  // A kana with a sound mark only the full-width form joins (ヷ) is found as it was imported.
  EXPECT_EQ(kana("042021:6003"), "ヷイン ハジメ");
  for (const char* reading : {"ﾜﾞｲﾝ", "ヷイン", "ワ゛イン"}) {
    q.kana = reading;
    auto found = SearchResidents(*node_, q);
    ASSERT_TRUE(found.ok());
    ASSERT_EQ(found->size(), 1u) << reading;
    EXPECT_EQ((*found)[0].key, "042021:6003");
  }
}

// An edit of values a resident holds already writes no op (as an import of an unchanged row
// writes none), and says which; the fields that do change are written. A field is given once.
// An unchanged relationship 世帯主 still mends a household whose record names another.
TEST_F(ResidentTest, AnEditOfValuesHeldAlreadyWritesNothing) {
  Import(Write("same.csv", std::string(kHeader) +
                               "042021,8301,H1,佐藤　一,サトウ,1970-01-01,男,世帯主,,中央1丁目,"
                               "983205673214,0225-11-0001,\n"
                               "042021,8302,H1,佐藤　二,サトウ,1971-01-01,女,妻,,中央1丁目,,,\n"));
  const std::string key = "042021:8301";
  const VersionVector vector = *node_->store().Vector();
  std::vector<std::string> unchanged;
  ASSERT_TRUE(UpdateResident(*node_, key,
                             {{"phone", "0225-11-0001"},
                              {"name", " 佐藤　一"},
                              {"my_number", "9832 0567 3214"},
                              {"relationship", "世帯主"}},
                             nullptr, &unchanged)
                  .ok());
  EXPECT_EQ(unchanged, std::vector<std::string>({"phone", "name", "my_number", "relationship"}));
  EXPECT_EQ(*node_->store().Vector(), vector) << "no op written";

  unchanged.clear();
  ASSERT_TRUE(UpdateResident(*node_, key, {{"phone", "0225-11-0001"}, {"address", "中央2丁目"}},
                             nullptr, &unchanged)
                  .ok());
  EXPECT_EQ(unchanged, std::vector<std::string>({"phone"}));
  EXPECT_NE(*node_->store().Vector(), vector);
  EXPECT_EQ(Address(key), "中央2丁目");
  auto phone =
      node_->store().GetFieldVersions(v1::ENTITY_RESIDENT, key, v1::Resident::kPhoneFieldNumber);
  ASSERT_TRUE(phone.ok());
  ASSERT_EQ(phone->size(), 1u);
  EXPECT_EQ(phone->front().dot.seq, 1u) << "the phone the import wrote is the one held";

  EXPECT_EQ(
      UpdateResident(*node_, key, {{"phone", "0225-11-0002"}, {"phone", "0225-11-0003"}}).message(),
      "phone is given twice: give each field once");

  // The household's record is made to name another (as a merge may leave it): the 世帯主's
  // relationship, given as it is, mends it.
  v1::Household other;
  other.set_head("042021:8302");
  WriteField(v1::ENTITY_HOUSEHOLD, "042021:H1", v1::Household::kHeadFieldNumber, other);
  EXPECT_EQ(Head(*node_, "042021:H1"), "042021:8302");
  ASSERT_TRUE(UpdateResident(*node_, key, {{"relationship", "世帯主"}}).ok());
  EXPECT_EQ(Head(*node_, "042021:H1"), key);
}

// Fields as registers pad them: quoted with spaces, or with full-width spaces after a name (as a
// fixed-width export turned into CSV has it). The blanks at either end are not kept, so a name of
// blanks alone is empty, as an edit finds it too.
TEST_F(ResidentTest, BlanksARegisterPadsAFieldWithAreNotKept) {
  ImportOptions o;
  o.path = Write("blank.csv", std::string(kHeader) +
                                  "042021,6101,H1,\"  \",サトウ,1970-01-01,男,世帯主,,,,,\n"
                                  "042021,6102,H1,　　,サトウ,1970-01-01,女,妻,,,,,\n");
  auto refused = ImportResidents(*node_, o);
  ASSERT_TRUE(refused.ok()) << refused.status().message();
  ASSERT_EQ(refused->problems.size(), 2u);
  EXPECT_EQ(refused->problems[0], o.path + ":2:4: name: empty");
  EXPECT_EQ(refused->problems[1], o.path + ":3:4: name: empty");
  EXPECT_EQ(*CountResidents(*node_), 0u);

  const std::string padded =
      Write("padded.csv", std::string(kHeader) +
                              "042021,6103,\" H1 \",\" 佐藤　太郎　　\",サトウ　タロウ　,\" "
                              "1970-01-01\",男,\"世帯主　\",,\"　石巻市中央1丁目1番1号 \",,,\n");
  EXPECT_EQ(Import(padded).imported, 1u);
  auto taro = GetResident(*node_, "042021:6103");
  ASSERT_TRUE(taro.ok() && *taro);
  EXPECT_EQ((*taro)->resident.name(), "佐藤　太郎");
  EXPECT_EQ((*taro)->resident.name_kana(), "サトウ　タロウ");
  EXPECT_EQ((*taro)->resident.relationship(), "世帯主");
  EXPECT_EQ((*taro)->resident.household(), "042021:H1");
  EXPECT_EQ(Address("042021:6103"), "石巻市中央1丁目1番1号");

  Status blank = UpdateResident(*node_, "042021:6103", {{"name", "　 "}});
  EXPECT_EQ(blank.message(), "name: empty");
  ASSERT_TRUE(UpdateResident(*node_, "042021:6103", {{"name", " 佐藤　太朗　"}}).ok());
  EXPECT_EQ((*GetResident(*node_, "042021:6103"))->resident.name(), "佐藤　太朗");
}

// A resident became one (住民となった年月日) on or after their birth: a row that has it before
// is refused, at its column, and so is an edit of either date that would make it so.
TEST_F(ResidentTest, AResidentSinceBeforeTheBirthIsRefused) {
  ImportOptions o;
  o.path = Write("since.csv", std::string(kHeader) +
                                  "042021,6201,H1,佐藤　太郎,サトウ,1970-01-01,男,世帯主,,,,,"
                                  "1969-12-31\n"
                                  "042021,6202,H1,佐藤　花子,サトウ,S50.4.1,女,妻,,,,,S50.4.1\n");
  auto refused = ImportResidents(*node_, o);
  ASSERT_TRUE(refused.ok()) << refused.status().message();
  ASSERT_EQ(refused->problems.size(), 1u);
  EXPECT_EQ(refused->problems[0],
            o.path + ":2:13: resident_since: 1969-12-31 is before birth_date 1970-01-01");
  EXPECT_EQ(*CountResidents(*node_), 0u);

  EXPECT_EQ(Import(Write("born.csv", std::string(kHeader) +
                                         "042021,6202,H1,佐藤　花子,サトウ,S50.4.1,女,妻,,,,,"
                                         "S50.4.1\n"))
                .imported,
            1u);
  const std::string key = "042021:6202";
  EXPECT_EQ(UpdateResident(*node_, key, {{"resident_since", "1975-03-31"}}).message(),
            "resident_since: 1975-03-31 is before birth_date 1975-04-01");
  EXPECT_EQ(UpdateResident(*node_, key, {{"birth_date", "1975-04-02"}}).message(),
            "birth_date: 1975-04-02 is after resident_since 1975-04-01");
  // Both at once, or the 住民となった年月日 cleared first: the record as it would be is checked.
  EXPECT_TRUE(
      UpdateResident(*node_, key, {{"birth_date", "1975-04-02"}, {"resident_since", "H1.1.8"}})
          .ok());
  ASSERT_TRUE(UpdateResident(*node_, key, {{"resident_since", ""}}).ok());
  ASSERT_TRUE(UpdateResident(*node_, key, {{"birth_date", "2000-01-01"}}).ok());
  auto hanako = GetResident(*node_, key);
  ASSERT_TRUE(hanako.ok() && *hanako);
  EXPECT_EQ((*hanako)->resident.birth_date(), 20000101);
  EXPECT_EQ((*hanako)->resident.resident_since(), 0);
}

// Headers as municipal systems write them: a qualifier in parentheses (full-width or not), the
// legal term 男女の別, and 方書 (the building and room), which a register keeps apart from the
// address: it is joined to the address, and a re-import that changes only it changes the address.
TEST_F(ResidentTest, HeadersAsMunicipalSystemsWriteThemAndTheirBuildingColumn) {
  const std::string header =
      "住民票コード,世帯番号,氏名（漢字）,氏名（カナ）,生年月日(和暦),男女の別,世帯主との関係,住所,"
      "方書,個人番号（マイナンバー）,住民となった日\n";
  ImportReport r = Import(Write(
      "sys.csv", header +
                     "3001,H1,佐藤　太郎,サトウ　タロウ,S50.4.1,1,世帯主,石巻市中央1丁目2番3号,"
                     "コーポ中央101,983205673214,H10.4.1\n"
                     "3002,H1,佐藤　花子,サトウ　ハナコ,S52.10.3,2,妻,石巻市中央1丁目2番3号,,,\n"));
  EXPECT_EQ(r.problem_count, 0u) << (r.problems.empty() ? "" : r.problems[0]);
  EXPECT_TRUE(r.warnings.empty()) << r.warnings[0];
  auto taro = GetResident(*node_, "042021:3001");
  ASSERT_TRUE(taro.ok() && *taro);
  EXPECT_EQ((*taro)->resident.name_kana(), "サトウ　タロウ");
  EXPECT_EQ((*taro)->resident.sex(), v1::SEX_MALE);
  EXPECT_EQ((*taro)->resident.relationship(), "世帯主");
  EXPECT_EQ((*taro)->resident.address(), "石巻市中央1丁目2番3号　コーポ中央101");
  EXPECT_EQ((*taro)->resident.resident_since(), 19980401);
  EXPECT_EQ(ResidentJson(*node_, **taro, true)["my_number"], "983205673214");
  auto hanako = GetResident(*node_, "042021:3002");
  ASSERT_TRUE(hanako.ok() && *hanako);
  EXPECT_EQ((*hanako)->resident.address(), "石巻市中央1丁目2番3号");

  r = Import(Write("sys2.csv", header +
                                   "3001,H1,佐藤　太郎,サトウ　タロウ,S50.4.1,1,世帯主,"
                                   "石巻市中央1丁目2番3号,コーポ中央202,983205673214,H10.4.1\n"));
  EXPECT_EQ(r.imported, 1u);
  taro = GetResident(*node_, "042021:3001");
  EXPECT_EQ((*taro)->resident.address(), "石巻市中央1丁目2番3号　コーポ中央202");

  ImportOptions o;
  o.path = Write("nobuilding.csv", "住民票コード,世帯番号,氏名,生年月日,性別,方書\n");
  auto no_address = ImportResidents(*node_, o);
  ASSERT_FALSE(no_address.ok());
  EXPECT_EQ(no_address.status().message(),
            o.path +
                ":1:6: column 方書 (the building and room) needs an address column (address "
                "or 住所)");
}

// A register that keeps the family and given names apart (姓, 名, セイ, メイ): the name held is
// the two joined by a full-width space, as is the reading, and a problem is reported at the
// family name's column. A part without the other, or beside the whole, is refused at once.
TEST_F(ResidentTest, ANameSplitIntoFamilyAndGivenNamesIsJoined) {
  const std::string header = "住民票コード,世帯番号,姓,名,セイ,メイ,生年月日,性別\n";
  ImportReport r = Import(Write("split.csv", header + "3101,H1,佐藤,太郎,サトウ,タロウ,S50.4.1,男\n"
                                                      "3102,H1,佐藤,,サトウ,,S52.10.3,女\n"));
  EXPECT_EQ(r.problem_count, 0u) << (r.problems.empty() ? "" : r.problems[0]);
  EXPECT_TRUE(r.warnings.empty()) << r.warnings[0];
  auto taro = GetResident(*node_, "042021:3101");
  ASSERT_TRUE(taro.ok() && *taro);
  EXPECT_EQ((*taro)->resident.name(), "佐藤　太郎");
  EXPECT_EQ((*taro)->resident.name_kana(), "サトウ　タロウ");
  auto only_family = GetResident(*node_, "042021:3102");
  ASSERT_TRUE(only_family.ok() && *only_family);
  EXPECT_EQ((*only_family)->resident.name(), "佐藤");
  ResidentQuery q;
  q.name = "佐藤太郎";
  EXPECT_EQ(SearchResidents(*node_, q)->size(), 1u);

  ImportOptions o;
  o.path = Write("bad-kana.csv", header + "3103,H2,鈴木,一郎,スズキ,abc,S50.4.1,男\n");
  auto bad = ImportResidents(*node_, o);
  ASSERT_TRUE(bad.ok());
  ASSERT_EQ(bad->problems.size(), 1u);
  EXPECT_EQ(bad->problems[0], o.path + ":2:5: name_kana: \"スズキ　abc\" is not kana");

  const std::vector<std::pair<std::string, std::string>> refused = {
      {"住民票コード,世帯番号,姓,生年月日,性別\n",
       ":1:3: column 姓 (the family name) needs a given name column (名)"},
      {"住民票コード,世帯番号,名,生年月日,性別\n",
       ":1:3: column 名 (the given name) needs a family name column (姓 or 氏)"},
      {"住民票コード,世帯番号,氏名,姓,名,生年月日,性別\n",
       ":1:4: column 姓 (the family name) and column 氏名 both give name: keep one"},
      {"住民票コード,世帯番号,姓,名,名,生年月日,性別\n",
       ":1:5: column 名 appears twice (also column 4)"},
      {"住民票コード,世帯番号,氏名,メイ,生年月日,性別\n",
       ":1:4: column メイ (the given name's reading) needs a family name reading column (姓カナ or "
       "セイ)"},
  };
  for (const auto& [head, reason] : refused) {
    o.path = Write("refused.csv", head + "1,H1,甲,乙,1970-01-01,男\n");
    auto st = ImportResidents(*node_, o);
    ASSERT_FALSE(st.ok()) << head;
    EXPECT_EQ(st.status().message(), o.path + reason);
  }
}

TEST_F(ResidentTest, BadRowsAreListedAndNothingIsImported) {
  std::string path = Write(
      "bad.csv", std::string(kHeader) +
                     "042021,2001,H2,鈴木　一郎,すずき　いちろう,1960-02-30,男,世帯主,9860001,住所,"
                     ",0225-11-2222,\n"
                     "042021,2002,H2,鈴木　花,スズキ,1962-01-01,X,妻,98600,住所,983205673215,,\n"
                     "042020,2003,H3,田中,タナカ,1962-01-01,女,世帯主,,住所,,,\n"
                     "042021,2001,H4,\"名前, 引用\",ヤマダ,H1.1.8,女,世帯主,,住所,,,\n"
                     "042021,2005,H5,山田,山田,2099-01-01,女,世帯主,,住所,,,\n");
  ImportOptions o;
  o.path = path;
  auto r = ImportResidents(*node_, o);
  ASSERT_TRUE(r.ok());
  std::string all;
  for (const auto& p : r->problems) all += p + "\n";
  EXPECT_NE(all.find("bad.csv:2:6: birth_date"), std::string::npos) << all;
  EXPECT_NE(all.find("bad.csv:3:7: sex"), std::string::npos) << all;
  EXPECT_NE(all.find("bad.csv:3:9: postal_code"), std::string::npos) << all;
  EXPECT_NE(all.find("bad.csv:3:11: my_number"), std::string::npos) << all;
  EXPECT_NE(all.find("bad.csv:4:1: municipality_code"), std::string::npos) << all;
  EXPECT_NE(all.find("bad.csv:5:2: resident_code: duplicate of line 2"), std::string::npos) << all;
  EXPECT_NE(all.find("bad.csv:6:5: name_kana"), std::string::npos) << all;
  EXPECT_NE(all.find("bad.csv:6:6: birth_date"), std::string::npos) << all;
  EXPECT_EQ(*CountResidents(*node_), 0u);
  EXPECT_TRUE(node_->store().Vector()->empty());
}

// Rows with every field empty (a spreadsheet saves the formatted rows below a register as commas
// alone; blank cells may hold spaces) hold no resident: they are skipped with one warning that
// says where, whether the file is checked, imported, or imported skipping invalid rows, and a
// problem elsewhere is still found by its line.
TEST_F(ResidentTest, RowsWithEveryFieldEmptyAreSkippedWithAWarning) {
  const std::string rows =
      "042021,3101,H1,甲,コウ,1970-01-01,男,世帯主,,住所,,,\n"
      ",,,,,,,,,,,,\n"
      "042021,3102,H1,乙,オツ,1971-01-01,女,妻,,住所,,,\n"
      ", ,\t,\"\",　,,,,,,,,\n"
      ",,\n";
  const std::string path = Write("blank.csv", std::string(kHeader) + rows);
  const std::string warning =
      "blank.csv:3: skipped 3 rows with every field empty (the last on line 6)";
  auto run = [&](bool check_only, std::optional<std::string> rejects) {
    ImportOptions o;
    o.path = path;
    o.check_only = check_only;
    o.rejects_path = rejects;
    auto r = ImportResidents(*node_, o);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? *r : ImportReport();
  };
  ImportReport checked = run(true, std::nullopt);
  EXPECT_EQ(checked.problem_count, 0u) << (checked.problems.empty() ? "" : checked.problems[0]);
  EXPECT_EQ(checked.rows, 2u);
  ASSERT_EQ(checked.warnings.size(), 1u);
  EXPECT_EQ(checked.warnings[0].substr(checked.warnings[0].find("blank.csv")), warning);
  EXPECT_EQ(*CountResidents(*node_), 0u);

  ImportReport imported = run(false, std::nullopt);
  EXPECT_EQ(imported.imported, 2u);
  EXPECT_EQ(imported.rejected, 0u);
  ASSERT_EQ(imported.warnings.size(), 1u);
  EXPECT_EQ(imported.warnings[0].substr(imported.warnings[0].find("blank.csv")), warning);
  EXPECT_EQ(*CountResidents(*node_), 2u);

  // With a bad row too: it alone is a problem, and alone among the rejects.
  const std::string bad =
      Write("blank-bad.csv",
            std::string(kHeader) + rows + "042021,3103,H1,丙,ヘイ,1972-13-01,女,子,,住所,,,\n");
  ImportOptions o;
  o.path = bad;
  auto refused = ImportResidents(*node_, o);
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->problem_count, 1u);
  ASSERT_EQ(refused->problems.size(), 1u);
  EXPECT_NE(refused->problems[0].find("blank-bad.csv:7:6: birth_date"), std::string::npos)
      << refused->problems[0];
  const std::string rejects = (dir_ / "rejects.csv").string();
  o.rejects_path = rejects;
  auto skipped = ImportResidents(*node_, o);
  ASSERT_TRUE(skipped.ok()) << skipped.status().message();
  EXPECT_EQ(skipped->rejected, 1u);
  std::ifstream in(rejects);
  std::string line;
  std::vector<std::string> lines;
  while (std::getline(in, line)) lines.push_back(line);
  ASSERT_EQ(lines.size(), 2u);  // the header and line 7
  EXPECT_EQ(lines[1].substr(0, 2), "7,");
  EXPECT_EQ(*CountResidents(*node_), 2u);
}

// Formatted cells beside a register's header are saved as columns without a name: they are
// ignored with a warning that names them by number, apart from the columns with unknown names.
TEST_F(ResidentTest, ColumnsWithoutANameAreIgnoredAndNamedByNumber) {
  std::string header = kHeader;
  header.insert(header.size() - 1, ",備考,, ");
  ImportReport r = Import(
      Write("wide.csv", header + "042021,3401,H1,甲,コウ,1970-01-01,男,世帯主,,住所,,,,x,,\n"));
  EXPECT_EQ(r.imported, 1u);
  ASSERT_EQ(r.warnings.size(), 2u);
  EXPECT_EQ(r.warnings[0].substr(r.warnings[0].find("wide.csv")),
            "wide.csv:1: ignoring unknown columns: 備考");
  EXPECT_EQ(r.warnings[1].substr(r.warnings[1].find("wide.csv")),
            "wide.csv:1: ignoring columns 15, 16, which have no name in the header");
}

// A register exported with a title and a date above its header: the import names the line of
// the header and imports nothing; a first line that no row below completes as a header keeps its
// own error.
TEST_F(ResidentTest, AHeaderBelowOtherLinesIsNamed) {
  const std::string row = "042021,3201,H1,甲,コウ,1970-01-01,男,世帯主,,住所,,,\n";
  struct Case {
    std::string text, error;
  } cases[] = {
      {"住民基本台帳一覧（令和8年11月1日現在）,,,\n" + std::string(kHeader) + row,
       "titled.csv:2: the header is on line 2: remove the lines above it (the header must be the "
       "first line)"},
      {"住民一覧\n作成日,2026/11/1\n\n" + std::string(kHeader) + row,
       "titled.csv:4: the header is on line 4: remove the lines above it (the header must be the "
       "first line)"},
      {"a,b\n" + row, "titled.csv:1: required column resident_code is missing"},
  };
  for (const Case& c : cases) {
    ImportOptions o;
    o.path = Write("titled.csv", c.text);
    auto r = ImportResidents(*node_, o);
    ASSERT_FALSE(r.ok());
    const std::string& m = r.status().message();
    EXPECT_EQ(m.substr(m.find("titled.csv")), c.error);
  }
  EXPECT_EQ(*CountResidents(*node_), 0u);
}

// A register whose heads of household are written another way (本人 instead of 世帯主) leaves
// every household without a 世帯主: the import says how many, and the first, as it ends. A partial
// file for households whose 世帯主 the node holds says nothing, nor does a register without a
// relationship column.
TEST_F(ResidentTest, HouseholdsLeftWithoutA世帯主AreCountedAtTheEndOfAnImport) {
  auto warnings = [&](const std::string& name, const std::string& text,
                      std::optional<std::string> rejects = std::nullopt) {
    ImportReport r = Import(Write(name, text), rejects);
    std::string all;
    for (const auto& w : r.warnings) all += w.substr(w.find(name)) + "\n";
    return all;
  };
  EXPECT_EQ(warnings("honnin.csv", std::string(kHeader) +
                                       "042021,3301,H1,甲,コウ,1970-01-01,男,本人,,住所,,,\n"
                                       "042021,3302,H1,乙,オツ,1971-01-01,女,妻,,住所,,,\n"
                                       "042021,3303,H2,丙,ヘイ,1972-01-01,女,本人,,住所,,,\n"
                                       "042021,3304,H3,丁,テイ,1973-01-01,男,世帯主,,住所,,,\n"),
            "honnin.csv: 2 households have no 世帯主 (relationship 世帯主), in the file or on this "
            "node (the first: 042021:H1): `bosai conflicts list` lists them\n");
  EXPECT_FALSE(HeadProblems(*node_).empty());
  // The same with invalid rows skipped (the other way through the file).
  EXPECT_EQ(warnings("honnin2.csv",
                     std::string(kHeader) + "042021,3305,H4,戊,ボ,1974-01-01,男,本人,,住所,,,\n" +
                         "042021,3306,H5,己,キ,1975-13-01,男,世帯主,,住所,,,\n",
                     (dir_ / "rejects.csv").string()),
            "honnin2.csv: a household has no 世帯主 (relationship 世帯主), in the file or on "
            "this node (the first: 042021:H4): `bosai conflicts list` lists it\n");
  // A row of a household whose 世帯主 is held.
  EXPECT_EQ(warnings("partial.csv",
                     std::string(kHeader) + "042021,3307,H3,庚,コウ,2001-01-01,男,子,,住所,,,\n"),
            "");
  // No relationship column: nothing to say of heads.
  EXPECT_EQ(warnings("norel.csv",
                     "resident_code,household_code,name,birth_date,sex\n"
                     "3308,H6,辛,1980-01-01,男\n"),
            "");
}

TEST_F(ResidentTest, SkipInvalidWritesRejects) {
  std::string path = Write("mixed.csv", std::string(kHeader) +
                                            "042021,3001,H1,甲,コウ,1970-01-01,男,世帯主,,住所,,,\n"
                                            "042021,3002,H1,乙,オツ,1970-13-01,女,妻,,住所,,,\n"
                                            "042021,3009,H1,丙,ヘイ,1970-01-01,男,子,,=1+1,,,\n");
  ImportReport r = Import(path, (dir_ / "rejects.csv").string());
  EXPECT_EQ(r.imported, 1u);
  EXPECT_EQ(r.rejected, 2u);
  EXPECT_EQ(*CountResidents(*node_), 1u);
  std::ifstream in(dir_ / "rejects.csv");
  std::string header, line, formula;
  std::getline(in, header);
  std::getline(in, line);
  std::getline(in, formula);
  EXPECT_EQ(header.rfind("line,reason,municipality_code", 0), 0u) << header;
  EXPECT_EQ(line.rfind("3,", 0), 0u) << line;
  EXPECT_NE(line.find("birth_date"), std::string::npos) << line;
  // A field a spreadsheet would run is written after an apostrophe, so that opening the rejects
  // does not run it.
  EXPECT_EQ(
      formula,
      "4,\"4:10: address: \"\"=1+1\"\" begins with =, which a spreadsheet opening the register "
      "would run as a formula\",042021,3009,H1,丙,ヘイ,1970-01-01,男,子,,'=1+1,,,");

  // A rejects file that is the register itself, or the node's database, is refused before
  // anything is read: either would be lost.
  for (const std::string& over : {path, (dir_ / "data" / "." / ".." / "mixed.csv").string(),
                                  node_->data_dir() + "/bosai.db"}) {
    ImportOptions o;
    o.path = path;
    o.rejects_path = over;
    auto refused = ImportResidents(*node_, o);
    ASSERT_FALSE(refused.ok()) << over;
    EXPECT_NE(refused.status().message().find(over + " is the "), std::string::npos)
        << refused.status().message();
  }
  ExportOptions to_store;
  to_store.path = node_->data_dir() + "/bosai.db-wal";
  auto exported = ExportResidents(*node_, to_store);
  ASSERT_FALSE(exported.ok());
  EXPECT_EQ(exported.status().message(),
            to_store.path +
                " is the node's own database: name a file outside the data dir to write; nothing "
                "was written");
  EXPECT_EQ(*CountResidents(*node_), 1u);

  // From a CP932 file (a spreadsheet's), the rejects are in CP932 too, to be mended where the
  // file came from: each row as it was, a short one as well.
  const std::string sjis = (dir_ / "sjis.csv").string();
  {
    std::vector<std::string> columns;
    std::string header_line = kHeader;
    header_line.pop_back();
    for (size_t at = 0; at != std::string::npos;) {
      size_t comma = header_line.find(',', at);
      columns.push_back(header_line.substr(at, comma == std::string::npos ? comma : comma - at));
      at = comma == std::string::npos ? comma : comma + 1;
    }
    auto w = CsvWriter::Create(sjis, Encoding::kCp932, columns);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->WriteAsRead({"042021", "3003", "H3", "丙", "ヘイ", "1970-01-01", "男",
                                   "世帯主", "", "住所", "", "", ""})
                    .ok());
    ASSERT_TRUE((*w)->WriteAsRead({"042021", "3004", "H3", "丁", "テイ"}).ok());
    ASSERT_TRUE((*w)->Close().ok());
  }
  const std::string sjis_rejects = (dir_ / "sjis-rejects.csv").string();
  r = Import(sjis, sjis_rejects);
  EXPECT_EQ(r.encoding, Encoding::kCp932);
  EXPECT_EQ(r.imported, 1u);
  EXPECT_EQ(r.rejected, 1u);
  std::ifstream raw(sjis_rejects, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(raw)), std::istreambuf_iterator<char>());
  EXPECT_NE(bytes.find("\r\n3,\"3:6: expected 13 fields, found 5\",042021,3004,H3,\x92\x9A,"
                       "\x83\x65\x83\x43\r\n"),
            std::string::npos)
      << bytes;
  auto reader = CsvReader::Open(sjis_rejects, Encoding::kCp932);
  ASSERT_TRUE(reader.ok());
  CsvRecord rec;
  ASSERT_TRUE(*(*reader)->Next(&rec));
  ASSERT_TRUE(*(*reader)->Next(&rec));
  EXPECT_EQ(rec.fields, (std::vector<std::string>{"3", "3:6: expected 13 fields, found 5", "042021",
                                                  "3004", "H3", "丁", "テイ"}));

  // From UTF-8 after a byte order mark (as Excel saves "CSV UTF-8"), the rejects have one too.
  const std::string bom_rejects = (dir_ / "bom-rejects.csv").string();
  r = Import(Write("bom.csv", "\xEF\xBB\xBF" + std::string(kHeader) +
                                  "042021,3005,H5,戊,ボ,1970-01-01,男,世帯主,,住所,,,\n"
                                  "042021,3006,H5,己,キ,1970-01-01,X,妻,,住所,,,\n"),
             bom_rejects);
  EXPECT_EQ(r.rejected, 1u);
  std::ifstream bom_in(bom_rejects, std::ios::binary);
  std::string first_line;
  std::getline(bom_in, first_line);
  EXPECT_EQ(first_line.rfind("\xEF\xBB\xBFline,reason,", 0), 0u) << first_line;
}

// The rejects, mended, are imported as a register: the line and reason columns are ignored, and
// a field written after an apostrophe is read without it (a code a system wrote as the formula
// ="3010", an international phone number).
TEST_F(ResidentTest, MendedRejectsAreImportedAsTheRegisterHadThem) {
  ImportReport first =
      Import(Write("guarded.csv",
                   std::string(kHeader) +
                       "042021,\"=\"\"3010\"\"\",H1,丁,テイ,1970-02-30,男,子,,住所,,+81 90 1234 "
                       "5678,\n"),
             (dir_ / "rejects2.csv").string());
  EXPECT_EQ(first.rejected, 1u);
  std::ifstream in2(dir_ / "rejects2.csv");
  std::string rejects2((std::istreambuf_iterator<char>(in2)), std::istreambuf_iterator<char>());
  EXPECT_NE(rejects2.find(",\"'=\"\"3010\"\"\",H1,"), std::string::npos) << rejects2;
  EXPECT_NE(rejects2.find(",'+81 90 1234 5678,"), std::string::npos) << rejects2;
  const size_t bad_date = rejects2.rfind("1970-02-30");  // the field, not the reason
  ASSERT_NE(bad_date, std::string::npos);
  rejects2.replace(bad_date, 10, "1970-02-28");
  ImportReport mended = Import(Write("mended.csv", rejects2));
  EXPECT_EQ(mended.problem_count, 0u) << (mended.problems.empty() ? "" : mended.problems[0]);
  EXPECT_EQ(mended.imported, 1u);
  auto tei = GetResident(*node_, "042021:3010");
  ASSERT_TRUE(tei.ok() && *tei);
  EXPECT_EQ((*tei)->resident.phone(), "+81 90 1234 5678");
}

// An id typed on the command line: the node's municipality when it names none, full-width digits
// narrowed; a bad one quoted in its problem (once).
TEST_F(ResidentTest, AnIdIsReadAsTypedAndABadOneIsQuoted) {
  EXPECT_EQ(*ResidentKey(*node_, "１２３"), "042021:123");
  EXPECT_EQ(*ResidentKey(*node_, "131016:A1"), "131016:A1");
  EXPECT_EQ(*ResidentKey(*node_, " 042021:123　"), "042021:123");  // pasted with its blanks
  EXPECT_EQ(ResidentKey(*node_, "042021:").status().message(),
            "resident id \"042021:\": resident code must be 1 to 20 characters");
  EXPECT_EQ(ResidentKey(*node_, "999999:1").status().message(),
            "resident id \"999999:1\": municipality code \"999999\" has a wrong check digit "
            "(expected 7)");
  EXPECT_EQ(ResidentKey(*node_, "H 1").status().message(),
            "resident code \"H 1\" may hold only 0-9, A-Z, a-z");
}

TEST_F(ResidentTest, ReimportIsThreeWay) {
  std::string v1 = Write("v1.csv", std::string(kHeader) +
                                       "042021,4001,H1,甲,コウ,1970-01-01,男,世帯主,,旧住所,,,\n"
                                       "042021,4002,H2,乙,オツ,1971-01-01,女,世帯主,,乙住所,,,\n");
  Import(v1);
  // A clerk corrects 4001's address on this node.
  ASSERT_TRUE(UpdateResident(*node_, "042021:4001", {{"address", "訂正住所"}}).ok());

  // The same register again: nothing changes, no ops, the correction survives.
  ImportReport same = Import(v1);
  EXPECT_EQ(same.changed, 0u);
  EXPECT_EQ(same.ops, 0u);
  EXPECT_EQ(Address("042021:4001"), "訂正住所");

  // The register changes 4002's address and 4001's name: both follow the register; the
  // correction made on the node still stands because the register did not touch that field.
  std::string v2 =
      Write("v2.csv", std::string(kHeader) +
                          "042021,4001,H1,甲改,コウ,1970-01-01,男,世帯主,,旧住所,,,\n"
                          "042021,4002,H2,乙,オツ,1971-01-01,女,世帯主,,新乙住所,,,\n");
  ImportReport changed = Import(v2);
  EXPECT_EQ(changed.changed, 2u);
  EXPECT_EQ(Address("042021:4001"), "訂正住所");
  EXPECT_EQ(Address("042021:4002"), "新乙住所");
  EXPECT_EQ((*GetResident(*node_, "042021:4001"))->resident.name(), "甲改");

  // Now the register itself moves 4001: the register's new value is shown, and the node's
  // correction is kept beside it as a conflict for an officer (both changed the field), not
  // dropped. The household's address, its 世帯主's, follows the register's without a conflict of
  // its own: the resident's is the one to resolve.
  std::string v3 =
      Write("v3.csv",
            std::string(kHeader) + "042021,4001,H1,甲改,コウ,1970-01-01,男,世帯主,,転居先,,,\n");
  EXPECT_EQ(Import(v3).conflicts, 1u);
  EXPECT_EQ(Address("042021:4001"), "転居先");
  EXPECT_TRUE(node_->store().ListConflicts(v1::ENTITY_HOUSEHOLD)->empty());
  auto conflicts = node_->store().ListConflicts(v1::ENTITY_RESIDENT);
  ASSERT_TRUE(conflicts.ok());
  ASSERT_EQ(conflicts->size(), 1u);
  const Conflict& c = (*conflicts)[0];
  EXPECT_EQ(c.key, "042021:4001");
  EXPECT_EQ(c.field, uint32_t(v1::Resident::kAddressFieldNumber));
  EXPECT_EQ(RenderField(v1::ENTITY_RESIDENT, c.field, c.other.value, nullptr, false), "訂正住所");
  // The same register again changes nothing, and the conflict stays until it is resolved.
  ImportReport again = Import(v3);
  EXPECT_EQ(again.changed, 0u);
  EXPECT_EQ(again.conflicts, 0u);
  EXPECT_EQ(node_->store().ListConflicts()->size(), 1u);
  // An officer keeps the node's correction (`conflicts resolve --keep other`), which the
  // household's address follows: the same register again does not undo that.
  ASSERT_TRUE(ResolveConflict(*node_, c, c.other.value).ok());
  EXPECT_EQ(Address("042021:4001"), "訂正住所");
  EXPECT_TRUE(node_->store().ListConflicts()->empty());
  v1::Household h;
  ASSERT_TRUE(h.ParseFromString(**node_->store().GetBody(v1::ENTITY_HOUSEHOLD, "042021:H1")));
  EXPECT_EQ(h.address(), "訂正住所");
  ImportReport after = Import(v3);
  EXPECT_EQ(after.changed, 0u);
  EXPECT_EQ(Address("042021:4001"), "訂正住所");
  // A partial file removed nothing.
  EXPECT_EQ(*CountResidents(*node_), 2u);
  EXPECT_EQ(Address("042021:4002"), "新乙住所");
}

// Conflicts made by a register that changed fields clerks had corrected: chosen by record and by
// field, a mistyped field refused, and settled several at once, each kept as the other (the
// clerk's); an id given twice, or one settled meanwhile, is no longer open.
TEST_F(ResidentTest, ConflictsAreChosenByRecordOrFieldAndSettledSeveralAtOnce) {
  Import(
      Write("c1.csv", std::string(kHeader) +
                          "042021,5001,H1,甲,コウ,1970-01-01,男,世帯主,,旧住所,,0225-00-0001,\n"
                          "042021,5002,H2,乙,オツ,1971-01-01,女,世帯主,,乙住所,,0225-00-0002,\n"));
  for (const char* key : {"042021:5001", "042021:5002"}) {
    ASSERT_TRUE(
        UpdateResident(*node_, key, {{"phone", "090-0000-0000"}, {"address", "訂正"}}).ok());
  }
  Import(Write("c2.csv",
               std::string(kHeader) +
                   "042021,5001,H1,甲,コウ,1970-01-01,男,世帯主,,新住所,,0225-11-0001,\n"
                   "042021,5002,H2,乙,オツ,1971-01-01,女,世帯主,,新乙住所,,0225-11-0002,\n"));
  auto all = FindConflicts(*node_, {});
  ASSERT_TRUE(all.ok()) << all.status().message();
  ASSERT_EQ(all->size(), 4u);
  auto phones = FindConflicts(*node_, {"", "phone"});
  ASSERT_EQ(phones->size(), 2u);
  for (const Conflict& c : *phones) EXPECT_EQ(c.field, uint32_t(v1::Resident::kPhoneFieldNumber));
  auto one = FindConflicts(*node_, {"5001", ""});  // a code alone, as a clerk types it
  ASSERT_EQ(one->size(), 2u);
  for (const Conflict& c : *one) EXPECT_EQ(c.key, "042021:5001");
  EXPECT_EQ(FindConflicts(*node_, {"", "phne"})
                .status()
                .message()
                .rfind("no record has a field \"phne\" (a resident's: household, name,", 0),
            0u);
  EXPECT_FALSE(FindConflicts(*node_, {"042020:1", ""}).ok());

  std::vector<std::string> ids;
  for (const Conflict& c : *phones) ids.push_back(c.id);
  ids.push_back(ids.front());
  ConflictsResolved done;
  ASSERT_TRUE(ResolveConflicts(*node_, ids, /*keep_shown=*/false, &done).ok());
  EXPECT_EQ(done.resolved, std::vector<std::string>(ids.begin(), ids.begin() + 2));
  EXPECT_EQ(done.not_open, std::vector<std::string>{ids.front()});
  EXPECT_TRUE(done.headless.empty());
  for (const char* key : {"042021:5001", "042021:5002"}) {
    EXPECT_EQ((*GetResident(*node_, key))->resident.phone(), "090-0000-0000") << key;
  }
  EXPECT_TRUE(FindConflicts(*node_, {"", "phone"})->empty());
  EXPECT_EQ(FindConflicts(*node_, {})->size(), 2u);  // the addresses are left
  ConflictsResolved rest;
  std::vector<std::string> addresses;
  auto left = FindConflicts(*node_, {});
  for (const Conflict& c : *left) addresses.push_back(c.id);
  ASSERT_TRUE(ResolveConflicts(*node_, addresses, /*keep_shown=*/true, &rest).ok());
  EXPECT_EQ(rest.resolved.size() + rest.not_open.size(), 2u);
  EXPECT_EQ(Address("042021:5001"), "新住所");
  EXPECT_TRUE(FindConflicts(*node_, {})->empty());
}

// A re-import validates the file beside writing it: a problem found after more rows than one
// commit holds (a bad row late in the file, or a code repeated, found only at its end) still
// leaves the store as it was; a valid file is then written in several commits.
// Registers imported again and again at the town hall (fields changed or not, residents left
// out, the phone column left out), edits and an officer's resolutions there or at a shelter
// node, each step's changes exchanged between the two as bundles, in an order drawn from a
// seed, against a model of the three-way update: a field changes only where the register changed
// it since its last import; where a node changed it too, the register's value is shown and the
// node's kept as a conflict; a resolution is a node's write that settles one conflict; a write
// that sees the value shown overwrites the concurrent values equal to it as well (they are one
// value). After each step, on both nodes, every resident's fields and the open conflicts are the
// model's, and the state hashes are equal.
TEST_F(ResidentTest, ReimportsAndEditsAgreeWithAModelOfTheThreeWayUpdate) {
  struct Field {
    std::string shown;
    bool from_register = true;        // the register wrote the value shown (or nothing did)
    std::optional<std::string> base;  // what the register said before a node's edit
    std::vector<std::string> others;  // values written concurrently with the one shown
  };
  const char* const kNames[] = {"address", "phone"};
  const uint32_t kNumbers[] = {v1::Resident::kAddressFieldNumber, v1::Resident::kPhoneFieldNumber};
  const std::vector<std::string> kValues[] = {
      {"", "石巻市中央1丁目", "石巻市中央2丁目", "石巻市門脇町", "避難所"},
      {"", "0225-11-0001", "0225-11-0002", "0225-11-0003", "090-0000-0000"}};
  // A register's values: all but the last, which only a node's edit writes.
  const std::array<std::vector<std::string>, 2> kRegisterValues = {
      std::vector<std::string>(kValues[0].begin(), kValues[0].end() - 1),
      std::vector<std::string>(kValues[1].begin(), kValues[1].end() - 1)};
  // A write that saw the value shown: it names that value's writes, shown or not.
  auto overwrite = [](Field& m, const std::string& v, bool from_register) {
    m.others.erase(std::remove(m.others.begin(), m.others.end(), m.shown), m.others.end());
    if (m.from_register && !from_register) m.base = m.shown;
    if (from_register) m.base.reset();
    m.shown = v;
    m.from_register = from_register;
  };
  auto text = [&](int f, const std::string& encoded) {
    v1::Resident r;
    EXPECT_TRUE(r.ParseFromString(encoded));
    return f == 0 ? r.address() : r.phone();
  };
  uint64_t conflicts_seen = 0, resolutions = 0;  // that the seeds reach them
  for (uint64_t seed = 1; seed <= 12; ++seed) {
    SCOPED_TRACE(fmt::format("seed {}", seed));
    std::mt19937_64 rng(seed);
    auto pick = [&](size_t n) { return size_t(rng() % n); };
    std::unique_ptr<Node> nodes[2] = {
        NodeUnderRoot(fmt::format("model-{}-0", seed), "042021-honcho"),
        NodeUnderRoot(fmt::format("model-{}-1", seed), "042021-shelter")};
    ASSERT_TRUE(nodes[0] && nodes[1]);
    Node& hall = *nodes[0];
    std::map<std::string, std::array<Field, 2>> model;  // by resident code
    for (int step = 0; step < 40; ++step) {
      SCOPED_TRACE(fmt::format("step {}", step));
      const size_t what = pick(10);
      if (what < 5 || model.empty()) {
        const auto [csv, phone_column, rows] = DrawRegister(rng, 5, 8, kRegisterValues, 5);
        ImportOptions o;
        o.path = Write("model.csv", csv);
        auto r = ImportResidents(hall, o);
        ASSERT_TRUE(r.ok()) << r.status().message();
        for (const auto& [code, row] : rows) {
          const bool is_new = !model.count(code);
          auto& fields = model[code];
          for (int f = 0; f < 2; ++f) {
            if (f == 1 && !phone_column) continue;
            Field& m = fields[f];
            if (is_new || row[f] == m.shown) {
              m.shown = row[f];
              continue;
            }
            if (m.from_register) {
              overwrite(m, row[f], true);
            } else if (m.base.value_or("") != row[f]) {
              // Both changed it: the register's write sees nothing, the node's value is kept.
              m.others.push_back(m.shown);
              m.shown = row[f];
              m.from_register = true;
              m.base.reset();
            }
          }
        }
      } else if (what < 8) {
        auto it = std::next(model.begin(), long(pick(model.size())));
        const int f = int(pick(2));
        Field& m = it->second[f];
        const std::string v = kValues[f][1 + pick(kValues[f].size() - 1)];
        if (v == m.shown) continue;
        Status st = UpdateResident(*nodes[pick(2)], "042021:" + it->first, {{kNames[f], v}});
        ASSERT_TRUE(st.ok()) << st.message();
        overwrite(m, v, false);
      } else {
        Store& store = nodes[pick(2)]->store();
        auto open = store.ListConflicts(v1::ENTITY_RESIDENT);
        ASSERT_TRUE(open.ok());
        if (open->empty()) continue;
        const Conflict c = (*open)[pick(open->size())];
        const std::string chosen = pick(2) ? c.other.value : c.shown.value;
        ASSERT_TRUE(store.BeginWrite("officer").ok());
        ASSERT_TRUE(store
                        .Put(c.other.scope, c.entity, c.key, {{c.field, chosen}},
                             v1::OP_SOURCE_USER, {{c.field, c.other.dot}})
                        .ok());
        ASSERT_TRUE(store.CommitWrite().ok());
        ++resolutions;
        const int f = c.field == kNumbers[0] ? 0 : 1;
        Field& m = model[c.key.substr(7)][f];
        auto other = std::find(m.others.begin(), m.others.end(), text(f, c.other.value));
        ASSERT_NE(other, m.others.end());
        m.others.erase(other);
        overwrite(m, text(f, chosen), false);
      }
      Send(*nodes[1], *nodes[0]);
      Send(*nodes[0], *nodes[1]);
      std::multiset<std::string> expected;
      for (const auto& [code, fields] : model) {
        for (int f = 0; f < 2; ++f) {
          for (const std::string& v : fields[f].others) {
            if (v != fields[f].shown) expected.insert(fmt::format("{} {} {}", code, kNames[f], v));
          }
        }
      }
      for (auto& node : nodes) {
        SCOPED_TRACE(node->node_id());
        for (const auto& [code, fields] : model) {
          auto r = GetResident(*node, "042021:" + code);
          ASSERT_TRUE(r.ok() && *r) << code;
          EXPECT_EQ((*r)->resident.address(), fields[0].shown) << code;
          EXPECT_EQ((*r)->resident.phone(), fields[1].shown) << code;
        }
        std::multiset<std::string> held;
        auto open = node->store().ListConflicts(v1::ENTITY_RESIDENT);
        ASSERT_TRUE(open.ok());
        for (const Conflict& c : *open) {
          const int f = c.field == kNumbers[0] ? 0 : 1;
          EXPECT_EQ(text(f, c.shown.value), model[c.key.substr(7)][f].shown);
          held.insert(fmt::format("{} {} {}", c.key.substr(7), kNames[f], text(f, c.other.value)));
        }
        ASSERT_EQ(held, expected);
      }
      ASSERT_EQ(*nodes[0]->store().StateHash(), *nodes[1]->store().StateHash());
      conflicts_seen += expected.size();
    }
    for (auto& node : nodes) {
      auto report = node->store().Doctor((dir_ / "scratch.db").string());
      ASSERT_TRUE(report.ok());
      EXPECT_TRUE(report->problems.empty()) << report->problems[0];
    }
  }
  EXPECT_GT(conflicts_seen, 20u);
  EXPECT_GT(resolutions, 5u);
}

// A dry run imports the file in a transaction it rolls back: its report is what the import
// then does (rows, rows changed, ops, conflicts), and it keeps nothing: the same state hash, the
// same op-log, and the HLC high-water mark not persisted.
TEST_F(ResidentTest, ADryRunSaysWhatAnImportWouldDoAndKeepsNothing) {
  Import(Write("v1.csv", std::string(kHeader) +
                             "042021,6001,H1,甲,コウ,1970-01-01,男,世帯主,,旧住所,,,\n"
                             "042021,6002,H2,乙,オツ,1971-01-01,女,世帯主,,乙住所,,,\n"));
  ASSERT_TRUE(UpdateResident(*node_, "042021:6001", {{"address", "訂正住所"}}).ok());
  const std::string v2 =
      Write("v2.csv", std::string(kHeader) +
                          "042021,6001,H1,甲,コウ,1970-01-01,男,世帯主,,新住所,,,\n"
                          "042021,6002,H2,乙,オツ,1971-01-01,女,世帯主,,乙住所,,,\n"
                          "042021,6003,H3,丙,ヘイ,1972-01-01,男,世帯主,,丙住所,,,\n");
  const std::string before = *node_->store().StateHash();
  const auto vector = *node_->store().Vector();
  const auto high_water = *node_->store().GetMetaNumber("hlc");
  ImportOptions o;
  o.path = v2;
  o.dry_run = true;
  auto dry = ImportResidents(*node_, o);
  ASSERT_TRUE(dry.ok()) << dry.status().message();
  EXPECT_EQ(*node_->store().StateHash(), before);
  EXPECT_EQ(*node_->store().Vector(), vector);
  EXPECT_FALSE(node_->store().writing());
  EXPECT_EQ(*node_->store().GetMetaNumber("hlc"), high_water);
  EXPECT_EQ(Address("042021:6001"), "訂正住所");
  EXPECT_FALSE(GetResident(*node_, "042021:6003")->has_value());

  ImportReport done = Import(v2);
  EXPECT_EQ(dry->rows, done.rows);
  EXPECT_EQ(dry->imported, done.imported);
  EXPECT_EQ(dry->changed, done.changed);
  EXPECT_EQ(dry->ops, done.ops);
  EXPECT_EQ(dry->conflicts, done.conflicts);
  EXPECT_EQ(dry->conflicts_listed, done.conflicts_listed);
  EXPECT_EQ(done.conflicts_listed,
            std::vector<std::string>(
                {"042021:6001 address: the register's \"新住所\", the node's \"訂正住所\""}));
  EXPECT_EQ(done.changed, 2u);  // 6001 (the conflict, and its household's address) and 6003
  EXPECT_EQ(done.conflicts, 1u);

  o.rejects_path = (dir_ / "r.csv").string();
  auto both = ImportResidents(*node_, o);
  ASSERT_FALSE(both.ok());
  EXPECT_EQ(both.status().message(), "a dry run neither only checks nor skips invalid rows");
}

// A household has one 世帯主, whom its record names. An edit that would make a second one is
// refused, naming the first; the head changes in two edits (the old 世帯主 first), the household's
// record naming the new one (the old one between them, who heads it no longer: found); moving a
// 世帯主 out leaves the household without one. The register imported again, unchanged, keeps all of
// it. Two nodes cut off from each other that each make another member the 世帯主 write the
// household's head concurrently: a conflict on both, for an officer.
TEST_F(ResidentTest, AHouseholdKeepsOneHeadThroughEdits) {
  const std::string v1 = Write("h.csv",
                               "resident_code,household_code,name,birth_date,sex,relationship\n"
                               "8201,H1,甲,1960-01-01,男,世帯主\n"
                               "8202,H1,乙,1962-01-01,女,妻\n"
                               "8203,H1,丙,1990-01-01,男,子\n"
                               "8204,H2,丁,1950-01-01,男,世帯主\n");
  Import(v1);
  EXPECT_EQ(Head(*node_, "042021:H1"), "042021:8201");
  const std::string before = *node_->store().StateHash();
  Status second = UpdateResident(*node_, "042021:8202", {{"relationship", "世帯主"}});
  EXPECT_EQ(second.message(),
            "relationship: household 042021:H1 has a 世帯主 already, 042021:8201: change their "
            "relationship first");
  EXPECT_EQ(*node_->store().StateHash(), before);

  std::vector<std::string> headless;
  ASSERT_TRUE(UpdateResident(*node_, "042021:8201", {{"relationship", "夫"}}, &headless).ok());
  EXPECT_EQ(Head(*node_, "042021:H1"), "042021:8201");  // its last, until the next is named
  EXPECT_EQ(headless, std::vector<std::string>({"042021:H1"}));
  EXPECT_EQ(HeadProblems(*node_), "042021:H1 [] named 042021:8201");
  ASSERT_TRUE(UpdateResident(*node_, "042021:8202", {{"relationship", "世帯主"}}).ok());
  EXPECT_EQ(Head(*node_, "042021:H1"), "042021:8202");
  EXPECT_EQ(HeadProblems(*node_), "");

  // Into a household that has its 世帯主: refused; a 世帯主 moving out leaves none behind.
  EXPECT_FALSE(
      UpdateResident(*node_, "042021:8203", {{"household", "H2"}, {"relationship", "世帯主"}})
          .ok());
  EXPECT_FALSE(UpdateResident(*node_, "042021:8204", {{"household", "H1"}}).ok());
  ASSERT_TRUE(
      UpdateResident(*node_, "042021:8204", {{"household", "H1"}, {"relationship", "父"}}).ok());
  EXPECT_EQ(Head(*node_, "042021:H2"), "042021:8204");  // nobody lives there: no problem
  EXPECT_EQ(HeadProblems(*node_), "");
  EXPECT_EQ(Head(*node_, "042021:H1"), "042021:8202");
  // A member moving into a household new to the node: the edit says it has no 世帯主; moving
  // back into one with its 世帯主 says nothing.
  headless.clear();
  ASSERT_TRUE(UpdateResident(*node_, "042021:8203", {{"household", "H9"}}, &headless).ok());
  EXPECT_EQ(headless, std::vector<std::string>({"042021:H9"}));
  EXPECT_EQ(HeadProblems(*node_), "042021:H9 [] named ");
  headless.clear();
  ASSERT_TRUE(UpdateResident(*node_, "042021:8203", {{"household", "H1"}}, &headless).ok());
  EXPECT_TRUE(headless.empty());
  EXPECT_EQ(HeadProblems(*node_), "");

  ImportReport again = Import(v1);
  EXPECT_EQ(again.changed, 0u);
  EXPECT_EQ(Head(*node_, "042021:H1"), "042021:8202");
  EXPECT_EQ((*GetResident(*node_, "042021:8201"))->resident.relationship(), "夫");
  auto report = node_->Doctor();
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->problems.empty());

  // Cut off, a town hall and a shelter each make another member the 世帯主.
  auto [hall, shelter] = TwoNodesHolding(v1);
  ASSERT_TRUE(hall && shelter);
  ASSERT_TRUE(UpdateResident(*hall, "042021:8201", {{"relationship", "夫"}}).ok());
  ASSERT_TRUE(UpdateResident(*hall, "042021:8202", {{"relationship", "世帯主"}}).ok());
  ASSERT_TRUE(UpdateResident(*shelter, "042021:8201", {{"relationship", "父"}}).ok());
  ASSERT_TRUE(UpdateResident(*shelter, "042021:8203", {{"relationship", "世帯主"}}).ok());
  Send(*shelter, *hall);
  Send(*hall, *shelter);
  EXPECT_EQ(*hall->store().StateHash(), *shelter->store().StateHash());
  for (Node* node : {hall.get(), shelter.get()}) {
    SCOPED_TRACE(node->node_id());
    auto open = node->store().ListConflicts(v1::ENTITY_HOUSEHOLD, "042021:H1");
    ASSERT_TRUE(open.ok());
    ASSERT_EQ(open->size(), 1u);
    EXPECT_EQ((*open)[0].field, uint32_t(v1::Household::kHeadFieldNumber));
    v1::Household shown, other;
    ASSERT_TRUE(shown.ParseFromString((*open)[0].shown.value));
    ASSERT_TRUE(other.ParseFromString((*open)[0].other.value));
    EXPECT_EQ(std::set<std::string>({shown.head(), other.head()}),
              std::set<std::string>({"042021:8202", "042021:8203"}));
    // Both are 世帯主 now, whichever the record shows: found on both nodes alike.
    EXPECT_EQ(HeadProblems(*node), "042021:H1 [042021:8202, 042021:8203] named " + shown.head());
    auto doctor = node->Doctor();
    ASSERT_TRUE(doctor.ok());
    EXPECT_EQ(std::count(doctor->warnings.begin(), doctor->warnings.end(),
                         "a household has no 世帯主, more than one, or one its record does not "
                         "name (bosai conflicts list)"),
              1);
  }
  // An officer settles it at the hall: 8203 is not the 世帯主, and the record names 8202 (its
  // head follows when it named 8203).
  std::vector<std::string> left;
  ASSERT_TRUE(UpdateResident(*hall, "042021:8203", {{"relationship", "子"}}, &left).ok());
  EXPECT_TRUE(left.empty());
  Send(*hall, *shelter);
  for (Node* node : {hall.get(), shelter.get()}) {
    SCOPED_TRACE(node->node_id());
    EXPECT_EQ(Head(*node, "042021:H1"), "042021:8202");
    EXPECT_EQ(HeadProblems(*node), "");
  }
}

// A household's address is its 世帯主's, as an import writes it from the 世帯主's row: an edit of
// the 世帯主's address, or a new 世帯主, writes it to the household too; a member's does not.
// When a register and a node both changed it, the 世帯主's address conflicts and the household's
// follows it; when two nodes did, both conflict, and resolving either settles both.
TEST_F(ResidentTest, AHouseholdsAddressIsIts世帯主s) {
  const std::string header =
      "resident_code,household_code,name,birth_date,sex,relationship,address\n";
  const std::string v1 = Write("v1.csv", header +
                                             "8201,H1,甲,1960-01-01,男,世帯主,石巻市中央1丁目\n"
                                             "8202,H1,乙,1962-01-01,女,妻,石巻市中央1丁目\n");
  Import(v1);
  auto household = [&] {
    v1::Household h;
    auto body = node_->store().GetBody(v1::ENTITY_HOUSEHOLD, "042021:H1");
    EXPECT_TRUE(body.ok() && *body && h.ParseFromString(**body));
    return h.head() + " " + h.address();
  };
  ASSERT_TRUE(UpdateResident(*node_, "042021:8201", {{"address", "石巻市中央2丁目"}}).ok());
  EXPECT_EQ(household(), "042021:8201 石巻市中央2丁目");
  ASSERT_TRUE(UpdateResident(*node_, "042021:8202", {{"address", "石巻市中央3丁目"}}).ok());
  EXPECT_EQ(household(), "042021:8201 石巻市中央2丁目");
  // The register moves 8201 too: 8201's address conflicts, and the household's follows the
  // address shown, then the one kept.
  ImportReport v2 =
      Import(Write("v2.csv", header + "8201,H1,甲,1960-01-01,男,世帯主,石巻市門脇町\n"));
  EXPECT_EQ(v2.conflicts, 1u);
  EXPECT_EQ(household(), "042021:8201 石巻市門脇町");
  auto open = node_->store().ListConflicts();
  ASSERT_TRUE(open.ok());
  ASSERT_EQ(open->size(), 1u);
  EXPECT_EQ((*open)[0].key, "042021:8201");
  ASSERT_TRUE(ResolveConflict(*node_, (*open)[0], (*open)[0].other.value).ok());
  EXPECT_TRUE(node_->store().ListConflicts()->empty());
  EXPECT_EQ(Address("042021:8201"), "石巻市中央2丁目");
  EXPECT_EQ(household(), "042021:8201 石巻市中央2丁目");
  // Two nodes apart move 8201 each elsewhere: both records conflict on both nodes; keeping the
  // other value of the household's keeps it on 8201's as well, everywhere.
  auto [hall, shelter] = TwoNodesHolding(v1);
  ASSERT_TRUE(hall && shelter);
  ASSERT_TRUE(UpdateResident(*hall, "042021:8201", {{"address", "石巻市門脇町"}}).ok());
  ASSERT_TRUE(UpdateResident(*shelter, "042021:8201", {{"address", "石巻市中央4丁目"}}).ok());
  Send(*hall, *shelter);
  Send(*shelter, *hall);
  auto both = shelter->store().ListConflicts();
  ASSERT_TRUE(both.ok());
  ASSERT_EQ(both->size(), 2u);
  auto on_household = shelter->store().ListConflicts(v1::ENTITY_HOUSEHOLD, "042021:H1");
  ASSERT_TRUE(on_household.ok());
  ASSERT_EQ(on_household->size(), 1u);
  const Conflict& c = (*on_household)[0];
  v1::Household other;
  ASSERT_TRUE(other.ParseFromString(c.other.value));
  ASSERT_TRUE(ResolveConflict(*shelter, c, c.other.value).ok());
  Send(*shelter, *hall);
  for (Node* n : {hall.get(), shelter.get()}) {
    EXPECT_TRUE(n->store().ListConflicts()->empty());
    EXPECT_EQ((*GetResident(*n, "042021:8201"))->resident.address(), other.address());
    v1::Household h;
    ASSERT_TRUE(h.ParseFromString(**n->store().GetBody(v1::ENTITY_HOUSEHOLD, "042021:H1")));
    EXPECT_EQ(h.address(), other.address());
  }
  EXPECT_EQ(*hall->store().StateHash(), *shelter->store().StateHash());
  // A new 世帯主 brings their address.
  ASSERT_TRUE(UpdateResident(*node_, "042021:8201", {{"relationship", "夫"}}).ok());
  ASSERT_TRUE(UpdateResident(*node_, "042021:8202", {{"relationship", "世帯主"}}).ok());
  EXPECT_EQ(household(), "042021:8202 石巻市中央3丁目");
}

// A partial register (rows of some residents only) updates those rows and removes nothing: a
// household written from a row that is not its 世帯主's keeps its head and address, which the
// 世帯主's row gives (it was left without a head, and took the member's address).
TEST_F(ResidentTest, APartialRegisterWithoutThe世帯主RowKeepsTheHousehold) {
  const std::string header =
      "resident_code,household_code,name,birth_date,sex,relationship,address\n";
  Import(Write("full.csv", header + "8201,H1,甲,1960-01-01,男,世帯主,石巻市中央1丁目\n"
                                    "8202,H1,乙,1962-01-01,女,妻,石巻市中央1丁目\n"));
  auto household = [&] {
    v1::Household h;
    auto body = node_->store().GetBody(v1::ENTITY_HOUSEHOLD, "042021:H1");
    EXPECT_TRUE(body.ok() && *body && h.ParseFromString(**body));
    return h.head() + " " + h.address();
  };
  ImportReport partial =
      Import(Write("part.csv", header + "8202,H1,乙,1962-01-01,女,妻,石巻市中央2丁目\n"));
  EXPECT_EQ(partial.changed, 1u);
  EXPECT_EQ(Address("042021:8202"), "石巻市中央2丁目");
  EXPECT_EQ(household(), "042021:8201 石巻市中央1丁目");
  EXPECT_EQ(HeadProblems(*node_), "");
  EXPECT_TRUE(node_->store().ListConflicts()->empty());
  // The 世帯主's row moves the household.
  Import(Write("moved.csv", header + "8201,H1,甲,1960-01-01,男,世帯主,石巻市中央3丁目\n"));
  EXPECT_EQ(household(), "042021:8201 石巻市中央3丁目");
  // A file in which the 世帯主 has died, naming no new one, leaves the household without a
  // living one (its record names the last, as after an edit), which is found; the next names
  // the new one; the 世帯主 changes in one file, whichever row comes first.
  const std::string with_status =
      "resident_code,household_code,name,birth_date,sex,relationship,address,status\n";
  Import(Write("died.csv", with_status + "8201,H1,甲,1960-01-01,男,世帯主,石巻市中央3丁目,死亡\n"));
  EXPECT_EQ(household(), "042021:8201 石巻市中央3丁目");
  auto found = HouseholdHeadProblemOf(*node_, "H1");
  ASSERT_TRUE(found.ok() && *found);
  EXPECT_EQ((*found)->Describe(),
            "household 042021:H1 has no 世帯主 among its residents (its record still names "
            "042021:8201)");
  Import(Write("new.csv", with_status + "8202,H1,乙,1962-01-01,女,世帯主,石巻市中央3丁目,住民\n"));
  EXPECT_EQ(household(), "042021:8202 石巻市中央3丁目");
  // 8202 gives way to 8201 in one file, in either order of the rows, and back.
  for (bool taker_first : {true, false}) {
    SCOPED_TRACE(taker_first ? "the new 世帯主's row first" : "the old 世帯主's row first");
    const std::string gives_way = "8202,H1,乙,1962-01-01,女,妻,石巻市中央3丁目,住民\n";
    const std::string takes = "8201,H1,甲,1960-01-01,男,世帯主,石巻市中央3丁目,住民\n";
    Import(Write("swap.csv", with_status + (taker_first ? takes + gives_way : gives_way + takes)));
    EXPECT_EQ(household(), "042021:8201 石巻市中央3丁目");
    EXPECT_EQ(HeadProblems(*node_), "");
    Import(Write("back.csv", with_status + "8201,H1,甲,1960-01-01,男,夫,石巻市中央3丁目,住民\n" +
                                 "8202,H1,乙,1962-01-01,女,世帯主,石巻市中央3丁目,住民\n"));
    EXPECT_EQ(household(), "042021:8202 石巻市中央3丁目");
    EXPECT_EQ(HeadProblems(*node_), "");
  }
  EXPECT_TRUE(node_->store().ListConflicts()->empty());
}

// A register's rows imported again change nothing, whichever of them a file holds and in any
// order: a household whose 世帯主's row is left out keeps its head and address.
TEST_F(ResidentTest, AnySubsetOfTheSameRegisterChangesNothing) {
  const std::string full = Generated(300, 7);
  Import(full);
  const std::string hash = *node_->store().StateHash();
  ASSERT_EQ(HeadProblems(*node_), "");
  std::ifstream in(full);
  std::string header, line;
  std::getline(in, header);
  std::vector<std::string> rows;
  while (std::getline(in, line)) rows.push_back(line);
  std::mt19937_64 rng(7);
  for (int round = 0; round < 20; ++round) {
    SCOPED_TRACE(fmt::format("round {}", round));
    std::shuffle(rows.begin(), rows.end(), rng);
    std::string text = header + "\n";
    const size_t n = 1 + rng() % rows.size();
    for (size_t i = 0; i < n; ++i) text += rows[i] + "\n";
    ImportReport again = Import(Write("subset.csv", text));
    EXPECT_EQ(again.imported, n);
    EXPECT_EQ(again.changed, 0u);
    EXPECT_EQ(again.ops, 0u);
    EXPECT_EQ(*node_->store().StateHash(), hash);
  }
  EXPECT_EQ(HeadProblems(*node_), "");
}

// The scan of every household (doctor, conflicts list) finds none wrong in a register of
// thousands of households, and then exactly the ones a register left without a 世帯主, whichever
// they are in the order the scan met them.
TEST_F(ResidentTest, AmongThousandsOfHouseholdsTheOnesLeftWithoutAHeadAreFound) {
  const std::string path = Generated(5000, 13);
  ASSERT_EQ(Import(path).imported, 5000u);
  ASSERT_EQ(HeadProblems(*node_), "");
  std::ifstream in(path);
  std::string header, line;
  std::getline(in, header);
  std::vector<std::vector<std::string>> heads;  // the rows of the 世帯主, in file order
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string x; std::getline(ss, x, ',');) f.push_back(x);
    if (f.size() > 7 && f[7] == "世帯主") heads.push_back(f);
  }
  ASSERT_GT(heads.size(), 2000u);  // more households than the first tally's slots
  std::string text = header + "\n";
  std::vector<std::string> expected;
  for (size_t i : {size_t(0), heads.size() / 2, heads.size() - 1}) {
    std::vector<std::string> f = heads[i];
    f[7] = "子";
    text += fmt::format("{}\n", fmt::join(f, ","));
    expected.push_back(fmt::format("042021:{} [] named 042021:{}", f[2], f[1]));
  }
  ASSERT_EQ(Import(Write("demoted.csv", text)).imported, 3u);
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(HeadProblems(*node_), fmt::format("{}", fmt::join(expected, "\n")));
}

// What a node holds, exported and read back into it, changes nothing, whatever clerks edited
// before: addresses, phones, My Numbers, who died or moved out, who is 世帯主.
TEST_F(ResidentTest, AnExportReadBackAfterEditsChangesNothing) {
  const std::string full = Generated(200, 11);
  Import(full);
  std::vector<std::string> keys;  // the register's residents, from its second column
  std::ifstream in(full);
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) keys.push_back("042021:" + line.substr(7, line.find(',', 7) - 7));
  std::mt19937_64 rng(11);
  auto pick = [&](size_t n) { return size_t(rng() % n); };
  uint64_t edits = 0;
  for (int round = 0; round < 6; ++round) {
    SCOPED_TRACE(fmt::format("round {}", round));
    for (int i = 0; i < 15; ++i) {
      const std::string& key = keys[pick(keys.size())];
      std::vector<std::pair<std::string, std::string>> set;
      switch (pick(6)) {
        case 0:
          set = {{"address", fmt::format("石巻市中央{}丁目", 1 + pick(4))}};
          break;
        case 1:
          set = {{"phone", fmt::format("0225-11-{:04}", pick(10000))}};
          break;
        case 2:
          set = {{"status", pick(2) ? "死亡" : "転出"}};
          break;
        case 3:
          set = {{"status", "住民"}};
          break;
        case 4:
          set = {{"relationship", pick(2) ? "世帯主" : "子"}};
          break;
        default:
          set = {{"my_number", ""}};
          break;
      }
      Status st = UpdateResident(*node_, key, set);
      ASSERT_TRUE(st.ok() || st.message().starts_with("relationship: household")) << st.message();
      edits += st.ok();
    }
    for (bool reveal : {true, false}) {
      SCOPED_TRACE(reveal ? "with My Numbers" : "without");
      ExportOptions out;
      out.path = (dir_ / "export.csv").string();
      out.reveal_my_number = reveal;
      ASSERT_TRUE(ExportResidents(*node_, out).ok());
      const std::string before = *node_->store().StateHash();
      ImportReport back = Import(out.path);
      EXPECT_EQ(back.problem_count, 0u) << (back.problems.empty() ? "" : back.problems[0]);
      EXPECT_EQ(back.changed, 0u);
      EXPECT_EQ(back.ops, 0u);
      EXPECT_EQ(*node_->store().StateHash(), before);
    }
  }
  EXPECT_GT(edits, 60u);
}

// Next year's register restructures households as a municipality's does: a member moves to
// another household or founds one, a 世帯主 dies or moves out and another member heads the
// household, two households become one, a 世帯主 moves the household, the 世帯主 changes, a
// newcomer joins. Imported whole onto the node holding last year's register, or only its changed
// rows in any order, it leaves that node holding what a node that imported only the new register
// holds: the same residents, each household headed by its living 世帯主 at their address, and
// no household without exactly one.
TEST_F(ResidentTest, ARegisterThatRestructuresHouseholdsIsHeldAsByANodeThatReadOnlyIt) {
  enum { kCode = 1, kHousehold = 2, kRelationship = 7, kPostal = 8, kAddress = 9, kStatus = 13 };
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    SCOPED_TRACE(fmt::format("seed {}", seed));
    std::mt19937_64 rng(seed);
    auto pick = [&](size_t n) { return size_t(rng() % n); };
    using Row = std::vector<std::string>;
    auto read = [](const std::string& path) {
      std::ifstream in(path);
      std::string line;
      std::getline(in, line);  // the header
      std::vector<Row> rows;
      while (std::getline(in, line)) {
        Row row;
        for (size_t at = 0, comma; at <= line.size(); at = comma + 1) {
          comma = std::min(line.find(',', at), line.size());
          row.push_back(line.substr(at, comma - at));
        }
        row.push_back("住民");
        rows.push_back(std::move(row));
      }
      return rows;
    };
    const std::vector<Row> v1 = read(Generated(300, seed));
    std::vector<Row> newcomers = read(Generated(20, seed + 100));
    std::vector<Row> v2 = v1;
    auto living = [&](const std::string& household) {
      std::vector<size_t> found;
      for (size_t i = 0; i < v2.size(); ++i) {
        if (v2[i][kHousehold] == household && v2[i][kStatus] == "住民") found.push_back(i);
      }
      return found;
    };
    auto head_of = [&](const std::string& household) -> std::optional<size_t> {
      for (size_t i : living(household)) {
        if (v2[i][kRelationship] == "世帯主") return i;
      }
      return std::nullopt;
    };
    auto headed = [&] {  // the households with a living 世帯主
      std::set<std::string> found;
      for (const Row& r : v2) {
        if (r[kStatus] == "住民" && r[kRelationship] == "世帯主") found.insert(r[kHousehold]);
      }
      return std::vector<std::string>(found.begin(), found.end());
    };
    auto move_to = [&](size_t i, const std::string& household, const std::string& relationship) {
      const size_t head = *head_of(household);
      v2[i][kHousehold] = household;
      v2[i][kRelationship] = relationship;
      v2[i][kAddress] = v2[head][kAddress];
      v2[i][kPostal] = v2[head][kPostal];
    };
    for (int change = 0; change < 40; ++change) {
      const auto households = headed();
      const std::string& h = households[pick(households.size())];
      const std::string& other = households[pick(households.size())];
      const size_t head = *head_of(h);
      std::vector<size_t> members = living(h);
      std::erase(members, head);
      const size_t member = members.empty() ? head : members[pick(members.size())];
      const std::string new_address = fmt::format("宮城県石巻市新館{}丁目{}番1号", change, seed);
      switch (pick(7)) {
        case 0:  // a member joins another household
          if (member != head && other != h) move_to(member, other, "同居人");
          break;
        case 1:  // a member founds a household of their own
          if (member != head) {
            v2[member][kHousehold] = fmt::format("{}", 8000000000 + change);
            v2[member][kRelationship] = "世帯主";
            v2[member][kAddress] = new_address;
            v2[member][kPostal] = "9860000";
          }
          break;
        case 2:  // the 世帯主 dies or moves out; another member heads the household, if any
          v2[head][kStatus] = pick(2) ? "死亡" : "転出";
          if (member != head) v2[member][kRelationship] = "世帯主";
          break;
        case 3:  // two households become one
          if (other != h) {
            for (size_t i : living(h)) {
              if (i != head) move_to(i, other, v2[i][kRelationship]);
            }
            move_to(head, other, "同居人");
          }
          break;
        case 4:  // the household moves
          for (size_t i : living(h)) {
            v2[i][kAddress] = new_address;
            v2[i][kPostal] = "9868501";
          }
          break;
        case 5:  // another member becomes 世帯主
          if (member != head) {
            v2[head][kRelationship] = v2[member][kRelationship] == "妻" ? "夫" : "父";
            v2[member][kRelationship] = "世帯主";
          }
          break;
        default:  // a newcomer joins a household
          if (!newcomers.empty()) {
            v2.push_back(std::move(newcomers.back()));
            newcomers.pop_back();
            v2.back()[kCode] = fmt::format("{}", 90000000000 + change);
            v2.back()[kHousehold] = h;
            move_to(v2.size() - 1, h, "同居人");
          }
          break;
      }
    }
    const std::string header =
        "municipality_code,resident_code,household_code,name,name_kana,birth_date,sex,"
        "relationship,postal_code,address,my_number,phone,resident_since,status\n";
    auto text = [](const Row& r) { return fmt::format("{}\n", fmt::join(r, ",")); };
    std::string whole = header, changed = header;
    std::vector<std::string> changed_rows;
    for (size_t i = 0; i < v2.size(); ++i) {
      whole += text(v2[i]);
      if (i >= v1.size() || v1[i] != v2[i]) changed_rows.push_back(text(v2[i]));
    }
    std::shuffle(changed_rows.begin(), changed_rows.end(), rng);
    for (const std::string& row : changed_rows) changed += row;
    // The changed rows in two files, as two months' 異動 files have them.
    std::string first_half = header, second_half = header;
    for (size_t i = 0; i < changed_rows.size(); ++i) {
      (i < changed_rows.size() / 2 ? first_half : second_half) += changed_rows[i];
    }
    std::string last_year = header;
    for (const Row& r : v1) last_year += text(r);

    std::unique_ptr<Node> nodes[5] = {NodeUnderRoot(fmt::format("whole-{}", seed), "042021-a"),
                                      NodeUnderRoot(fmt::format("changed-{}", seed), "042021-b"),
                                      NodeUnderRoot(fmt::format("halves-{}", seed), "042021-c"),
                                      NodeUnderRoot(fmt::format("new-{}", seed), "042021-d"),
                                      NodeUnderRoot(fmt::format("edited-{}", seed), "042021-e")};
    auto import = [&](Node& node, const std::string& csv) {
      ImportOptions o;
      o.path = Write("register.csv", csv);
      auto r = ImportResidents(node, o);
      ASSERT_TRUE(r.ok()) << r.status().message();
      ASSERT_EQ(r->problem_count, 0u) << r->problems[0];
    };
    import(*nodes[0], last_year);
    import(*nodes[0], whole);
    import(*nodes[1], last_year);
    import(*nodes[1], changed);
    import(*nodes[2], last_year);
    import(*nodes[2], first_half);
    import(*nodes[2], second_half);
    import(*nodes[3], whole);
    // Clerks recorded some of the changes at the counter before the register had them (the ones
    // an edit allows in the order they came: a second 世帯主 waits for the first to be changed).
    import(*nodes[4], last_year);
    uint64_t edits = 0;
    for (size_t i = 0; i < v1.size(); ++i) {
      if (v1[i] == v2[i] || pick(2)) continue;
      std::vector<std::pair<std::string, std::string>> set;
      for (auto [column, name] : {std::pair{kHousehold, "household"},
                                  {kRelationship, "relationship"},
                                  {kAddress, "address"},
                                  {kPostal, "postal_code"},
                                  {kStatus, "status"}}) {
        if (v1[i][column] != v2[i][column]) set.emplace_back(name, v2[i][column]);
      }
      Status st = UpdateResident(*nodes[4], "042021:" + v2[i][kCode], set);
      ASSERT_TRUE(st.ok() || st.message().starts_with("relationship: household")) << st.message();
      edits += st.ok();
    }
    EXPECT_GT(edits, 0u);
    import(*nodes[4], whole);
    std::set<std::string> households;
    for (const Row& r : v2) households.insert(r[kHousehold]);
    std::map<std::string, std::string> last_years_heads;
    for (const Row& r : v1) {
      if (r[kRelationship] == "世帯主") last_years_heads[r[kHousehold]] = "042021:" + r[kCode];
    }
    std::vector<std::string> exported;
    for (auto& node : nodes) {
      SCOPED_TRACE(node->node_id());
      EXPECT_EQ(HeadProblems(*node), "");
      for (const std::string& h : households) {
        auto body = node->store().GetBody(v1::ENTITY_HOUSEHOLD, "042021:" + h);
        ASSERT_TRUE(body.ok() && *body) << h;
        v1::Household held;
        ASSERT_TRUE(held.ParseFromString(**body));
        const auto head = head_of(h);
        if (!head) {  // nobody lives there now: named as last year, on a node that held it
          const bool held_last_year = node != nodes[3] && last_years_heads.count(h);
          EXPECT_EQ(held.head(), held_last_year ? last_years_heads[h] : "") << h;
          continue;
        }
        EXPECT_EQ(held.head(), "042021:" + v2[*head][kCode]) << h;
        EXPECT_EQ(held.address(), v2[*head][kAddress]) << h;
        EXPECT_EQ(held.postal_code(), v2[*head][kPostal]) << h;
      }
      auto open = node->store().ListConflicts();
      ASSERT_TRUE(open.ok());
      for (const Conflict& c : *open) {
        ADD_FAILURE() << fmt::format("conflict {} {} field {}: shown {} other {}", c.entity, c.key,
                                     c.field,
                                     RenderField(c.entity, c.field, c.shown.value, nullptr, false),
                                     RenderField(c.entity, c.field, c.other.value, nullptr, false));
      }
      ExportOptions out;
      out.path = (dir_ / "export.csv").string();
      out.reveal_my_number = true;
      ASSERT_TRUE(ExportResidents(*node, out).ok());
      std::ifstream in(out.path);
      std::vector<std::string> lines;
      for (std::string line; std::getline(in, line);) lines.push_back(line + "\n");
      std::sort(lines.begin(), lines.end());
      exported.push_back(fmt::format("{}", fmt::join(lines, "")));
    }
    std::vector<std::string> expected;
    for (const Row& r : v2) expected.push_back(text(r));
    expected.push_back(header);
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(exported[0], fmt::format("{}", fmt::join(expected, "")));
    EXPECT_EQ(exported[1], exported[0]);
    EXPECT_EQ(exported[2], exported[0]);
    EXPECT_EQ(exported[3], exported[0]);
    EXPECT_EQ(exported[4], exported[0]);
  }
}

// One who moved out or died stays 世帯主 in the record kept of them (as a 除票 does) but heads the
// household no longer: it is left without a 世帯主, said by the edit and found until a resident
// is made one, which the former 世帯主 does not block. An export of such a household is read back.
TEST_F(ResidentTest, AHouseholdWhose世帯主DiedNeedsANewOne) {
  const std::string register_v1 = Write("h.csv",
                                        "resident_code,household_code,name,birth_date,sex,"
                                        "relationship\n"
                                        "8201,H1,甲,1960-01-01,男,世帯主\n"
                                        "8202,H1,乙,1962-01-01,女,妻\n"
                                        "8203,H1,丙,1990-01-01,男,子\n"
                                        "8204,H2,丁,1950-01-01,男,世帯主\n");
  Import(register_v1);
  std::vector<std::string> headless;
  ASSERT_TRUE(UpdateResident(*node_, "042021:8201", {{"status", "死亡"}}, &headless).ok());
  EXPECT_EQ(headless, std::vector<std::string>({"042021:H1"}));
  EXPECT_EQ(Head(*node_, "042021:H1"), "042021:8201");  // its last, until a new one is named
  EXPECT_EQ((*GetResident(*node_, "042021:8201"))->resident.relationship(), "世帯主");
  // Nobody lives in H2 once its only resident moved out: nothing to say there.
  headless.clear();
  ASSERT_TRUE(UpdateResident(*node_, "042021:8204", {{"status", "転出"}}, &headless).ok());
  EXPECT_TRUE(headless.empty());
  EXPECT_EQ(Head(*node_, "042021:H2"), "042021:8204");
  EXPECT_EQ(HeadProblems(*node_), "042021:H1 [] named 042021:8201");
  // The same of one household, by its code or id.
  auto of_h1 = HouseholdHeadProblemOf(*node_, "H1");
  ASSERT_TRUE(of_h1.ok() && *of_h1);
  EXPECT_EQ((*of_h1)->Describe(),
            "household 042021:H1 has no 世帯主 among its residents (its record still names "
            "042021:8201)");
  auto of_h2 = HouseholdHeadProblemOf(*node_, "042021:H2");
  ASSERT_TRUE(of_h2.ok());
  EXPECT_FALSE(*of_h2);
  auto doctor = node_->Doctor();
  ASSERT_TRUE(doctor.ok());
  EXPECT_TRUE(doctor->problems.empty());
  EXPECT_EQ(std::count(doctor->warnings.begin(), doctor->warnings.end(),
                       "a household has no 世帯主, more than one, or one its record does not "
                       "name (bosai conflicts list)"),
            1);

  ASSERT_TRUE(UpdateResident(*node_, "042021:8202", {{"relationship", "世帯主"}}).ok());
  EXPECT_EQ(Head(*node_, "042021:H1"), "042021:8202");
  EXPECT_EQ(HeadProblems(*node_), "");
  // The same register again (which still has 8201 the 世帯主) changes none of it; the next one,
  // which says what the node did, makes no conflict of it.
  EXPECT_EQ(Import(register_v1).changed, 0u);
  EXPECT_EQ(Head(*node_, "042021:H1"), "042021:8202");
  ImportReport v2 = Import(Write("h2.csv",
                                 "resident_code,household_code,name,birth_date,sex,relationship,"
                                 "status\n"
                                 "8201,H1,甲,1960-01-01,男,世帯主,死亡\n"
                                 "8202,H1,乙,1962-01-01,女,世帯主,住民\n"
                                 "8203,H1,丙,1990-01-01,男,子,住民\n"
                                 "8204,H2,丁,1950-01-01,男,世帯主,転出\n"));
  EXPECT_EQ(v2.problem_count, 0u);
  EXPECT_EQ(Head(*node_, "042021:H1"), "042021:8202");
  EXPECT_EQ(HeadProblems(*node_), "");
  EXPECT_TRUE(node_->store().ListConflicts()->empty());
  // Its members: the 世帯主, the others living there, then the dead one.
  ResidentQuery members;
  members.household = "H1";
  auto found = SearchResidents(*node_, members);
  ASSERT_TRUE(found.ok());
  std::vector<std::string> keys;
  for (const ResidentRecord& m : *found) keys.push_back(m.key);
  EXPECT_EQ(keys, std::vector<std::string>({"042021:8202", "042021:8203", "042021:8201"}));
  EXPECT_FALSE(*HouseholdHeadProblemOf(*node_, "H1"));
  // A death recorded by mistake is undone only once the new 世帯主 is not one.
  EXPECT_EQ(UpdateResident(*node_, "042021:8201", {{"status", "住民"}}).message(),
            "relationship: household 042021:H1 has a 世帯主 already, 042021:8202: change their "
            "relationship first");

  // Its export (two 世帯主 in H1, one of them dead) is a register another node reads back.
  ExportOptions out;
  out.path = (dir_ / "export.csv").string();
  ASSERT_TRUE(ExportResidents(*node_, out).ok());
  std::unique_ptr<Node> other = NodeUnderRoot("other", "042021-shisho");
  ASSERT_TRUE(other);
  ImportOptions o;
  o.path = out.path;
  auto read_back = ImportResidents(*other, o);
  ASSERT_TRUE(read_back.ok()) << read_back.status().message();
  EXPECT_EQ(read_back->problem_count, 0u);
  EXPECT_EQ(Head(*other, "042021:H1"), "042021:8202");
  EXPECT_EQ(HeadProblems(*other), "");
  // Two living ones are still refused.
  o.path = Write("two.csv",
                 "resident_code,household_code,name,birth_date,sex,relationship,status\n"
                 "8301,H3,甲,1960-01-01,男,世帯主,死亡\n"
                 "8302,H3,乙,1962-01-01,女,世帯主,住民\n"
                 "8303,H3,丙,1990-01-01,男,世帯主,住民\n");
  auto twice = ImportResidents(*other, o);
  ASSERT_TRUE(twice.ok());
  EXPECT_EQ(
      twice->problems,
      std::vector<std::string>(
          {o.path + ":4:6: relationship: a second 世帯主 in the household (first on line 3)"}));

  // Cut off, the hall records 8201's death and makes 8202 the 世帯主, and a shelter, later,
  // records the death too: they meet with 8202 the one 世帯主, whom the household names, and no
  // conflict (a death writes nothing to the household: its record named 8201 until 8202).
  auto [hall, shelter] = TwoNodesHolding(Write("h2.csv",
                                               "resident_code,household_code,name,birth_date,sex,"
                                               "relationship\n"
                                               "8201,H1,甲,1960-01-01,男,世帯主\n"
                                               "8202,H1,乙,1962-01-01,女,妻\n"));
  ASSERT_TRUE(hall && shelter);
  ASSERT_TRUE(UpdateResident(*hall, "042021:8201", {{"status", "死亡"}}).ok());
  ASSERT_TRUE(UpdateResident(*hall, "042021:8202", {{"relationship", "世帯主"}}).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(5));  // a later millisecond
  ASSERT_TRUE(UpdateResident(*shelter, "042021:8201", {{"status", "死亡"}}).ok());
  Send(*shelter, *hall);
  Send(*hall, *shelter);
  for (Node* node : {hall.get(), shelter.get()}) {
    SCOPED_TRACE(node->node_id());
    EXPECT_EQ(Head(*node, "042021:H1"), "042021:8202");
    EXPECT_EQ(HeadProblems(*node), "");
    EXPECT_TRUE(node->store().ListConflicts()->empty());
  }
  EXPECT_EQ(*hall->store().StateHash(), *shelter->store().StateHash());
}

// An officer's resolution is an ordinary write held to an edit's rules: resolving a resident's
// relationship to 世帯主 makes the household name them, and a My Number another resident holds
// is refused.
TEST_F(ResidentTest, AResolutionIsHeldToAnEditsRules) {
  auto [hall, shelter] =
      TwoNodesHolding(Write("h.csv",
                            "resident_code,household_code,name,birth_date,sex,relationship,"
                            "my_number\n"
                            "8201,H1,甲,1960-01-01,男,世帯主,\n"
                            "8202,H1,乙,1962-01-01,女,妻,983205673214\n"));
  ASSERT_TRUE(hall && shelter);
  ASSERT_TRUE(UpdateResident(*hall, "042021:8201", {{"relationship", "夫"}}).ok());
  ASSERT_TRUE(UpdateResident(*hall, "042021:8201", {{"my_number", "123456789018"}}).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(UpdateResident(*shelter, "042021:8201", {{"relationship", "父"}}).ok());
  ASSERT_TRUE(UpdateResident(*shelter, "042021:8201", {{"my_number", "111222333446"}}).ok());
  Send(*shelter, *hall);
  EXPECT_EQ(HeadProblems(*hall), "042021:H1 [] named 042021:8201");
  auto open = hall->store().ListConflicts(v1::ENTITY_RESIDENT, "042021:8201");
  ASSERT_TRUE(open.ok());
  ASSERT_EQ(open->size(), 2u);
  for (const Conflict& c : *open) {
    if (c.field == v1::Resident::kMyNumberFieldNumber) {
      auto taken = ParseField(c.entity, c.field, "983205673214", hall->data_key(), "042021");
      ASSERT_TRUE(taken.ok());
      EXPECT_EQ(ResolveConflict(*hall, c, *taken).message(),
                "my_number: already registered to resident 042021:8202");
      ASSERT_TRUE(ResolveConflict(*hall, c, c.other.value).ok());
    } else {
      ASSERT_EQ(c.field, uint32_t(v1::Resident::kRelationshipFieldNumber));
      auto head = ParseField(c.entity, c.field, "世帯主", hall->data_key(), "042021");
      ASSERT_TRUE(head.ok());
      std::vector<std::string> headless;
      ASSERT_TRUE(ResolveConflict(*hall, c, *head, &headless).ok());
      EXPECT_TRUE(headless.empty());
    }
  }
  Send(*hall, *shelter);
  for (Node* node : {hall.get(), shelter.get()}) {
    SCOPED_TRACE(node->node_id());
    EXPECT_TRUE(node->store().ListConflicts()->empty());
    EXPECT_EQ(Head(*node, "042021:H1"), "042021:8201");
    EXPECT_EQ(HeadProblems(*node), "");
  }
}

// My Number is unique per person: an import and an edit each refuse one that another resident
// holds on the node. Two nodes cut off from each other cannot see each other's: each gives the
// same number to another resident. When they meet, both find it held twice (the same finding on
// each, from the state they share), show it with each resident, and doctor warns of it, until
// an officer corrects one; then it is gone on both.
TEST_F(ResidentTest, AMyNumberGivenTwiceWhileCutOffIsFoundOnBothNodes) {
  auto [hall, shelter] = TwoNodesHolding(Write("v1.csv",
                                               "resident_code,household_code,name,birth_date,sex,"
                                               "relationship\n"
                                               "8101,H1,甲,1970-01-01,男,世帯主\n"
                                               "8102,H2,乙,1971-01-01,女,世帯主\n"
                                               "8103,H3,丙,1972-01-01,男,世帯主\n"));
  ASSERT_TRUE(hall && shelter);

  ASSERT_TRUE(UpdateResident(*hall, "042021:8101", {{"my_number", "983205673214"}}).ok());
  Status again = UpdateResident(*hall, "042021:8103", {{"my_number", "983205673214"}});
  EXPECT_EQ(again.message(), "my_number: already registered to resident 042021:8101");
  ASSERT_TRUE(UpdateResident(*shelter, "042021:8102", {{"my_number", "9832 0567 3214"}}).ok());
  EXPECT_TRUE(SharedMyNumbers(*hall)->empty());
  EXPECT_TRUE(SharedMyNumbers(*shelter)->empty());

  Send(*shelter, *hall);
  Send(*hall, *shelter);
  for (Node* node : {hall.get(), shelter.get()}) {
    SCOPED_TRACE(node->node_id());
    auto shared = SharedMyNumbers(*node);
    ASSERT_TRUE(shared.ok()) << shared.status().message();
    ASSERT_EQ(shared->size(), 1u);
    EXPECT_EQ((*shared)[0].my_number, "********3214");
    EXPECT_EQ((*shared)[0].residents, (std::vector<std::string>{"042021:8101", "042021:8102"}));
    EXPECT_EQ((*SharedMyNumbers(*node, /*reveal=*/true))[0].my_number, "983205673214");
    auto sealed = [&](const std::string& key) {
      return (*GetResident(*node, key))->resident.my_number();
    };
    EXPECT_EQ((*SharedMyNumbers(*node, false, sealed("042021:8102")))[0].residents,
              (std::vector<std::string>{"042021:8101", "042021:8102"}));
    EXPECT_TRUE(SharedMyNumbers(*node, false, sealed("042021:8103"))->empty());
    auto report = node->Doctor();
    ASSERT_TRUE(report.ok());
    EXPECT_TRUE(report->problems.empty());
    EXPECT_NE(std::find(report->warnings.begin(), report->warnings.end(),
                        "a My Number is held by more than one resident (bosai conflicts list)"),
              report->warnings.end());
  }

  // An officer at the shelter corrects the second resident's number.
  ASSERT_TRUE(UpdateResident(*shelter, "042021:8102", {{"my_number", "123456789018"}}).ok());
  Send(*shelter, *hall);
  EXPECT_TRUE(SharedMyNumbers(*hall)->empty());
  EXPECT_TRUE(SharedMyNumbers(*shelter)->empty());
}

// A shelter node cut off from the town hall corrects a phone number; meanwhile the hall imports a
// register that changes it too. The hall cannot know of the correction: its import (and its dry
// run) sees no conflict and writes over the register's own last value. When the two meet, the
// two writes are concurrent: the later (the register's) is shown on both nodes and the shelter's
// correction is kept as a conflict, not lost; the same register imported again changes nothing.
TEST_F(ResidentTest, ACorrectionMadeWhileCutOffMeetsTheRegisterAsAConflict) {
  std::unique_ptr<Node> hall = NodeUnderRoot("hall", "042021-honcho");
  std::unique_ptr<Node> shelter = NodeUnderRoot("shelter", "042021-shelter");
  ASSERT_TRUE(hall && shelter);
  const std::string header =
      "resident_code,household_code,name,birth_date,sex,relationship,address,phone\n";
  ImportOptions o;
  o.path =
      Write("v1.csv", header + "7101,H1,甲,1970-01-01,男,世帯主,石巻市中央1丁目,0225-11-0001\n");
  ASSERT_TRUE(ImportResidents(*hall, o).ok());
  Send(*hall, *shelter);

  // Cut off: the shelter corrects the phone; later, the hall imports a register that changes it.
  ASSERT_TRUE(UpdateResident(*shelter, "042021:7101", {{"phone", "090-1111-2222"}}).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(5));  // the register's write is later
  o.path =
      Write("v2.csv", header + "7101,H1,甲,1970-01-01,男,世帯主,石巻市中央1丁目,0225-11-0009\n");
  o.dry_run = true;
  auto dry = ImportResidents(*hall, o);
  ASSERT_TRUE(dry.ok());
  EXPECT_EQ(dry->changed, 1u);
  EXPECT_EQ(dry->conflicts, 0u) << "the hall has not seen the correction";
  o.dry_run = false;
  ASSERT_TRUE(ImportResidents(*hall, o).ok());

  Send(*shelter, *hall);
  Send(*hall, *shelter);
  EXPECT_EQ(*hall->store().StateHash(), *shelter->store().StateHash());
  for (Node* node : {hall.get(), shelter.get()}) {
    SCOPED_TRACE(node->node_id());
    auto r = GetResident(*node, "042021:7101");
    ASSERT_TRUE(r.ok() && *r);
    EXPECT_EQ((*r)->resident.phone(), "0225-11-0009");
    auto open = node->store().ListConflicts(v1::ENTITY_RESIDENT, "042021:7101");
    ASSERT_TRUE(open.ok());
    ASSERT_EQ(open->size(), 1u);
    v1::Resident other;
    ASSERT_TRUE(other.ParseFromString((*open)[0].other.value));
    EXPECT_EQ(other.phone(), "090-1111-2222");
  }
  auto again = ImportResidents(*hall, o);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->changed, 0u);
  EXPECT_EQ(hall->store().ListConflicts(v1::ENTITY_RESIDENT)->size(), 1u);
}

// Registers imported at the town hall, corrections (addresses, phones, My Numbers, and whether
// a resident is its household's 世帯主, which writes the household's head) at the hall and at two
// shelter nodes and an officer's resolutions at any of them, while the three are cut off
// from each other and meet only now and then (a bundle from one to another, at random: what one
// passes on may come from a third), in an order drawn from a seed; then they meet for good. A field
// is a set of versions, each a write (its dot); a write, as seen on the node that makes it,
// replaces exactly the versions it names: the one shown and those of the same value, and for a
// resolution the conflict it settles too (a register's change over a node's edit names none). What
// DESIGN §4 promises whatever the order of arrival: once all have met, every node holds, for every
// field, exactly the writes that no write named (nothing dropped silently, nothing come back), the
// one shown the greatest by (hlc, incarnation); the state hashes are equal and doctor passes. An
// edit giving a My Number another resident holds on its node is refused; the My Numbers that
// meeting made shared are found (SharedMyNumbers) as the residents' bodies have them.
TEST_F(ResidentTest, CutOffAndMeetingAtRandomNoWriteIsDroppedOrComesBack) {
  struct Made {
    std::string code;
    uint32_t field;
    Dot dot;
    std::string value;
    bool named = false;  // by a later write, on the node that made it
  };
  enum class Kind { kRegister, kEdit, kResolution };
  const char* const kNames[] = {"address", "phone", "my_number", "relationship", "status"};
  // The fields followed: three of a resident's, and (kHead) the head of its household, H<code>,
  // which an edit of its relationship writes.
  constexpr uint32_t kHead = 1000;
  const uint32_t kFields[] = {v1::Resident::kAddressFieldNumber, v1::Resident::kPhoneFieldNumber,
                              v1::Resident::kMyNumberFieldNumber, kHead};
  auto record_of = [](const std::string& code, uint32_t field) {
    return field == kHead ? std::tuple(uint32_t(v1::ENTITY_HOUSEHOLD), "042021:H" + code,
                                       uint32_t(v1::Household::kHeadFieldNumber))
                          : std::tuple(uint32_t(v1::ENTITY_RESIDENT), "042021:" + code, field);
  };
  // My Numbers an edit gives (or clears): a node refuses one another resident holds there.
  std::vector<std::string> my_numbers = {""};
  for (const char* first11 : {"12345678901", "98320567321", "11122233344"}) {
    my_numbers.push_back(first11 + std::to_string(MyNumberCheckDigit(first11)));
  }
  const std::array<std::vector<std::string>, 2> kValues = {
      std::vector<std::string>{"石巻市中央1丁目", "石巻市中央2丁目", "石巻市門脇町", "避難所"},
      std::vector<std::string>{"0225-11-0001", "0225-11-0002", "0225-11-0003", "090-0000-0000"}};
  auto dots = [](const std::vector<FieldVersion>& vs) {
    std::set<std::pair<std::string, uint64_t>> out;
    for (const FieldVersion& v : vs) out.emplace(v.dot.incarnation, v.dot.seq);
    return out;
  };
  // That the seeds reach them:
  uint64_t writes = 0, named = 0, kept = 0, resolutions = 0, refused = 0, shared = 0,
           heads_kept = 0, headless = 0;
  for (uint64_t seed = 1; seed <= 12; ++seed) {
    SCOPED_TRACE(fmt::format("seed {}", seed));
    std::mt19937_64 rng(seed);
    auto pick = [&](size_t n) { return size_t(rng() % n); };
    std::unique_ptr<Node> nodes[3] = {
        NodeUnderRoot(fmt::format("cut-{}-0", seed), "042021-honcho"),
        NodeUnderRoot(fmt::format("cut-{}-1", seed), "042021-shelter1"),
        NodeUnderRoot(fmt::format("cut-{}-2", seed), "042021-shelter2")};
    ASSERT_TRUE(nodes[0] && nodes[1] && nodes[2]);
    std::vector<Made> made;
    std::set<std::string> codes;
    auto versions = [&](Node& node, const std::string& code, uint32_t field) {
      auto [entity, key, number] = record_of(code, field);
      auto v = node.store().GetFieldVersions(entity, key, number);
      EXPECT_TRUE(v.ok());
      return v.ok() ? *v : std::vector<FieldVersion>{};
    };
    // Runs WRITE on node N, then records each new write of a field of TOUCHED (shown there: it
    // is the latest) and marks the versions it replaced, checked against the rule above; a
    // resolution SETTLES also the versions of a field that it names (for field, versions held).
    using Dots = std::set<std::pair<std::string, uint64_t>>;
    auto write_on = [&](int n, const std::set<std::string>& touched, Kind kind, auto write,
                        std::function<Dots(uint32_t, const std::vector<FieldVersion>&)> settles =
                            nullptr) {
      std::map<std::pair<std::string, uint32_t>, std::vector<FieldVersion>> before;
      std::set<std::pair<std::string, uint32_t>> edited;  // shown: not the register's
      for (const std::string& code : touched) {
        for (uint32_t f : kFields) {
          auto [entity, key, number] = record_of(code, f);
          auto state = nodes[n]->store().GetRecord(entity, key);
          ASSERT_TRUE(state.ok());
          before[{code, f}] = versions(*nodes[n], code, f);
          if (*state && !(*state)->FromRegister(number)) edited.emplace(code, f);
        }
      }
      write();
      for (const auto& [at, was] : before) {
        SCOPED_TRACE(fmt::format("{} field {}", at.first, at.second));
        const std::vector<FieldVersion> now = versions(*nodes[n], at.first, at.second);
        if (now.empty() || (!was.empty() && now[0].dot == was[0].dot)) {
          EXPECT_EQ(dots(now), dots(was)) << "versions went without a write";
          continue;
        }
        std::set<std::pair<std::string, uint64_t>> replaced = dots(was), expected;
        for (const auto& d : dots(now)) replaced.erase(d);
        for (const FieldVersion& v : was) {
          if (v.value == was[0].value) expected.emplace(v.dot.incarnation, v.dot.seq);
        }
        if (settles && kind == Kind::kResolution) expected.merge(settles(at.second, was));
        if (kind == Kind::kRegister && edited.count(at)) expected.clear();  // over a node's edit
        EXPECT_EQ(replaced, expected);
        auto kept_here = dots(was);
        for (const auto& d : replaced) kept_here.erase(d);
        kept_here.emplace(now[0].dot.incarnation, now[0].dot.seq);
        EXPECT_EQ(dots(now), kept_here) << "a write replaced what it did not name";
        for (Made& m : made) {
          if (m.code == at.first && m.field == at.second &&
              replaced.count({m.dot.incarnation, m.dot.seq})) {
            m.named = true;
          }
        }
        made.push_back({at.first, at.second, now[0].dot, now[0].value});
      }
    };
    for (int step = 0; step < 60; ++step) {
      SCOPED_TRACE(fmt::format("step {}", step));
      const size_t what = pick(10);
      if (what < 3 || codes.empty()) {
        const DrawnRegister drawn = DrawRegister(rng, 4, 6, kValues, 4);
        std::set<std::string> touched;
        for (const auto& [code, row] : drawn.rows) {
          touched.insert(code);
          codes.insert(code);
        }
        write_on(0, touched, Kind::kRegister, [&] {
          ImportOptions o;
          o.path = Write("cut.csv", drawn.csv);
          auto r = ImportResidents(*nodes[0], o);
          ASSERT_TRUE(r.ok()) << r.status().message();
        });
      } else if (what < 7) {
        const int n = int(pick(3));
        const std::string code = *std::next(codes.begin(), long(pick(codes.size())));
        auto r = GetResident(*nodes[n], "042021:" + code);
        ASSERT_TRUE(r.ok());
        if (!*r) continue;           // not come to this node yet
        const int f = int(pick(5));  // status is not followed; it decides kHead with relationship
        write_on(n, {code}, Kind::kEdit, [&] {
          const std::string v = f == 4   ? (pick(3) ? "住民" : "死亡")
                                : f == 3 ? (pick(2) ? "世帯主" : "子")
                                : f == 2 ? my_numbers[pick(my_numbers.size())]
                                         : kValues[f][pick(kValues[f].size())];
          Status st = UpdateResident(*nodes[n], "042021:" + code, {{kNames[f], v}});
          ASSERT_TRUE(st.ok() || st.message().starts_with("my_number: already registered"))
              << st.message();
          refused += !st.ok();
        });
      } else if (what < 8) {
        const int n = int(pick(3));
        Store& store = nodes[n]->store();
        auto open = store.ListConflicts();
        ASSERT_TRUE(open.ok());
        if (open->empty()) continue;
        const Conflict c = (*open)[pick(open->size())];
        const bool household = c.entity == v1::ENTITY_HOUSEHOLD;
        // What it settles: the conflict's other version; a household's address is settled
        // through its 世帯主's when that conflicts too; a resident's relationship or status
        // settles every version of its household's head that it writes.
        Conflict settled = c;
        if (household && c.field == v1::Household::kAddressFieldNumber) {
          const std::string head = Head(*nodes[n], c.key);
          auto theirs = store.ListConflicts(v1::ENTITY_RESIDENT, head);
          ASSERT_TRUE(theirs.ok());
          v1::Household other;
          ASSERT_TRUE(other.ParseFromString(c.other.value));
          bool same = false;  // theirs with the same other address, else the first
          for (const Conflict& r : *theirs) {
            if (head.empty() || r.field != v1::Resident::kAddressFieldNumber || same) continue;
            v1::Resident theirs_other;
            ASSERT_TRUE(theirs_other.ParseFromString(r.other.value));
            same = theirs_other.address() == other.address();
            if (same || settled.entity == v1::ENTITY_HOUSEHOLD) settled = r;
          }
        }
        const bool decides_head = settled.entity == v1::ENTITY_RESIDENT &&
                                  (settled.field == v1::Resident::kRelationshipFieldNumber ||
                                   settled.field == v1::Resident::kStatusFieldNumber);
        const uint32_t settled_field =  // as kFields has it (a household's address: none)
            settled.entity == v1::ENTITY_RESIDENT              ? settled.field
            : settled.field == v1::Household::kHeadFieldNumber ? kHead
                                                               : 0;
        write_on(
            n, {c.key.substr(household ? 8 : 7)}, Kind::kResolution,
            [&] {
              Status st = ResolveConflict(*nodes[n], c, pick(2) ? c.other.value : c.shown.value);
              ASSERT_TRUE(st.ok() || st.message().starts_with("my_number: already registered"))
                  << st.message();
              resolutions += st.ok();
            },
            [&](uint32_t field, const std::vector<FieldVersion>& was) {
              Dots out;
              for (const FieldVersion& v : was) {
                if ((field == settled_field && v.dot == settled.other.dot) ||
                    (field == kHead && decides_head)) {
                  out.emplace(v.dot.incarnation, v.dot.seq);
                }
              }
              return out;
            });
      } else {
        const int from = int(pick(3));
        Send(*nodes[from], *nodes[(from + 1 + pick(2)) % 3]);
      }
    }
    Send(*nodes[1], *nodes[0]);
    Send(*nodes[2], *nodes[0]);
    Send(*nodes[0], *nodes[1]);
    Send(*nodes[0], *nodes[2]);
    for (auto& node : nodes) {
      SCOPED_TRACE(node->node_id());
      for (const std::string& code : codes) {
        for (uint32_t f : kFields) {
          SCOPED_TRACE(fmt::format("{} field {}", code, f));
          const std::vector<FieldVersion> now = versions(*node, code, f);
          std::set<std::pair<std::string, uint64_t>> live;
          for (const Made& m : made) {
            if (m.code != code || m.field != f || m.named) continue;
            live.emplace(m.dot.incarnation, m.dot.seq);
            const bool held = std::any_of(now.begin(), now.end(), [&](const FieldVersion& v) {
              return v.dot == m.dot && v.value == m.value;
            });
            EXPECT_TRUE(held) << "the write " << m.dot.incarnation << "/" << m.dot.seq
                              << ", which no write named, was dropped";
          }
          EXPECT_EQ(dots(now), live);
          for (const FieldVersion& v : now) {
            EXPECT_LE(std::tie(v.hlc, v.dot.incarnation),
                      std::tie(now[0].hlc, now[0].dot.incarnation))
                << "the version shown is not the greatest";
          }
          kept += now.size() > 1 ? now.size() - 1 : 0;
          heads_kept += f == kHead && std::any_of(now.begin(), now.end(), [&](const auto& v) {
                          return v.value != now[0].value;
                        });
        }
      }
      auto report = node->store().Doctor((dir_ / "scratch.db").string());
      ASSERT_TRUE(report.ok());
      EXPECT_TRUE(report->problems.empty()) << report->problems[0];
      // My Numbers that meeting made shared: found from the index as from the bodies.
      std::map<std::string, std::vector<std::string>> holders;
      for (const std::string& code : codes) {
        auto r = GetResident(*node, "042021:" + code);
        ASSERT_TRUE(r.ok() && *r);
        const std::string sealed = (*r)->resident.my_number();
        if (!sealed.empty()) holders[sealed].push_back("042021:" + code);
      }
      std::set<std::vector<std::string>> expected_shared, found_shared;
      for (auto& [sealed, keys] : holders) {
        std::sort(keys.begin(), keys.end());
        if (keys.size() > 1) expected_shared.insert(keys);
      }
      auto found = SharedMyNumbers(*node);
      ASSERT_TRUE(found.ok()) << found.status().message();
      for (const SharedMyNumber& f : *found) found_shared.insert(f.residents);
      EXPECT_EQ(found_shared, expected_shared);
      shared += found->size();
      // Households without one 世帯主 its record names: found as the bodies have them.
      std::set<std::string> expected_headless, found_headless;
      for (const std::string& code : codes) {
        const v1::Resident r = (*GetResident(*node, "042021:" + code))->resident;
        if (r.status() == v1::RESIDENT_STATUS_RESIDENT &&
            !(HeadsHousehold(r) && Head(*node, r.household()) == "042021:" + code)) {
          expected_headless.insert(r.household());
        }
      }
      auto households = HouseholdHeadProblems(*node);
      ASSERT_TRUE(households.ok()) << households.status().message();
      for (const HouseholdHeadProblem& h : *households) found_headless.insert(h.household);
      EXPECT_EQ(found_headless, expected_headless);
      headless += found_headless.size();
    }
    for (int n : {1, 2}) {
      ASSERT_EQ(*nodes[0]->store().StateHash(), *nodes[n]->store().StateHash());
    }
    writes += made.size();
    named += size_t(std::count_if(made.begin(), made.end(), [](const Made& m) { return m.named; }));
  }
  EXPECT_GT(writes, 300u);
  EXPECT_GT(named, 100u);
  EXPECT_GT(kept, 20u);
  EXPECT_GT(resolutions, 10u);
  EXPECT_GT(refused, 3u);  // an edit refused a My Number held on its node
  EXPECT_GT(shared, 3u);   // and meeting made some shared
  // A household here has one resident, whom alone its head ever names: writes of it made apart
  // are of one value, never a conflict (a death, or another relationship, writes none). (Two
  // such writes made apart are both kept, as versions of one value: seed 682.)
  EXPECT_EQ(heads_kept, 0u);
  EXPECT_GT(headless, 3u);  // and households left without one (not 世帯主, or died)
}

TEST_F(ResidentTest, AReimportWithALateProblemChangesNothing) {
  constexpr int kRows = 5000;  // more than two batches of one commit each
  auto file = [&](const std::string& name, const std::string& address, const std::string& last) {
    std::string text = kHeader;
    for (int i = 0; i < kRows; ++i) {
      text +=
          fmt::format("042021,{},H{},甲,コウ,1970-01-01,男,世帯主,,{},,,\n", 10000 + i, i, address);
    }
    return Write(name, text + last);
  };
  Import(file("v1.csv", "旧住所", ""));
  auto hash = node_->store().StateHash();
  ASSERT_TRUE(hash.ok());
  auto vector = node_->store().Vector();
  ASSERT_TRUE(vector.ok());

  for (const std::string& last : {
           std::string("042021,19999,HZ,乙,オツ,1970-02-30,女,世帯主,,新住所,,,\n"),  // a bad date
           std::string("042021,10000,HZ,乙,オツ,1970-01-01,女,世帯主,,新住所,,,\n"),  // repeated
       }) {
    ImportOptions o;
    o.path = file("v2.csv", "新住所", last);
    auto r = ImportResidents(*node_, o);
    ASSERT_TRUE(r.ok()) << r.status().message();
    ASSERT_EQ(r->problems.size(), 1u) << last;
    EXPECT_NE(r->problems[0].find(fmt::format("v2.csv:{}:", kRows + 2)), std::string::npos)
        << r->problems[0];
    EXPECT_EQ(r->imported, 0u);
    EXPECT_EQ(*node_->store().StateHash(), *hash) << r->problems[0];
    EXPECT_EQ(*node_->store().Vector(), *vector);
    EXPECT_EQ(Address("042021:10000"), "旧住所");
    EXPECT_EQ(Address(fmt::format("042021:{}", 10000 + kRows - 1)), "旧住所");
  }

  ImportReport r = Import(file("v3.csv", "新住所", ""));
  EXPECT_EQ(r.changed, uint64_t(kRows));
  EXPECT_EQ(Address("042021:10000"), "新住所");
  EXPECT_EQ(Address(fmt::format("042021:{}", 10000 + kRows - 1)), "新住所");
  EXPECT_EQ(*CountResidents(*node_), uint64_t(kRows));
}

TEST_F(ResidentTest, AFullDiskStopsTheImportAndImportingAgainCompletesIt) {
  constexpr int kRows = 8000;  // a few commits of 2,048 rows
  std::string text = kHeader;
  for (int i = 0; i < kRows; ++i) {
    text += fmt::format("042021,{},H{},甲,コウ,1970-01-01,男,世帯主,,住所{},,,\n", 20000 + i, i, i);
  }
  const std::string path = Write("full.csv", text);
  // SQLite's limit on the database's pages stands for the disk: it fails as a full one does.
  Stmt& pages = node_->store().db().Prepare("PRAGMA page_count");
  ASSERT_TRUE(pages.Step());
  const int64_t used = pages.Int(0);
  pages.Reset();
  Stmt& page_size = node_->store().db().Prepare("PRAGMA page_size");
  ASSERT_TRUE(page_size.Step());
  const int64_t page_bytes = page_size.Int(0);
  page_size.Reset();
  ImportOptions o;
  o.path = path;
  // No room at all: the first batch cannot be committed.
  ASSERT_TRUE(node_->store().db().Exec(fmt::format("PRAGMA max_page_count = {}", used)).ok());
  auto none = ImportResidents(*node_, o);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("is full; free some space and run the command again; "
                                         "nothing was imported"),
            std::string::npos)
      << none.status().message();
  EXPECT_EQ(*CountResidents(*node_), 0u);
  // Room for a few batches.
  ASSERT_TRUE(node_->store()
                  .db()
                  .Exec(fmt::format("PRAGMA max_page_count = {}", used + (768 << 10) / page_bytes))
                  .ok());
  auto r = ImportResidents(*node_, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kIoError) << r.status().message();
  const std::string& message = r.status().message();
  EXPECT_NE(message.find("the disk that holds the data dir is full"), std::string::npos) << message;
  const uint64_t held = *CountResidents(*node_);
  ASSERT_GT(held, 0u) << message;
  ASSERT_LT(held, uint64_t(kRows));
  EXPECT_NE(message.find(fmt::format("the file's first {} rows were imported before it", held)),
            std::string::npos)
      << message;
  EXPECT_EQ(Address(fmt::format("042021:{}", 20000 + held - 1)), fmt::format("住所{}", held - 1));
  EXPECT_EQ(Address(fmt::format("042021:{}", 20000 + held)), "<missing>");

  // Room again: importing the file again writes the rest, and the rows held change nothing.
  ASSERT_TRUE(node_->store().db().Exec("PRAGMA max_page_count = 1073741823").ok());
  ImportReport again = Import(path);
  EXPECT_EQ(again.imported, uint64_t(kRows));
  EXPECT_EQ(again.changed, kRows - held);
  EXPECT_EQ(*CountResidents(*node_), uint64_t(kRows));
  auto report = node_->store().Doctor((dir_ / "scratch.db").string());
  ASSERT_TRUE(report.ok()) << report.status().message();
  EXPECT_EQ(report->problems, std::vector<std::string>{});
}

TEST_F(ResidentTest, AnInterruptedImportStopsAndSaysWhatItKept) {
  std::string text = kHeader;
  for (int i = 0; i < 3000; ++i) {
    text += fmt::format("042021,{},H{},甲,コウ,1970-01-01,男,世帯主,,住所,,,\n", 30000 + i, i);
  }
  std::atomic<bool> cancel{true};  // Ctrl-C before the first row
  for (bool skip_invalid : {false, true}) {
    ImportOptions o;
    o.path = Write("i.csv", text);
    if (skip_invalid) o.rejects_path = (dir_ / "rejects.csv").string();
    o.cancel = &cancel;
    auto r = ImportResidents(*node_, o);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Status::Code::kCancelled);
    EXPECT_EQ(r.status().message(), "interrupted; nothing was imported");
    EXPECT_EQ(*CountResidents(*node_), 0u);
  }
  cancel = false;
  EXPECT_EQ(Import(Write("i.csv", text)).imported, 3000u);
}

TEST_F(ResidentTest, MissingColumnsAreNotCleared) {
  Import(Write("full.csv",
               std::string(kHeader) +
                   "042021,5001,H1,甲,コウ,1970-01-01,男,世帯主,9860001,住所,,0225-11-2222,\n"));
  Import(Write("partial.csv",
               "resident_code,household_code,name,birth_date,sex\n5001,H1,甲,1970-01-01,男\n"));
  auto r = GetResident(*node_, "042021:5001");
  EXPECT_EQ((*r)->resident.phone(), "0225-11-2222");
  EXPECT_EQ((*r)->resident.address(), "住所");
}

TEST_F(ResidentTest, MyNumberIsUniqueAcrossFileAndStore) {
  Import(Write("a.csv", std::string(kHeader) +
                            "042021,6001,H1,甲,コウ,1970-01-01,男,世帯主,,,983205673214,,\n"));
  ImportOptions o;
  o.path = Write("b.csv", std::string(kHeader) +
                              "042021,6002,H2,乙,オツ,1970-01-01,男,世帯主,,,983205673214,,\n");
  auto r = ImportResidents(*node_, o);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->problem_count, 1u);
  EXPECT_NE(r->problems[0].find("already registered to resident 042021:6001"), std::string::npos)
      << r->problems[0];
}

// A My Number that the store holds for another resident is found whether the file is small
// beside the store (each row searches the index) or large (the index is read in one scan), and a
// resident's own number is never taken for another's.
TEST_F(ResidentTest, AMyNumberHeldByAnotherIsFoundInASmallFileAndInALargeOne) {
  const std::string path = Generated(3000, 5);
  ASSERT_EQ(Import(path).imported, 3000u);
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  auto fields = [](const std::string& line) {
    std::vector<std::string> out;
    std::stringstream ss(line);
    for (std::string f; std::getline(ss, f, ',');) out.push_back(f);
    while (out.size() < 13) out.emplace_back();
    return out;
  };
  auto join = [](const std::vector<std::string>& f) {
    return fmt::format("{}", fmt::join(f, ","));
  };
  ASSERT_EQ(fields(lines[0])[10], "my_number");
  // Line 2's resident given line 3's resident's number.
  std::vector<std::string> first = fields(lines[1]), second = fields(lines[2]);
  ASSERT_FALSE(first[10].empty());
  ASSERT_FALSE(second[10].empty());
  std::vector<std::string> taken = first;
  taken[10] = second[10];
  // And a resident the store does not hold, given line 3's resident's number too.
  std::vector<std::string> newcomer = first;
  newcomer[1] = "99999999";
  newcomer[2] = "99999999";  // the head of a household of its own
  newcomer[10] = second[10];
  const std::string expected =
      fmt::format(":2:11: my_number: already registered to resident 042021:{}", second[1]);
  const std::string expected_newcomer =
      fmt::format(":3:11: my_number: already registered to resident 042021:{}", second[1]);
  for (bool large : {false, true}) {
    std::vector<std::string> rows = {lines[0], join(taken), join(newcomer)};
    std::vector<std::string> same = {lines[0], lines[1]};
    if (large) {  // every other resident, as held (line 3's with another number)
      for (size_t i = 2; i < lines.size(); ++i) {
        std::vector<std::string> f = fields(lines[i]);
        if (i == 2) f[10].clear();
        rows.push_back(join(f));
        same.push_back(lines[i]);
      }
    }
    ImportOptions o;
    o.check_only = true;
    o.path = Write("taken.csv", fmt::format("{}\n", fmt::join(rows, "\n")));
    auto r = ImportResidents(*node_, o);
    ASSERT_TRUE(r.ok()) << r.status().message();
    // (Line 3 also repeats line 2's number in the file.)
    ASSERT_EQ(r->problem_count, 3u)
        << (large ? "large: " : "small: ") << fmt::format("{}", fmt::join(r->problems, "\n"));
    EXPECT_NE(r->problems[0].find(expected), std::string::npos) << r->problems[0];
    EXPECT_NE(r->problems[1].find(expected_newcomer), std::string::npos) << r->problems[1];
    EXPECT_NE(r->problems[2].find(":3:11: my_number: the same number as line 2"), std::string::npos)
        << r->problems[2];
    o.path = Write("same.csv", fmt::format("{}\n", fmt::join(same, "\n")));
    r = ImportResidents(*node_, o);
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->problem_count, 0u)
        << (large ? "large: " : "small: ") << (r->problems.empty() ? "" : r->problems[0]);
  }
}

// --check: the file is checked as an import checks it, the store included, and nothing is
// written, whether the file is clean or not.
TEST_F(ResidentTest, ACheckOnlyImportFindsWhatAnImportWouldAndWritesNothing) {
  Import(Write("a.csv", std::string(kHeader) +
                            "042021,6001,H1,甲,コウ,1970-01-01,男,世帯主,,,983205673214,,\n"));
  const std::string before = *node_->store().StateHash();
  ImportOptions o;
  o.check_only = true;
  o.path = Write("clean.csv", std::string(kHeader) +
                                  "042021,6002,H2,乙,オツ,1971-01-01,女,世帯主,,,,,\n"
                                  "042021,6003,H2,丙,ヘイ,1999-01-01,男,子,,,,,\n");
  auto clean = ImportResidents(*node_, o);
  ASSERT_TRUE(clean.ok()) << clean.status().message();
  EXPECT_EQ(clean->rows, 2u);
  EXPECT_EQ(clean->problem_count, 0u);
  EXPECT_EQ(clean->changed, 0u);
  EXPECT_EQ(clean->ops, 0u);

  o.path = Write("bad.csv", std::string(kHeader) +
                                "042021,6002,H2,乙,オツ,1971-01-01,女,世帯主,,,983205673214,,\n"
                                "042021,6003,H2,丙,ヘイ,1999-02-30,男,子,,,,,\n");
  auto bad = ImportResidents(*node_, o);
  ASSERT_TRUE(bad.ok()) << bad.status().message();
  ASSERT_EQ(bad->problem_count, 2u);
  EXPECT_NE(bad->problems[0].find("bad.csv:2:11: my_number: already registered to resident "
                                  "042021:6001"),
            std::string::npos)
      << bad->problems[0];
  EXPECT_NE(bad->problems[1].find("bad.csv:3:6: birth_date"), std::string::npos)
      << bad->problems[1];
  EXPECT_EQ(*node_->store().StateHash(), before);
  EXPECT_EQ(*CountResidents(*node_), 1u);
}

// An edit is held to the rules an import holds the register's columns to: a bad value is refused
// with the field and the reason, and changes nothing; a good one is stored in the form an import
// stores (a 和暦 date as a date, a household code as the household's id, a spreadsheet's lost
// zero put back).
TEST_F(ResidentTest, AnEditIsHeldToTheRegistersRules) {
  Import(
      Write("a.csv", std::string(kHeader) + "042021,5001,H1,甲,コウ,1970-01-01,男,世帯主,,,,,\n"));
  const std::string before = *node_->store().StateHash();
  const std::string long_address(601, 'a');
  struct Refused {
    const char* field;
    std::string value;
    const char* error;
  } refused[] = {
      {"name", "", "name: empty"},
      {"name_kana", "abc", "name_kana: \"abc\" is not kana"},
      {"birth_date", "", "birth_date: empty"},
      {"birth_date", "2999-01-01", "birth_date: 2999-01-01 is in the future"},
      {"birth_date", "S50.2.30",
       "birth_date: \"S50.2.30\" is not a date (no day 30: 1975-02 has 28 days)"},
      {"sex", "X", "sex: \"X\" is not a sex (男/女, M/F, 1/2)"},
      {"postal_code", "12", "postal_code: \"12\" is not a 7-digit postal code"},
      {"phone", "abc", "phone: \"abc\" is not a phone number"},
      {"address", long_address, "address: longer than 600 bytes"},
      {"household", "", "household: empty"},
      {"household", "H 2", "household: household code \"H 2\" may hold only 0-9, A-Z, a-z"},
      {"household", "131016:H2",
       "household: 131016:H2 is not a household of this node's municipality (042021)"},
      {"my_number", "983205673215", "my_number: My Number has a wrong check digit"},
      {"address", "=HYPERLINK(\"http://a\")",
       "address: \"=HYPERLINK(\"http://a\")\" begins with =, which a spreadsheet opening the "
       "register would run as a formula"},
      {"name", "+1",
       "name: \"+1\" begins with +, which a spreadsheet opening the register would "
       "run as a formula"},
      {"relationship", "-A1",
       "relationship: \"-A1\" begins with -, which a spreadsheet opening "
       "the register would run as a formula"},
      {"adress", "x",
       "resident has no field \"adress\" (its fields: household, name, name_kana, birth_date, "
       "sex, relationship, postal_code, address, my_number, phone, resident_since, status)"},
      {"flags", "1", "flags are computed, not set"},
  };
  for (const auto& r : refused) {
    Status st = UpdateResident(*node_, "042021:5001", {{r.field, r.value}});
    EXPECT_EQ(st.message(), r.error) << r.field << "=" << r.value;
  }
  EXPECT_EQ(*node_->store().StateHash(), before);

  ASSERT_TRUE(UpdateResident(*node_, "042021:5001",
                             {{"birth_date", "S50.4.1"},
                              {"household", "H2"},
                              {"postal_code", "〒986-0001"},
                              {"phone", "225951111"},
                              {"name_kana", "こう"}})
                  .ok());
  auto r = GetResident(*node_, "042021:5001");
  ASSERT_TRUE(r.ok() && *r);
  EXPECT_EQ((*r)->resident.birth_date(), 19750401);
  EXPECT_EQ((*r)->resident.household(), "042021:H2");
  EXPECT_EQ((*r)->resident.postal_code(), "9860001");
  EXPECT_EQ((*r)->resident.phone(), "0225951111");
  EXPECT_EQ((*r)->resident.name_kana(), "こう");
}

// An export is the register held, in the canonical layout: read back by an import into another
// node, it gives the same residents, and exported again, the same bytes. Fields that need quotes
// get them; CP932 is written with Microsoft's mapping and CRLF; a character CP932 cannot hold is
// an error that names the resident and the field, and leaves no file.
TEST_F(ResidentTest, AnExportIsReadBackAsTheSameRegister) {
  const std::string rows =
      "042021,0101,H1,髙橋　太郎,タカハシ　タロウ,1975-04-01,男,世帯主,9860001,"
      "\"石巻市中央1丁目, \"\"Aビル\"\"\",983205673214,0225-11-2222,2001-04-01\n"
      "042021,0102,H1,﨑山　①子,サキヤマ　イチコ,1977-10-03,女,妻,9860001,石巻市中央1丁目,,,\n";
  Import(Write("a.csv", std::string(kHeader) + rows));
  // The layout's thirteen columns, and the resident's status.
  std::string header = kHeader;
  header.insert(header.size() - 1, ",status");
  const std::string exported =
      "042021,0101,H1,髙橋　太郎,タカハシ　タロウ,1975-04-01,男,世帯主,9860001,"
      "\"石巻市中央1丁目, \"\"Aビル\"\"\",983205673214,0225-11-2222,2001-04-01,住民\n"
      "042021,0102,H1,﨑山　①子,サキヤマ　イチコ,1977-10-03,女,妻,9860001,石巻市中央1丁目,,,,"
      "住民\n";
  ExportOptions o;
  o.path = (dir_ / "out.csv").string();
  o.reveal_my_number = true;
  auto r = ExportResidents(*node_, o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->residents, 2u);
  EXPECT_EQ(r->my_numbers_left_out, 0u);
  auto read = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  EXPECT_EQ(read(o.path), header + exported);

  // Without My Numbers, without their column: read back, it leaves them as they are (an empty
  // column would clear every one).
  o.reveal_my_number = false;
  r = ExportResidents(*node_, o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->my_numbers_left_out, 1u);
  std::string masked_header = header;
  masked_header.erase(masked_header.find(",my_number"), std::string(",my_number").size());
  const std::string masked = read(o.path);
  EXPECT_EQ(masked.substr(0, masked_header.size()), masked_header);
  EXPECT_EQ(masked.find("983205673214"), std::string::npos);
  const std::string before = *node_->store().StateHash();
  ImportReport masked_back = Import(o.path);
  EXPECT_EQ(masked_back.imported, 2u);
  EXPECT_EQ(masked_back.changed, 0u);
  EXPECT_EQ(*node_->store().StateHash(), before);

  ASSERT_TRUE(UpdateResident(*node_, "042021:0102", {{"status", "死亡"}}).ok());
  o.path = (dir_ / "out-sjis.csv").string();
  o.encoding = Encoding::kCp932;
  o.reveal_my_number = true;
  auto in_sjis = ExportResidents(*node_, o);
  ASSERT_TRUE(in_sjis.ok()) << in_sjis.status().message();
  EXPECT_TRUE(in_sjis->substitutions.empty());
  const std::string sjis = read(o.path);
  EXPECT_NE(sjis.find("\xFB\xFC\x8B\xB4\x81\x40"), std::string::npos) << "髙橋　 (IBM extension)";
  EXPECT_NE(sjis.find("\xFA\xB1\x8E\x52\x81\x40\x87\x40"), std::string::npos) << "﨑山　①";
  EXPECT_NE(sjis.find("resident_since,status\r\n042021,0101,"), std::string::npos);
  EXPECT_NE(sjis.find(",,,,\x8E\x80\x96\x53\r\n"), std::string::npos) << "死亡";

  InitOptions io;
  io.data_dir = (dir_ / "other").string();
  io.node_id = "042021-other";
  io.municipality = "042021";
  auto other = Node::Init(io);
  ASSERT_TRUE(other.ok()) << other.status().message();
  ImportOptions back;
  back.path = o.path;
  auto imported = ImportResidents(**other, back);
  ASSERT_TRUE(imported.ok()) << imported.status().message();
  EXPECT_EQ(imported->encoding, Encoding::kCp932);
  for (const char* key : {"042021:0101", "042021:0102"}) {
    auto a = GetResident(*node_, key);
    auto b = GetResident(**other, key);
    ASSERT_TRUE(a.ok() && *a && b.ok() && *b) << key;
    // The other node holds a data key of its own: compare My Numbers in clear.
    EXPECT_EQ(ResidentJson(*node_, **a, true), ResidentJson(**other, **b, true)) << key;
  }
  const std::string again = (dir_ / "again.csv").string();
  o.path = again;
  ASSERT_TRUE(ExportResidents(**other, o).ok());
  EXPECT_EQ(read(again), sjis);

  // An address typed on Unix (U+2212 MINUS SIGN) is written in CP932's form, and counted.
  ASSERT_TRUE(UpdateResident(*node_, "042021:0101", {{"address", "石巻市中央1−2−3"}}).ok());
  o.path = (dir_ / "minus.csv").string();
  auto minus = ExportResidents(*node_, o);
  ASSERT_TRUE(minus.ok()) << minus.status().message();
  ASSERT_EQ(minus->substitutions.size(), 1u);
  EXPECT_EQ(minus->substitutions[0].from, U'\u2212');
  EXPECT_EQ(minus->substitutions[0].to, U'\uFF0D');
  EXPECT_EQ(minus->substitutions[0].count, 2u);
  EXPECT_NE(read(o.path).find("\x92\x86\x89\x9B"
                              "1\x81\x7C"
                              "2\x81\x7C"
                              "3,"),
            std::string::npos)
      << "中央1－2－3";

  ASSERT_TRUE(UpdateResident(*node_, "042021:0102", {{"name", "𠮷田　花子"}}).ok());
  o.path = (dir_ / "bad.csv").string();
  auto bad = ExportResidents(*node_, o);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "042021:0102: name \"𠮷田　花子\": 𠮷 (U+20BB7) has no CP932 form; write UTF-8 "
            "instead: --encoding "
            "utf-8 --bom, which Excel reads as well; " +
                o.path + " was not written");
  EXPECT_FALSE(fs::exists(o.path));
  EXPECT_FALSE(fs::exists(o.path + ".partial"));
  // A value a spreadsheet would run as a formula, come by sync from a node that let it through,
  // is not exported.
  v1::Resident formula;
  formula.set_address("=1+1");
  WriteField(v1::ENTITY_RESIDENT, "042021:0101", v1::Resident::kAddressFieldNumber, formula);
  o.encoding = Encoding::kUtf8;
  bad = ExportResidents(*node_, o);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "042021:0101: address: \"=1+1\" begins with =, which a spreadsheet opening the "
            "register would run as a formula; correct it (bosai resident edit); " +
                o.path + " was not written");
  EXPECT_FALSE(fs::exists(o.path));
  ASSERT_TRUE(UpdateResident(*node_, "042021:0101", {{"address", "石巻市中央1丁目"}}).ok());

  // As UTF-8 after a byte order mark, it is written, and read back.
  o.encoding = Encoding::kUtf8;
  o.bom = true;
  ASSERT_TRUE(ExportResidents(*node_, o).ok());
  EXPECT_EQ(read(o.path).substr(0, 20), "\xEF\xBB\xBFmunicipality_code");
  auto reader = CsvReader::Open(o.path, Encoding::kAuto);
  ASSERT_TRUE(reader.ok());
  CsvRecord rec;
  ASSERT_TRUE(*(*reader)->Next(&rec));
  EXPECT_EQ(rec.fields[0], "municipality_code");
  ASSERT_TRUE(*(*reader)->Next(&rec));
  ASSERT_TRUE(*(*reader)->Next(&rec));
  EXPECT_EQ(rec.fields[3], "𠮷田　花子");
}

// A store made by an older bosai, whose search fold did not fold 𠮷 to 吉 (kResidentIndexerVersion
// 1), is indexed again when next opened to write: a search for 吉田 then finds 𠮷田. Opened to
// read only, it is searched as it is, and doctor says why.
TEST_F(ResidentTest, AStoreIndexedByAnOlderFoldIsIndexedAgainWhenOpened) {
  Import(
      Write("a.csv", std::string(kHeader) +
                         "042021,8001,H1,𠮷田　太郎,ヨシダ　タロウ,1970-01-01,男,世帯主,,,,,\n"
                         "042021,8002,H2,吉田　花子,ヨシダ　ハナコ,1971-01-01,女,世帯主,,,,,\n"));
  const std::string data_dir = node_->data_dir();
  ASSERT_TRUE(node_->store()
                  .db()
                  .Exec("UPDATE records SET idx_text2 = '𠮷田太郎' WHERE key = '042021:8001';"
                        "UPDATE meta SET v = '1' WHERE k = 'indexer_version'")
                  .ok());
  node_.reset();
  auto names = [&]() {
    ResidentQuery q;
    q.name = "吉田";
    auto found = SearchResidents(*node_, q);
    EXPECT_TRUE(found.ok()) << found.status().message();
    std::vector<std::string> keys;
    for (const auto& r : *found) keys.push_back(r.key);
    std::sort(keys.begin(), keys.end());
    return keys;
  };
  auto reader = Node::Open(data_dir, {.read_only = true});
  ASSERT_TRUE(reader.ok()) << reader.status().message();
  node_ = std::move(reader).value();
  EXPECT_EQ(names(), std::vector<std::string>{"042021:8002"});
  auto report = node_->store().Doctor((dir_ / "scratch.db").string());
  ASSERT_TRUE(report.ok()) << report.status().message();
  EXPECT_TRUE(report->problems.empty()) << report->problems[0];
  EXPECT_EQ(report->warnings, std::vector<std::string>{fmt::format(
                                  "the search index was made by another version of bosai "
                                  "(indexer 1, this one's {}): not checked; searches read it as "
                                  "it is until the data dir is next opened to write, which makes "
                                  "it again",
                                  kResidentIndexerVersion)});
  node_.reset();

  auto writer = Node::Open(data_dir);
  ASSERT_TRUE(writer.ok()) << writer.status().message();
  node_ = std::move(writer).value();
  EXPECT_EQ(names(), (std::vector<std::string>{"042021:8001", "042021:8002"}));
  report = node_->store().Doctor((dir_ / "scratch.db").string());
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->problems.empty()) << report->problems[0];
}

// A store whose record_index holds readings as text (kResidentIndexerVersion 2, before
// KanaIndexForm) is searched by reading as it is when opened to read only, and indexed again in
// the compact form when next opened to write; both find the same residents.
TEST_F(ResidentTest, ReadingsIndexedAsTextAreFoundUntilIndexedAgain) {
  Import(
      Write("a.csv", std::string(kHeader) +
                         "042021,8101,H1,佐藤　太郎,サトウ　タロウ,1970-01-01,男,世帯主,,,,,\n"
                         "042021,8102,H2,斎藤　花子,サイトウ　ハナコ,1971-01-01,女,世帯主,,,,,\n"
                         "042021,8103,H3,佐藤　次郎,さとう　じろう,1972-01-01,男,世帯主,,,,,\n"));
  const std::string data_dir = node_->data_dir();
  auto kana_entries = [&]() {
    auto s = node_->store().db().PrepareOnce(
        "SELECT value FROM record_index WHERE kind = 1 ORDER BY value");
    EXPECT_TRUE(s.ok());
    std::vector<std::string> values;
    while (s->Step()) values.emplace_back(s->Text(0));
    return values;
  };
  EXPECT_EQ(kana_entries(), (std::vector<std::string>{KanaIndexForm("サイトウハナコ"),
                                                      KanaIndexForm("サトウジロウ"),
                                                      KanaIndexForm("サトウタロウ")}));
  // The entries as bosai wrote them before.
  ASSERT_TRUE(node_->store()
                  .db()
                  .Exec("UPDATE record_index SET value = CASE record "
                        "WHEN (SELECT record FROM record_keys WHERE key = '042021:8101') "
                        "THEN 'サトウタロウ' "
                        "WHEN (SELECT record FROM record_keys WHERE key = '042021:8102') "
                        "THEN 'サイトウハナコ' ELSE 'サトウジロウ' END WHERE kind = 1;"
                        "UPDATE meta SET v = '2' WHERE k = 'indexer_version'")
                  .ok());
  node_.reset();
  auto found = [&](const char* kana) {
    ResidentQuery q;
    q.kana = kana;
    auto r = SearchResidents(*node_, q);
    EXPECT_TRUE(r.ok()) << r.status().message();
    std::vector<std::string> keys;
    for (const auto& res : r.ok() ? *r : std::vector<ResidentRecord>{}) keys.push_back(res.key);
    return keys;
  };
  const std::vector<std::string> satou = {"042021:8103", "042021:8101"};  // in reading order
  auto reader = Node::Open(data_dir, {.read_only = true});
  ASSERT_TRUE(reader.ok()) << reader.status().message();
  node_ = std::move(reader).value();
  EXPECT_EQ(found("さとう"), satou);
  EXPECT_EQ(found("ｻｲﾄｳ"), std::vector<std::string>{"042021:8102"});
  EXPECT_EQ(kana_entries()[0], "サイトウハナコ");
  auto report = node_->store().Doctor((dir_ / "scratch.db").string());
  ASSERT_TRUE(report.ok()) << report.status().message();
  EXPECT_TRUE(report->problems.empty()) << report->problems[0];
  ASSERT_EQ(report->warnings.size(), 1u);
  EXPECT_NE(
      report->warnings[0].find(fmt::format("(indexer 2, this one's {})", kResidentIndexerVersion)),
      std::string::npos);
  node_.reset();

  auto writer = Node::Open(data_dir);
  ASSERT_TRUE(writer.ok()) << writer.status().message();
  node_ = std::move(writer).value();
  EXPECT_EQ(kana_entries()[0], KanaIndexForm("サイトウハナコ"));
  EXPECT_EQ(found("さとう"), satou);
  EXPECT_EQ(found("サ"), (std::vector<std::string>{"042021:8102", "042021:8103", "042021:8101"}));
  EXPECT_TRUE(found("サトウタロウジ").empty());
  report = node_->store().Doctor((dir_ / "scratch.db").string());
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->problems.empty()) << report->problems[0];
  EXPECT_TRUE(report->warnings.empty()) << report->warnings[0];
}

// A field the register left empty and a clerk filled on the node (a phone number, where an
// evacuee can be reached) is not wiped by the next import of a register that still leaves it
// empty: that register changed nothing. A register that now gives a value changes it.
TEST_F(ResidentTest, AFieldTheRegisterLeftEmptyAndANodeFilledSurvivesAReimport) {
  const std::string v1 =
      std::string(kHeader) + "042021,7201,H1,甲,コウ,1970-01-01,男,世帯主,,,,,\n";
  Import(Write("v1.csv", v1));
  ASSERT_TRUE(
      UpdateResident(*node_, "042021:7201", {{"phone", "090-1111-2222"}, {"address", "避難所"}})
          .ok());
  EXPECT_EQ(Import(Write("v1-again.csv", v1)).changed, 0u);
  auto r = GetResident(*node_, "042021:7201");
  ASSERT_TRUE(r.ok() && *r);
  EXPECT_EQ((*r)->resident.phone(), "090-1111-2222");
  EXPECT_EQ((*r)->resident.address(), "避難所");

  Import(Write("v2.csv", std::string(kHeader) +
                             "042021,7201,H1,甲,コウ,1970-01-01,男,世帯主,,石巻市中央1丁目,,,\n"));
  r = GetResident(*node_, "042021:7201");
  ASSERT_TRUE(r.ok() && *r);
  EXPECT_EQ((*r)->resident.phone(), "090-1111-2222");
  EXPECT_EQ((*r)->resident.address(), "石巻市中央1丁目");
}

// The optional status column (what an export writes): read as 住民/転出/死亡 or in English; a
// status set on the node survives a re-import of a register that did not change it, as any
// field does; a register that changes it wins.
TEST_F(ResidentTest, AStatusColumnIsReadAndANodesStatusSurvivesTheSameRegister) {
  std::string header = kHeader;
  header.insert(header.size() - 1, ",status");
  const std::string v1 = header +
                         "042021,7101,H1,甲,コウ,1970-01-01,男,世帯主,,,,,,住民\n"
                         "042021,7102,H1,乙,オツ,1971-01-01,女,妻,,,,,,moved_out\n";
  Import(Write("v1.csv", v1));
  auto status = [&](const char* key) {
    auto r = GetResident(*node_, key);
    return r.ok() && *r ? int((*r)->resident.status()) : -1;
  };
  EXPECT_EQ(status("042021:7101"), v1::RESIDENT_STATUS_RESIDENT);
  EXPECT_EQ(status("042021:7102"), v1::RESIDENT_STATUS_MOVED_OUT);

  ASSERT_TRUE(UpdateResident(*node_, "042021:7101", {{"status", "死亡"}}).ok());
  EXPECT_EQ(Import(Write("v1-again.csv", v1)).changed, 0u);
  EXPECT_EQ(status("042021:7101"), v1::RESIDENT_STATUS_DECEASED);

  Import(Write("v2.csv", header + "042021,7101,H1,甲,コウ,1970-01-01,男,世帯主,,,,,,住民\n"
                                  "042021,7102,H1,乙,オツ,1971-01-01,女,妻,,,,,,住民\n"));
  EXPECT_EQ(status("042021:7102"), v1::RESIDENT_STATUS_RESIDENT);

  ImportOptions o;
  o.path = Write("bad.csv", header + "042021,7103,H2,丙,ヘイ,1972-01-01,男,世帯主,,,,,,不明\n");
  auto bad = ImportResidents(*node_, o);
  ASSERT_TRUE(bad.ok()) << bad.status().message();
  ASSERT_EQ(bad->problems.size(), 1u);
  EXPECT_EQ(bad->problems[0],
            o.path +
                ":2:14: status: \"不明\" is not a resident's status (住民/転出/死亡, "
                "resident/moved_out/deceased)");
}

// The members of a household: 世帯主 first, then the eldest first; by its code or its id, alone or
// with another condition.
TEST_F(ResidentTest, AHouseholdsMembersAreFoundHeadFirst) {
  Import(Write("h.csv", std::string(kHeader) +
                            "042021,9003,H1,子,コ,2000-01-01,女,子,,,,,\n"
                            "042021,9001,H1,主,ヌシ,1970-01-01,男,世帯主,,,,,\n"
                            "042021,9002,H1,妻,ツマ,1972-01-01,女,妻,,,,,\n"
                            "042021,9004,H1,父,チチ,1940-01-01,男,父,,,,,\n"
                            "042021,9005,H2,他,ホカ,1940-01-01,男,世帯主,,,,,\n"));
  auto keys = [&](const ResidentQuery& q) {
    auto found = SearchResidents(*node_, q);
    EXPECT_TRUE(found.ok()) << found.status().message();
    std::vector<std::string> out;
    if (found.ok()) {
      for (const auto& r : *found) out.push_back(r.key);
    }
    return out;
  };
  ResidentQuery q;
  q.household = "H1";
  const std::vector<std::string> members = {"042021:9001", "042021:9004", "042021:9002",
                                            "042021:9003"};
  EXPECT_EQ(keys(q), members);
  q.household = "042021:H1";
  EXPECT_EQ(keys(q), members);
  q.kana = "ツ";
  EXPECT_EQ(keys(q), std::vector<std::string>{"042021:9002"});
  q.kana.reset();
  q.household = "H3";
  EXPECT_EQ(keys(q), std::vector<std::string>{});
  q.household = "H 1";
  auto bad = SearchResidents(*node_, q);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "--household: household code \"H 1\" may hold only 0-9, A-Z, a-z");
}

// A register opened in a spreadsheet and saved: codes and numbers read as numbers. A leading zero
// of a postal code or a phone number is put back; a number shown as 9.83206E+11 has lost its
// digits, and the problem says so; a resident code whose zeros were dropped is found against
// the codes held (either way round), where it would otherwise become a second resident.
TEST_F(ResidentTest, WhatASpreadsheetDidToARegisterIsUndoneOrNamed) {
  Import(Write("a.csv", std::string(kHeader) +
                            "042021,0123456,H1,甲,コウ,1970-01-01,男,世帯主,,,,,\n"
                            "042021,777,H2,乙,オツ,1971-01-01,女,世帯主,,,,,\n"));
  ImportOptions o;
  o.path = Write("b.csv", std::string(kHeader) +
                              "042021,8001,H3,丙,ヘイ,1980-01-01,男,世帯主,600001,,,225951111,\n"
                              "042021,8002,H3,丁,テイ,1981-01-01,女,妻,,,,9012345678,\n");
  ASSERT_EQ(Import(o.path).imported, 2u);
  auto husband = GetResident(*node_, "042021:8001");
  ASSERT_TRUE(husband.ok() && *husband);
  EXPECT_EQ((*husband)->resident.postal_code(), "0600001");
  EXPECT_EQ((*husband)->resident.phone(), "0225951111");
  auto wife = GetResident(*node_, "042021:8002");
  ASSERT_TRUE(wife.ok() && *wife);
  EXPECT_EQ((*wife)->resident.phone(), "09012345678");

  const std::string before = *node_->store().StateHash();
  o.path = Write("c.csv", std::string(kHeader) +
                              "042021,123456,H1,甲,コウ,1970-01-01,男,世帯主,,,,,\n"
                              "042021,00777,H2,乙,オツ,1971-01-01,女,世帯主,,,,,\n"
                              "042021,5555,H4,戊,ボ,1990-01-01,男,世帯主,,,9.83206E+11,,\n"
                              "042021,8003,H4,己,キ,1991-01-01,女,妻,,,,,\n");
  auto r = ImportResidents(*node_, o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->problems.size(), 3u);
  const std::string hint =
      ": are leading zeros lost by a spreadsheet? (export the register again, or set the "
      "column's cells to text before saving)";
  EXPECT_EQ(r->problems[0],
            o.path + ":2:2: resident_code: 123456 is not held, but 042021:0123456 is" + hint);
  EXPECT_EQ(r->problems[1],
            o.path + ":3:2: resident_code: 00777 is not held, but 042021:777 is" + hint);
  EXPECT_NE(r->problems[2].find(":4:11: my_number: My Number must be 12 digits (9.83206E+11 is a "
                                "number as a spreadsheet shows it, its digits lost"),
            std::string::npos)
      << r->problems[2];
  EXPECT_EQ(*node_->store().StateHash(), before);
  EXPECT_EQ(*CountResidents(*node_), 4u);

  // Codes and numbers that a system wrote as formulas of their text, ="00123", for a spreadsheet
  // to keep their leading zeros (quotes in the text doubled): their text. A formula of anything
  // else is text that begins with =, refused as before.
  o.path = Write("d.csv", std::string(kHeader) +
                              "\"=\"\"042021\"\"\",\"=\"\"00012\"\"\",\"=\"\"0099\"\"\",庚,コウ,"
                              "1970-01-01,男,世帯主,\"=\"\"0600001\"\"\",\"=\"\"A\"\"\"\"棟\"\"\",,"
                              "\"=\"\"0225-95-1111\"\"\",\n");
  ASSERT_EQ(Import(o.path).imported, 1u);
  auto formula = GetResident(*node_, "042021:00012");
  ASSERT_TRUE(formula.ok() && *formula);
  EXPECT_EQ((*formula)->resident.household(), "042021:0099");
  EXPECT_EQ((*formula)->resident.postal_code(), "0600001");
  EXPECT_EQ((*formula)->resident.address(), "A\"棟");
  EXPECT_EQ((*formula)->resident.phone(), "0225-95-1111");
  o.path = Write("e.csv", std::string(kHeader) +
                              "042021,8004,H5,\"=\"\"=1+1\"\"\",キ,1991-01-01,女,世帯主,,,,,\n"
                              "042021,8005,H6,\"=SUM(1)\",キ,1991-01-01,女,世帯主,,,,,\n");
  r = ImportResidents(*node_, o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->problems.size(), 2u);
  EXPECT_NE(r->problems[0].find(":2:4: name: \"=1+1\" begins with ="), std::string::npos)
      << r->problems[0];
  EXPECT_NE(r->problems[1].find(":3:4: name: \"=SUM(1)\" begins with ="), std::string::npos)
      << r->problems[1];
}

// A disk with no room left. The daemon's way of opening (not alone) fails, saying the disk is
// full. A command that ends soon opens the store alone, with a warning: the register is read and
// checked as before; an import fails at once, before the file is read through, saying the disk
// is full, and nothing is imported. With room again, the import goes through.
TEST_F(ResidentTest, OnAFullDiskTheRegisterIsReadAndAnImportSaysTheDiskIsFull) {
  Import(Write("a.csv", std::string(kHeader) +
                            "042021,7001,H1,甲,コウ,1970-01-01,男,世帯主,,,983205673214,,\n"));
  const std::string before = *node_->store().StateHash();
  const std::string data_dir = node_->data_dir();
  node_.reset();
  ImportOptions o;
  o.path =
      Write("b.csv", std::string(kHeader) + "042021,7002,H2,乙,オツ,1971-01-01,女,世帯主,,,,,\n");
  {
    testing::FullDisk full;
    auto daemon = Node::Open(data_dir);
    ASSERT_FALSE(daemon.ok());
    EXPECT_NE(daemon.status().message().find("the disk that holds the data dir is full"),
              std::string::npos)
        << daemon.status().message();

    auto opened = Node::Open(data_dir, {.alone_if_disk_full = true});
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    node_ = std::move(opened).value();
    EXPECT_TRUE(node_->disk_full());
    EXPECT_TRUE(node_->read_only());
    auto warning = node_->DiskFullWarning();
    ASSERT_TRUE(warning.has_value());
    EXPECT_NE(warning->find("is full: the store is open to read only"), std::string::npos)
        << *warning;
    EXPECT_EQ(*CountResidents(*node_), 1u);
    EXPECT_EQ(Address("042021:7001"), "");
    EXPECT_EQ(*node_->store().StateHash(), before);

    o.check_only = true;
    auto checked = ImportResidents(*node_, o);
    ASSERT_TRUE(checked.ok()) << checked.status().message();
    EXPECT_EQ(checked->rows, 1u);
    o.check_only = false;
    auto refused = ImportResidents(*node_, o);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.status().message(),
              "the disk that holds the data dir is full; free some space and run the command "
              "again; nothing was imported");
    EXPECT_EQ(*node_->store().StateHash(), before);
    node_.reset();
  }
  auto opened = Node::Open(data_dir, {.alone_if_disk_full = true});
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  node_ = std::move(opened).value();
  EXPECT_FALSE(node_->disk_full());
  EXPECT_FALSE(node_->DiskFullWarning().has_value());
  EXPECT_EQ(Import(o.path).imported, 1u);
  EXPECT_EQ(*CountResidents(*node_), 2u);
}

}  // namespace
}  // namespace bosai::node
