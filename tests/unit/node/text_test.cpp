// Search folding of names and readings, kana checks, 外字 detection (table-driven).
#include "node/text.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace bosai::node {
namespace {

TEST(Text, FoldsKanaWidthSpacesAndVariants) {
  struct Case {
    const char* a;
    const char* b;
  } same[] = {
      {"さとう たろう", "サトウタロウ"},
      {"ｻﾄｳ ﾀﾛｳ", "サトウ　タロウ"},
      {"ｶﾞｯｺｳ", "ガッコウ"},
      {"ﾊﾟﾝ", "パン"},
      {"ｳﾞｨ", "ヴィ"},
      {"髙橋", "高橋"},
      {"山﨑", "山崎"},
      {"渡邉", "渡辺"},
      {"渡邊", "渡辺"},
      {"ＡＢＣ", "abc"},
      {"か\u3099", "ガ"},  // decomposed dakuten (NFC composes it)
      {"𠮷田", "吉田"},    // outside the BMP
      {"中嶋", "中島"},
      {"山㟢", "山崎"},  // CJK extension A
      {"渕上", "淵上"},
      {"葛\U000E0100西", "葛西"},  // an ideographic variation sequence
      {"塚\uFA10", "塚塚"},        // a compatibility ideograph (NFC maps it)
  };
  for (const auto& c : same) EXPECT_EQ(SearchFold(c.a), SearchFold(c.b)) << c.a << " vs " << c.b;
  EXPECT_EQ(SearchFold("さとう"), "サトウ");
  EXPECT_NE(SearchFold("さとう"), SearchFold("さいとう"));
}

// record_index holds readings in KanaIndexForm: a prefix search of forms must find exactly the
// readings with that prefix, two readings must not share a form, and katakana keep their order.
TEST(Text, TheKanaIndexFormIsAPrefixCodeInTheReadingsOrder) {
  EXPECT_EQ(KanaIndexForm("サトウ"), "5H&");  // U+30B5, U+30C8, U+30A6 less 0x3080
  EXPECT_EQ(KanaIndexForm("゠ヿ"), std::string("\x20\x7F"));
  EXPECT_EQ(KanaIndexForm("a1"), std::string("\x01"
                                             "a"
                                             "\x01"
                                             "1"));
  EXPECT_EQ(KanaIndexForm("吉𠮷"), "吉𠮷");
  EXPECT_EQ(KanaIndexForm(""), "");
  // Random strings over characters of each kind, ASCII among them that stand for katakana in
  // the form's bytes ('5' is サ's byte, 'a' メ's).
  const std::vector<std::string> chars = {"ア", "サ", "メ", "ー", "・", "゠", "ヿ",
                                          "5",  "a",  " ",  "吉", "𠮷", "é",  "\x01"};
  const std::vector<bool> katakana = {true,  true,  true,  true,  true,  true,  true,
                                      false, false, false, false, false, false, false};
  std::mt19937 rng(7);
  auto random_text = [&](bool only_katakana) {
    std::string s;
    for (int n = int(rng() % 6); n > 0; --n) {
      size_t c = rng() % chars.size();
      while (only_katakana && !katakana[c]) c = rng() % chars.size();
      s += chars[c];
    }
    return s;
  };
  for (int i = 0; i < 20000; ++i) {
    const bool only = i % 2 == 0;
    std::string s = random_text(only), p = random_text(only);
    if (i % 3 == 0) p = s.substr(0, s.size() / 2 + 1);  // often a prefix (or a broken one)
    if (!IsValidUtf8(p)) continue;
    const std::string fs = KanaIndexForm(s), fp = KanaIndexForm(p);
    EXPECT_EQ(s.starts_with(p), fs.starts_with(fp)) << s << " / " << p;
    EXPECT_EQ(s == p, fs == fp) << s << " / " << p;
    if (only) {
      EXPECT_EQ(s < p, fs < fp) << s << " / " << p;
    }
  }
}

// Readings in half-width katakana (older systems, CP932 files) are stored in full-width, each
// sound mark joined to its kana where the full-width form has one, as NFKC would join it.
TEST(Text, HalfWidthKatakanaIsWidened) {
  struct Case {
    const char* in;
    const char* out;
  } cases[] = {
      {"ｲﾜｻｷ ﾅｵｷ", "イワサキ ナオキ"},
      {"ｶﾞｷﾞｸﾞｹﾞｺﾞ ｻﾞｼﾞｽﾞｾﾞｿﾞ ﾀﾞﾁﾞﾂﾞﾃﾞﾄﾞ", "ガギグゲゴ ザジズゼゾ ダヂヅデド"},
      {"ﾊﾞﾋﾞﾌﾞﾍﾞﾎﾞ ﾊﾟﾋﾟﾌﾟﾍﾟﾎﾟ", "バビブベボ パピプペポ"},
      {"ｳﾞｧｲｵﾘﾝ ｦﾞ", "ヴァイオリン ヺ"},
      {"ｷｮｳｺ･ｽﾐｽ ｼﾞｮｰﾝｽﾞ", "キョウコ・スミス ジョーンズ"},
      {"ｯﾞ ｱﾟ ﾞｶ ﾟ", "ッ゛ ア゜ ゛カ ゜"},  // marks no kana takes stay marks
      {"ﾀﾞ", "ダ"},                         // at the end
      {"ｻﾄｳ　はなこ", "サトウ　はなこ"},    // hiragana and full-width text unchanged
      {"サトウ　ハナコ", "サトウ　ハナコ"},
      {"ｶ\xcc\x81ﾞ", "カ\xcc\x81゛"},  // a mark after another character is not joined
      {"", ""},
  };
  for (const auto& c : cases) EXPECT_EQ(WideKatakana(c.in), c.out) << c.in;
  // Every half-width katakana, alone or with either sound mark, folds the same widened or
  // not: a reading stored widened is found by the half-width text it was imported from.
  for (int32_t kana = 0xFF66; kana <= 0xFF9D; ++kana) {
    for (int32_t mark : {0, 0xFF9E, 0xFF9F}) {
      std::string half;
      AppendUtf8(half, kana);
      if (mark != 0) AppendUtf8(half, mark);
      half += "ｱ";
      EXPECT_EQ(SearchFold(WideKatakana(half)), SearchFold(half)) << half;
      EXPECT_TRUE(IsKanaText(WideKatakana(half))) << half;
    }
  }
  EXPECT_EQ(SearchFold("ﾜﾞｲﾝ"), "ヷイン");
  EXPECT_EQ(SearchFold("ｯﾞ"), "ッ");
  EXPECT_EQ(SearchFold("か゛ぎくﾞ ハ゜"), "ガギグパ");  // marks in every form join
  EXPECT_EQ(SearchFold("゛あ゜"), "ア");                // marks no kana takes are dropped
}

TEST(Text, KanaCheck) {
  EXPECT_TRUE(IsKanaText("さとう　たろう"));
  EXPECT_TRUE(IsKanaText("サトウ タロウ"));
  EXPECT_TRUE(IsKanaText("ｻﾄｳ"));
  EXPECT_TRUE(IsKanaText("ヤマダ・ジョーンズ"));
  EXPECT_FALSE(IsKanaText("佐藤"));
  EXPECT_FALSE(IsKanaText("sato"));
}

TEST(Text, PrivateUseAndUtf8) {
  EXPECT_TRUE(HasPrivateUse("山\uE000"));
  EXPECT_FALSE(HasPrivateUse("山田"));
  EXPECT_TRUE(IsValidUtf8("佐藤"));
  EXPECT_FALSE(IsValidUtf8("\xff\xfe"));
  EXPECT_FALSE(IsValidUtf8("\xe4\xbd"));      // truncated
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));      // overlong
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));  // surrogate
  // Long ASCII runs are checked eight bytes at a time: a bad byte inside or after one is found.
  EXPECT_TRUE(IsValidUtf8("042021,22830154912,山下　明,1981-07-24,男"));
  EXPECT_FALSE(IsValidUtf8("0123456789abcdef\xff"));
  EXPECT_FALSE(
      IsValidUtf8("01234567\x80"
                  "89abcdef"));
  EXPECT_FALSE(IsValidUtf8("0123456789ab\xe4\xbd"));  // truncated at the end
  EXPECT_FALSE(
      IsValidUtf8("0123\xc0\xaf"
                  "456789abcdef"));
  // The valid prefix ends where the first bad code point starts.
  EXPECT_EQ(ValidUtf8Prefix("0123456789佐藤"), std::string_view("0123456789佐藤").size());
  EXPECT_EQ(ValidUtf8Prefix("0123456789ab\xe4\xbd"), 12u);
  EXPECT_EQ(ValidUtf8Prefix("佐\xff藤"), 3u);
}

TEST(Text, BlanksAtEitherEndAreTrimmed) {
  EXPECT_EQ(TrimBlank(" 佐藤　太郎　　"), "佐藤　太郎");
  EXPECT_EQ(TrimBlank("\t　佐藤 "), "佐藤");
  EXPECT_EQ(TrimBlank("佐藤"), "佐藤");
  EXPECT_EQ(TrimBlank("　 \t　"), "");
  EXPECT_EQ(TrimBlank(""), "");
  // Only whole blanks: a kanji whose UTF-8 ends in 80 80 is kept, and so is a malformed byte.
  EXPECT_EQ(TrimBlank("\u4000　"), "\u4000");
  EXPECT_EQ(TrimBlank(" \xff "), "\xff");
  EXPECT_TRUE(IsBlank("　 "));
  EXPECT_FALSE(IsBlank(" \xff"));
}

TEST(Text, NfcAndNarrowing) {
  EXPECT_EQ(Nfc("か\u3099"), "が");
  EXPECT_EQ(Nfc("佐藤"), "佐藤");
  EXPECT_EQ(NarrowAscii("０１２－３４"), "012-34");
}

}  // namespace
}  // namespace bosai::node
