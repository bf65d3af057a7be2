// Japanese text folding; see text.h.
#include "node/text.h"

#include <unicode/normalizer2.h>
#include <unicode/unistr.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <unordered_map>

namespace bosai::node {
namespace {

// Half-width katakana U+FF61..U+FF9F to full-width (U+FF9E/U+FF9F are the sound marks).
constexpr std::array<char16_t, 63> kHalfToFull = {
    u'。', u'「', u'」', u'、', u'・', u'ヲ', u'ァ', u'ィ', u'ゥ', u'ェ', u'ォ', u'ャ', u'ュ',
    u'ョ', u'ッ', u'ー', u'ア', u'イ', u'ウ', u'エ', u'オ', u'カ', u'キ', u'ク', u'ケ', u'コ',
    u'サ', u'シ', u'ス', u'セ', u'ソ', u'タ', u'チ', u'ツ', u'テ', u'ト', u'ナ', u'ニ', u'ヌ',
    u'ネ', u'ノ', u'ハ', u'ヒ', u'フ', u'ヘ', u'ホ', u'マ', u'ミ', u'ム', u'メ', u'モ', u'ヤ',
    u'ユ', u'ヨ', u'ラ', u'リ', u'ル', u'レ', u'ロ', u'ワ', u'ン', u'゛', u'゜'};

// Variant kanji (異体字) found in names, folded to the form most people type (those from 𠮷
// on since kResidentIndexerVersion 2).
const std::unordered_map<int32_t, int32_t>& Variants() {
  static const auto* m = new std::unordered_map<int32_t, int32_t>{
      {U'髙', U'高'}, {U'﨑', U'崎'}, {U'嵜', U'崎'}, {U'邉', U'辺'}, {U'邊', U'辺'},
      {U'濵', U'浜'}, {U'濱', U'浜'}, {U'齋', U'斎'}, {U'齊', U'斉'}, {U'櫻', U'桜'},
      {U'廣', U'広'}, {U'澤', U'沢'}, {U'瀨', U'瀬'}, {U'國', U'国'}, {U'德', U'徳'},
      {U'眞', U'真'}, {U'冨', U'富'}, {U'槇', U'槙'}, {U'曾', U'曽'}, {U'萬', U'万'},
      {U'龍', U'竜'}, {U'惠', U'恵'}, {U'榮', U'栄'}, {U'學', U'学'}, {U'實', U'実'},
      {U'壽', U'寿'}, {U'藏', U'蔵'}, {U'關', U'関'}, {U'鐵', U'鉄'}, {U'彌', U'弥'},
      {U'𠮷', U'吉'}, {U'嶋', U'島'}, {U'嶌', U'島'}, {U'栁', U'柳'}, {U'桒', U'桑'},
      {U'舘', U'館'}, {U'舩', U'船'}, {U'藪', U'薮'}, {U'籔', U'薮'}, {U'槗', U'橋'},
      {U'黑', U'黒'}, {U'條', U'条'}, {U'圓', U'円'}, {U'淺', U'浅'}, {U'兒', U'児'},
      {U'靜', U'静'}, {U'增', U'増'}, {U'瀧', U'滝'}, {U'嶽', U'岳'}, {U'峯', U'峰'},
      {U'莊', U'荘'}, {U'戶', U'戸'}, {U'淵', U'渕'}, {U'薗', U'園'}, {U'來', U'来'},
      {U'會', U'会'}, {U'豐', U'豊'}, {U'禮', U'礼'}, {U'澁', U'渋'}, {U'澀', U'渋'},
      {U'團', U'団'}, {U'彥', U'彦'}, {U'晉', U'晋'}, {U'淸', U'清'}, {U'㟢', U'崎'},
      {U'穗', U'穂'}, {U'絲', U'糸'}, {U'恆', U'恒'}, {U'亙', U'亘'}, {U'鷗', U'鴎'},
  };
  return *m;
}

// Katakana KANA with the voiced (゛) or semi-voiced (゜) sound mark, or 0 when it has no such form.
char32_t WithSoundMark(char32_t kana, bool voiced) {
  if (voiced) {
    if (kana == U'ウ') return U'ヴ';
    if (kana >= U'ワ' && kana <= U'ヲ') return kana + 8;  // ワ→ヷ … ヲ→ヺ
    // カ…チ, ツ…ト: each followed in the code chart by its voiced form (ッ is not one of them)
    if ((kana >= U'カ' && kana <= U'チ' && (kana - U'カ') % 2 == 0) ||
        (kana >= U'ツ' && kana <= U'ト' && (kana - U'ツ') % 2 == 0)) {
      return kana + 1;
    }
  }
  if (kana >= U'ハ' && kana <= U'ホ' && (kana - U'ハ') % 3 == 0) return kana + (voiced ? 1 : 2);
  return 0;
}

bool IsSpace(int32_t cp) { return cp == ' ' || cp == '\t' || cp == 0x3000; }

// Code points that NFC leaves alone whatever surrounds them: ASCII, kana without combining
// sound marks, CJK unified ideographs, full-width forms. Most register text is only these.
bool NfcInert(int32_t cp) {
  return (cp >= 0 && cp < 0x300) || (cp >= 0x3000 && cp <= 0x3098) ||
         (cp >= 0x309B && cp <= 0x30FF) || (cp >= 0x4E00 && cp <= 0x9FFF) ||
         (cp >= 0xFF01 && cp <= 0xFF9F);
}

}  // namespace

int32_t NextCodePoint(std::string_view s, size_t& i) {
  auto b = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  uint8_t c = b(i);
  int len;
  int32_t cp;
  if (c < 0x80) {
    ++i;
    return c;
  } else if ((c & 0xE0) == 0xC0) {
    len = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4;
    cp = c & 0x07;
  } else {
    ++i;
    return -1;
  }
  if (i + len > s.size()) {
    i = s.size();
    return -1;
  }
  for (int k = 1; k < len; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) {
      i += k;
      return -1;
    }
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  i += len;
  static constexpr int32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
  return cp;
}

void AppendUtf8(std::string& out, int32_t cp) {
  if (cp < 0x80) {
    out.push_back(char(cp));
  } else if (cp < 0x800) {
    out.push_back(char(0xC0 | (cp >> 6)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(char(0xE0 | (cp >> 12)));
    out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(char(0xF0 | (cp >> 18)));
    out.push_back(char(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  }
}

bool IsValidUtf8(std::string_view s) { return ValidUtf8Prefix(s) == s.size(); }

size_t ValidUtf8Prefix(std::string_view s) {
  // Eight bytes at a time while they are ASCII: most of a register file is.
  auto ascii8 = [&](size_t i) {
    uint64_t word;
    std::memcpy(&word, s.data() + i, 8);
    return (word & 0x8080808080808080u) == 0;
  };
  for (size_t i = 0; i < s.size();) {
    size_t at = i;
    if (i + 8 <= s.size() && ascii8(i)) {
      i += 8;
    } else if ((s[i] & 0x80) == 0) {
      ++i;
    } else if (NextCodePoint(s, i) < 0) {
      return at;
    }
  }
  return s.size();
}

std::string Nfc(std::string_view s) {
  bool inert = true;
  for (size_t i = 0; i < s.size() && inert;) inert = NfcInert(NextCodePoint(s, i));
  if (inert) return std::string(s);
  UErrorCode err = U_ZERO_ERROR;
  const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(err);
  icu::UnicodeString u =
      icu::UnicodeString::fromUTF8(icu::StringPiece(s.data(), int32_t(s.size())));
  if (U_FAILURE(err) || nfc->isNormalized(u, err)) return std::string(s);
  icu::UnicodeString n = nfc->normalize(u, err);
  std::string out;
  if (U_FAILURE(err)) return std::string(s);
  n.toUTF8String(out);
  return out;
}

std::string NarrowAscii(std::string_view s) {
  if (std::all_of(s.begin(), s.end(), [](char c) { return (c & 0x80) == 0; })) {
    return std::string(s);  // ASCII has nothing to narrow
  }
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t start = i;
    int32_t cp = NextCodePoint(s, i);
    if (cp >= 0xFF01 && cp <= 0xFF5E) {
      out.push_back(char(cp - 0xFEE0));
    } else if (cp == 0x3000) {
      out.push_back(' ');
    } else if (cp == 0x2212 || cp == 0x2010 || cp == 0x2011 || cp == 0x2015) {
      out.push_back('-');  // minus signs and dashes
    } else {
      out.append(s.substr(start, i - start));
    }
  }
  return out;
}

std::string NarrowNumber(std::string_view s) {
  std::string narrow = NarrowAscii(s);
  constexpr std::string_view kLongVowel = "ー";
  if (narrow.find(kLongVowel) == std::string::npos) return narrow;
  std::string out;
  out.reserve(narrow.size());
  for (size_t i = 0; i < narrow.size();) {
    if (std::string_view(narrow).substr(i, kLongVowel.size()) == kLongVowel) {
      out.push_back('-');
      i += kLongVowel.size();
    } else {
      out.push_back(narrow[i++]);
    }
  }
  return out;
}

std::string SearchFold(std::string_view input) {
  std::string s = Nfc(input);
  std::string out;
  out.reserve(s.size());
  const auto& variants = Variants();
  // The last character folded, held back for a sound mark that may follow it (-1: none): a mark,
  // whatever its form (half-width, combining, spacing), joins the kana before it that takes it
  // (ｶﾞ, か゛ → ガ) and is dropped otherwise, as WideKatakana joins marks in stored readings.
  int32_t pending = -1;
  auto flush = [&]() {
    if (pending >= 0) AppendUtf8(out, pending);
    pending = -1;
  };
  for (size_t i = 0; i < s.size();) {
    int32_t cp = NextCodePoint(s, i);
    if (cp < 0) continue;
    if (cp == 0xFF9E || cp == 0xFF9F || cp == 0x3099 || cp == 0x309A || cp == 0x309B ||
        cp == 0x309C) {
      const bool voiced = cp == 0xFF9E || cp == 0x3099 || cp == 0x309B;
      if (char32_t joined = pending > 0 ? WithSoundMark(pending, voiced) : 0) pending = joined;
      flush();
      continue;
    }
    flush();
    if (IsSpace(cp)) continue;
    if ((cp >= 0xFE00 && cp <= 0xFE0F) || (cp >= 0xE0100 && cp <= 0xE01EF)) continue;  // IVS
    if (cp >= 0x3041 && cp <= 0x3096) {
      cp += 0x60;  // hiragana → katakana
    } else if (cp == 0x309D || cp == 0x309E) {
      cp += 0x60;  // ゝゞ → ヽヾ
    } else if (cp >= 0xFF61 && cp <= 0xFF9D) {
      cp = kHalfToFull[size_t(cp - 0xFF61)];
    } else if (cp >= 0xFF01 && cp <= 0xFF5E) {
      cp -= 0xFEE0;
    }
    if (cp >= 'A' && cp <= 'Z') cp += 'a' - 'A';
    if (cp >= 0x3400) {  // every variant is a kanji: kana and ASCII need no lookup
      auto v = variants.find(cp);
      if (v != variants.end()) cp = v->second;
    }
    pending = cp;
  }
  flush();
  return out;
}

std::string KanaIndexForm(std::string_view folded) {
  std::string out;
  out.reserve(folded.size() / 3 + 4);
  for (size_t i = 0; i < folded.size();) {
    const size_t start = i;
    const int32_t cp = NextCodePoint(folded, i);
    if (cp >= 0x30A0 && cp <= 0x30FF) {
      out += char(cp - 0x3080);
    } else if (cp >= 0 && cp < 0x80) {
      out += '\x01';
      out += char(cp);
    } else {
      out.append(folded.substr(start, i - start));  // as it was, even when malformed
    }
  }
  return out;
}

std::string WideKatakana(std::string s) {
  // Half-width katakana are U+FF61..U+FF9F: UTF-8 EF BD A1..EF BE 9F.
  auto half = [&](size_t i) {
    return i + 2 < s.size() && uint8_t(s[i]) == 0xEF &&
           ((uint8_t(s[i + 1]) == 0xBD && uint8_t(s[i + 2]) >= 0xA1) ||
            (uint8_t(s[i + 1]) == 0xBE && uint8_t(s[i + 2]) <= 0x9F));
  };
  size_t first = 0;
  while (first < s.size() && !half(first)) ++first;
  if (first == s.size()) return s;
  std::string out = s.substr(0, first);
  for (size_t i = first; i < s.size();) {
    if (!half(i)) {
      const size_t start = i;
      NextCodePoint(s, i);
      out.append(s, start, i - start);
      continue;
    }
    int32_t cp = NextCodePoint(s, i);
    char32_t wide = kHalfToFull[size_t(cp - 0xFF61)];
    if (cp < 0xFF9E && half(i)) {  // a kana, then perhaps its sound mark
      size_t next = i;
      const int32_t mark = NextCodePoint(s, next);
      if (mark == 0xFF9E || mark == 0xFF9F) {
        if (char32_t joined = WithSoundMark(wide, mark == 0xFF9E)) {
          wide = joined;
          i = next;
        }
      }
    }
    AppendUtf8(out, int32_t(wide));
  }
  return out;
}

std::string_view TrimBlank(std::string_view s) {
  // Spaces are ASCII or U+3000 (E3 80 80): whole characters, whatever comes before them.
  auto blank_at_end = [&s] {
    if (s.ends_with(' ') || s.ends_with('\t')) return size_t(1);
    return s.ends_with("\u3000") ? size_t(3) : size_t(0);
  };
  for (size_t n; (n = blank_at_end()) > 0;) s.remove_suffix(n);
  for (size_t i = 0, at = 0; at < s.size(); at = i) {
    if (!IsSpace(NextCodePoint(s, i))) return s.substr(at);
  }
  return s.substr(s.size());  // empty, within S
}

bool IsBlank(std::string_view s) { return TrimBlank(s).empty(); }

bool IsKanaText(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    int32_t cp = NextCodePoint(s, i);
    bool ok = (cp >= 0x3041 && cp <= 0x309F) ||  // hiragana and sound marks
              (cp >= 0x30A0 && cp <= 0x30FF) ||  // katakana, ・, ー
              (cp >= 0xFF65 && cp <= 0xFF9F) ||  // half-width katakana
              IsSpace(cp);
    if (!ok) return false;
  }
  return true;
}

bool HasPrivateUse(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    int32_t cp = NextCodePoint(s, i);
    if ((cp >= 0xE000 && cp <= 0xF8FF) || cp >= 0xF0000) return true;
  }
  return false;
}

bool AllDigits(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace bosai::node
