// Synthetic register generator; see gen.h.
#include "node/gen.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <string_view>
#include <vector>

#include "node/text.h"
#include "storage/ids.h"

namespace bosai::node {
namespace {

#include "node/detail/names.inc"

struct Place {
  const char* code;
  const char* prefix;  // 都道府県 + 市区町村
  const char* postal3;
  const char* area;  // telephone area code
  std::vector<const char*> towns;
};

const std::vector<Place>& Places() {
  static const auto* places = new std::vector<Place>{
      {"042021",
       "宮城県石巻市",
       "986",
       "0225",
       {"中央",         "立町",       "千石町",   "穀町",   "住吉町",     "湊町",
        "門脇町",       "南浜町",     "渡波",     "蛇田",   "大街道東",   "大街道西",
        "大街道南",     "大街道北",   "山下町",   "中里",   "向陽町",     "水押",
        "泉町",         "錦町",       "日和が丘", "羽黒町", "双葉町",     "清水町",
        "開北",         "貞山",       "築山",     "鹿妻南", "東中里",     "南中里",
        "恵み野",       "あゆみ野",   "須江",     "鹿又",   "河北町飯野", "雄勝町雄勝",
        "北上町十三浜", "牡鹿清水田", "流留",     "沢田",   "大瓜",       "井内",
        "中浦",         "大橋",       "三ツ股",   "宜山町"}},
      {"046060",
       "宮城県本吉郡南三陸町",
       "986",
       "0226",
       {"志津川", "歌津", "戸倉", "入谷", "志津川字旭ケ浦", "歌津字伊里前", "戸倉字水戸辺"}},
      {"032107",
       "岩手県陸前高田市",
       "029",
       "0192",
       {"高田町", "気仙町", "米崎町", "小友町", "広田町", "竹駒町", "矢作町", "横田町"}},
      {"282049",
       "兵庫県西宮市",
       "662",
       "0798",
       {"甲子園町", "今津町", "鳴尾町", "甲東園", "夙川", "苦楽園", "北口町", "門戸荘", "上ケ原"}},
      {"431001",
       "熊本県熊本市",
       "860",
       "096",
       {"中央区水前寺", "東区健軍", "西区島崎", "南区城南町", "北区植木町", "中央区黒髪"}},
      {"011002",
       "北海道札幌市",
       "060",
       "011",
       {"中央区北一条西", "北区北十条西", "東区北十六条東", "白石区本郷通", "豊平区平岸"}},
      {"131016",
       "東京都千代田区",
       "100",
       "03",
       {"丸の内", "大手町", "神田小川町", "麹町", "九段南"}},
      {"131041", "東京都新宿区", "160", "03", {"西新宿", "新宿", "高田馬場", "四谷", "神楽坂"}},
      {"092011",
       "栃木県宇都宮市",
       "320",
       "028",
       {"本町", "大通り", "駅前通り", "今泉", "平松本町"}},
  };
  return *places;
}

const Place& PlaceFor(const std::string& code) {
  static const Place generic{
      "",
      "",
      "000",
      "0120",
      {"本町", "栄町", "緑町", "旭町", "幸町", "中央", "東町", "西町", "南町", "北町", "桜町",
       "寿町", "曙町", "若葉町", "松原町", "新町", "港町"}};
  for (const Place& p : Places()) {
    if (code == p.code) return p;
  }
  return generic;
}

// splitmix64: a small generator whose sequence is the same on every platform and library.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t Next() {
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint64_t Below(uint64_t n) { return Next() % n; }
  bool Chance(int percent) { return Below(100) < uint64_t(percent); }

