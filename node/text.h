// Japanese text handling for names and search (DESIGN §3): NFC normalization, the search fold
// (hiragana and half-width katakana to full-width katakana, spaces dropped, full-width ASCII to
// ASCII, common variant kanji to their usual form), kana checks and private-use (外字) detection.
// Pure functions, thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "storage/status.h"

namespace bosai::node {

// Decodes one UTF-8 code point at s[i], advancing i; returns -1 on malformed input.
int32_t NextCodePoint(std::string_view s, size_t& i);
void AppendUtf8(std::string& out, int32_t cp);
bool IsValidUtf8(std::string_view s);
// The length of the longest prefix of s that is valid UTF-8 (s.size() when all of it is).
size_t ValidUtf8Prefix(std::string_view s);

// NFC form of valid UTF-8 text.
std::string Nfc(std::string_view s);

// The search form of a name or a reading.
std::string SearchFold(std::string_view s);

// The form in which record_index holds a reading's search form (SearchFold): each character of
// the katakana block (U+30A0..U+30FF: katakana, ・, ー) as one byte, 0x20..0x7F in their order;
// any other ASCII character as 0x01 and itself; any other character as its UTF-8. A third of
// the bytes of UTF-8 for a reading. It is a prefix code, so one form starts with another exactly
// when their texts start with each other, and readings in katakana keep their order.
std::string KanaIndexForm(std::string_view folded);

// Full-width digits, letters and common punctuation to ASCII; other text unchanged.
std::string NarrowAscii(std::string_view s);
// NarrowAscii for numbers people type (phone, postal code, My Number): the long-vowel mark ー,
// often typed for a hyphen, becomes '-' too.
std::string NarrowNumber(std::string_view s);
// Whether every byte of `s` is an ASCII digit (true for "").
bool AllDigits(std::string_view s);

// Half-width katakana (JIS X 0201, as older systems write readings) to full-width, a sound mark
// joined to the kana before it where the full-width form has one (ｶﾞ → ガ, ﾊﾟ → パ, ｳﾞ → ヴ)
// and written as ゛ or ゜ otherwise; other text unchanged. The form a reading is stored in.
std::string WideKatakana(std::string s);

// S without the spaces, tabs and full-width spaces at either end (as a register pads a field).
std::string_view TrimBlank(std::string_view s);
// Whether S holds nothing but spaces, tabs and full-width spaces (true for "").
bool IsBlank(std::string_view s);

// Only kana (hiragana, katakana, half-width katakana), the long-vowel mark, middle dots and spaces.
bool IsKanaText(std::string_view s);

// Holds characters of a Private Use Area (外字 typed into a vendor font).
bool HasPrivateUse(std::string_view s);

}  // namespace bosai::node
