// UTF-8 helpers, checked against hand-encoded byte sequences and RFC 3629.
#include <cstdint>
#include <string>

#include "gtest/gtest.h"
#include "model/utf8.h"

namespace tessera {
namespace {

constexpr char kFffd[] = "\xEF\xBF\xBD";

TEST(TokUtf8Test, EncodesByHandComputedBytes) {
  EXPECT_EQ(EncodeUtf8(0x41), "A");
  EXPECT_EQ(EncodeUtf8(0xE9), "\xC3\xA9");          // 1110 1001 -> 110 00011, 10 101001
  EXPECT_EQ(EncodeUtf8(0x2581), "\xE2\x96\x81");    // ▁
  EXPECT_EQ(EncodeUtf8(0x6C34), "\xE6\xB0\xB4");    // 水
  EXPECT_EQ(EncodeUtf8(0x1F389), "\xF0\x9F\x8E\x89");  // 🎉
  EXPECT_EQ(EncodeUtf8(0x10FFFF), "\xF4\x8F\xBF\xBF");
}

TEST(TokUtf8Test, DecodeInvertsEncodeForEveryScalarValue) {
  for (uint32_t cp = 0; cp <= 0x10FFFF; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    const std::string s = EncodeUtf8(cp);
    const size_t expected_len = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    ASSERT_EQ(s.size(), expected_len) << cp;
    ASSERT_EQ(Utf8CharLen(s, 0), expected_len) << cp;
    ASSERT_EQ(Utf8Decode(s, 0), cp);
  }
}

TEST(TokUtf8Test, RejectsIllFormedSequences) {
  EXPECT_EQ(Utf8CharLen("\x80", 0), 0u);              // stray continuation
  EXPECT_EQ(Utf8CharLen("\xC0\x80", 0), 0u);          // overlong NUL
  EXPECT_EQ(Utf8CharLen("\xE0\x80\x80", 0), 0u);      // overlong
  EXPECT_EQ(Utf8CharLen("\xED\xA0\x80", 0), 0u);      // surrogate U+D800
  EXPECT_EQ(Utf8CharLen("\xF4\x90\x80\x80", 0), 0u);  // U+110000
  EXPECT_EQ(Utf8CharLen("\xE6\xB0", 0), 0u);          // truncated
  EXPECT_EQ(Utf8CharLen("\xF8\x88\x80\x80\x80", 0), 0u);
  EXPECT_EQ(Utf8UnitLen("\xE6\xB0", 0), 1u);
  EXPECT_TRUE(IsValidUtf8("abc \xE6\xB0\xB4 \xF0\x9F\x8E\x89"));
  EXPECT_FALSE(IsValidUtf8("abc \xE6\xB0"));
  EXPECT_TRUE(IsValidUtf8(""));
}

TEST(TokUtf8Test, IncompleteSuffixCountsOnlyBytesThatCouldStillComplete) {
  EXPECT_EQ(IncompleteUtf8Suffix("ab\xE6"), 1u);
  EXPECT_EQ(IncompleteUtf8Suffix("ab\xE6\xB0"), 2u);
  EXPECT_EQ(IncompleteUtf8Suffix("ab\xE6\xB0\xB4"), 0u);
  EXPECT_EQ(IncompleteUtf8Suffix("\xF0\x9F\x8E"), 3u);
  EXPECT_EQ(IncompleteUtf8Suffix("\xC3"), 1u);
  EXPECT_EQ(IncompleteUtf8Suffix("a\x80"), 0u);      // no lead byte
  EXPECT_EQ(IncompleteUtf8Suffix("\xE0\x80"), 0u);   // E0 needs A0..BF next: never valid
  EXPECT_EQ(IncompleteUtf8Suffix("\xF0\x9F\x8E\x89"), 0u);
  EXPECT_EQ(IncompleteUtf8Suffix(""), 0u);
}

TEST(TokUtf8Test, SanitizeReplacesEachMaximalIllFormedSubpart) {
  EXPECT_EQ(SanitizeUtf8("plain \xC3\xA9"), "plain \xC3\xA9");
  EXPECT_EQ(SanitizeUtf8("a\x80" "b"), std::string("a") + kFffd + "b");
  // E6 B0 is one truncated character: one U+FFFD.
  EXPECT_EQ(SanitizeUtf8("\xE6\xB0x"), std::string(kFffd) + "x");
  // C0 cannot lead anything and AF is a stray continuation: two.
  EXPECT_EQ(SanitizeUtf8("\xC0\xAF"), std::string(kFffd) + kFffd);
  EXPECT_EQ(SanitizeUtf8("\xF0\x9F\x8E"), kFffd);
}

}  // namespace
}  // namespace tessera