 private:
  uint64_t s_;
};

struct Name {
  std::string_view kanji;
  std::string kana;  // katakana
};

Name Pick(const char* const* list, size_t n, Rng& rng) {
  std::string_view entry = list[rng.Below(n)];
  size_t colon = entry.find(':');
  std::string_view reading = entry.substr(colon + 1);
  std::string kana;
  for (size_t i = 0; i < reading.size();) {
    int32_t cp = NextCodePoint(reading, i);
    AppendUtf8(kana, cp >= 0x3041 && cp <= 0x3096 ? cp + 0x60 : cp);
  }
  return {entry.substr(0, colon), kana};
}

// Age of a 世帯主, weighted like a regional city's population (older than the national mean).
int HeadAge(Rng& rng) {
  static constexpr int kWeights[] = {3, 5,  6,  7,  8,  9,
                                     9, 10, 11, 12, 10, 10};  // 25-29 .. 75-79, 80-94
  int total = 0;
  for (int w : kWeights) total += w;
  int r = int(rng.Below(uint64_t(total)));
  for (int i = 0; i < 12; ++i) {
    if (r < kWeights[i]) return 25 + i * 5 + int(rng.Below(i == 11 ? 15 : 5));
    r -= kWeights[i];
  }
  return 60;
}

// Affine map i → (a·i + b) mod 10^digits: distinct for distinct i, scattered, seed-dependent.
uint64_t Scatter(uint64_t i, uint64_t a, uint64_t b, uint64_t mod) {
  return (a % mod * i + b) % mod;
}

constexpr int32_t kReferenceDate = 20260401;  // fixed, so that a seed gives the same file any day

}  // namespace

Status CheckGenOptions(const GenOptions& options) {
  BOSAI_RETURN_IF_ERROR(
      ValidateMunicipalityCode(options.municipality).WithContext("--municipality"));
  if (options.count == 0 || options.count > kMaxGenCount) {
    return Status::Invalid(fmt::format("--count must be 1 to {}", kMaxGenCount));
  }
  return Status::Ok();
}

Status GenerateResidents(const GenOptions& options, std::FILE* out) {
  BOSAI_RETURN_IF_ERROR(CheckGenOptions(options));
  const Place& place = PlaceFor(options.municipality);
  Rng rng(options.seed * 0x2545F4914F6CDD1Dull + 1);
  // Multipliers coprime to 10 keep the affine maps one-to-one.
  auto coprime = [&](uint64_t x) { return (x | 1) % 5 == 0 ? (x | 1) + 2 : (x | 1); };
  const uint64_t ra = coprime(rng.Next() % 100'000'000'000ull), rb = rng.Next();
  const uint64_t ha = coprime(rng.Next() % 10'000'000'000ull), hb = rng.Next();
  const uint64_t ma = coprime(rng.Next() % 100'000'000'000ull), mb = rng.Next();
  const size_t n_surnames = std::size(kSurnames), n_male = std::size(kMaleNames),
               n_female = std::size(kFemaleNames);
  const int ref_year = kReferenceDate / 10000;
  // A fixed line has ten digits: the area code, the exchange (as many digits as the area code
  // leaves, not starting with 0) and four.
  uint64_t exchange_low = 1;  // the least exchange number of its length
  for (size_t digits = std::strlen(place.area) + 4; digits < 9; ++digits) exchange_low *= 10;

  std::string buf;
  buf.reserve(1 << 20);
  buf +=
      "municipality_code,resident_code,household_code,name,name_kana,birth_date,sex,"
      "relationship,postal_code,address,my_number,phone,resident_since\n";
  uint64_t written = 0, household = 0;
  while (written < options.count) {
    ++household;
    // 世帯人員: 1 38%, 2 28%, 3 17%, 4 12%, 5 4%, 6 1%.
    static constexpr int kSizeWeights[] = {38, 28, 17, 12, 4, 1};
    int r = int(rng.Below(100)), size = 1;
    for (int w : kSizeWeights) {
      if (r < w) break;
      r -= w;
      ++size;
    }
    size = int(std::min<uint64_t>(uint64_t(size), options.count - written));
    std::string hh_code = fmt::format("{:010d}", Scatter(household, ha, hb, 10'000'000'000ull));
    Name surname = Pick(kSurnames, n_surnames, rng);
    std::string town = place.towns[rng.Below(place.towns.size())];
    std::string address = fmt::format("{}{}{}丁目{}番{}号", place.prefix, town, 1 + rng.Below(5),
                                      1 + rng.Below(30), 1 + rng.Below(25));
    std::string postal = fmt::format("{}{:04d}", place.postal3, rng.Below(10000));
    std::string phone =
        rng.Chance(60) ? fmt::format("{}-{}-{:04d}", place.area,
                                     exchange_low + rng.Below(9 * exchange_low), rng.Below(10000))
                       : fmt::format("0{}0-{:04d}-{:04d}", 7 + rng.Below(3), rng.Below(10000),
                                     rng.Below(10000));
    int head_age = size == 1 ? std::max(HeadAge(rng), HeadAge(rng)) : HeadAge(rng);
    bool head_male = rng.Chance(size == 1 ? 45 : 75);
    bool couple = size >= 2 && rng.Chance(85);

    for (int m = 0; m < size; ++m) {
      int age;
      bool male;
      const char* rel;
      if (m == 0) {
        age = head_age, male = head_male, rel = "世帯主";
      } else if (m == 1 && couple) {
        age = std::max(18, head_age + int(rng.Below(11)) - 5), male = !head_male;
        rel = male ? "夫" : "妻";
      } else if (m == size - 1 && size >= 5 && head_age < 60) {
        age = std::min(100, head_age + 25 + int(rng.Below(10))), male = rng.Chance(30);
        rel = male ? "父" : "母";
      } else if (head_age >= 70 && m >= 3) {
        age = int(rng.Below(20)), male = rng.Chance(50), rel = "孫";
      } else {
        age = std::max(0, head_age - 22 - int(rng.Below(18))), male = rng.Chance(51), rel = "子";
      }
      Name given = male ? Pick(kMaleNames, n_male, rng) : Pick(kFemaleNames, n_female, rng);
      int year = ref_year - age - 1 + int(rng.Below(2));
      int month = 1 + int(rng.Below(12));
      int day = 1 + int(rng.Below(28));
      int32_t birth = year * 10000 + month * 100 + day;
      if (birth > kReferenceDate) birth = (year - 1) * 10000 + month * 100 + day;
      int32_t since = rng.Chance(40) ? birth
                                     : std::min(kReferenceDate,
                                                (year + int(rng.Below(uint64_t(age) + 1))) * 10000 +
                                                    (1 + int(rng.Below(12))) * 100 + 1);
      if (since < birth) since = birth;
      uint64_t index = written + 1;
      std::string resident_code =
          fmt::format("{:011d}", Scatter(index, ra, rb, 100'000'000'000ull));
      std::string mn11 = fmt::format("{:011d}", Scatter(index, ma, mb, 100'000'000'000ull));
      fmt::format_to(std::back_inserter(buf),
                     "{},{},{},{}\u3000{},{}\u3000{},{:04d}-{:02d}-{:02d},{},{},{},{},{}{},{},{:"
                     "04d}-{:02d}-{:02d}\n",
                     options.municipality, resident_code, hh_code, surname.kanji, given.kanji,
                     surname.kana, given.kana, birth / 10000, birth / 100 % 100, birth % 100,
                     male ? "男" : "女", rel, postal, address, mn11, MyNumberCheckDigit(mn11),
                     phone, since / 10000, since / 100 % 100, since % 100);
      ++written;
      if (buf.size() > (1 << 20) - 4096) {
        if (std::fwrite(buf.data(), 1, buf.size(), out) != buf.size()) {
          return Status::IoError(fmt::format("write failed: {}", std::strerror(errno)));
        }
        buf.clear();
      }
    }
  }
  if (std::fwrite(buf.data(), 1, buf.size(), out) != buf.size() || std::fflush(out) != 0) {
    return Status::IoError(fmt::format("write failed: {}", std::strerror(errno)));
  }
  return Status::Ok();
}

}  // namespace bosai::node
