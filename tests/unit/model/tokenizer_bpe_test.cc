// Byte-level BPE: the GPT-2 byte alphabet, the pre-tokenizer, and rank-ordered
// merges on a hand-made vocabulary.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "model/tokenizer.h"
#include "model/tokenizer_gpt2_bytes.h"
#include "model/tokenizer_pretokenize.h"
#include "model/utf8.h"
#include "tests/unit/model/tokenizer_test_vocab.h"

namespace tessera {
namespace {

using ::tessera::test_vocab::Gpt2Vocab;
using ::tessera::test_vocab::MustMake;
using Ids = std::vector<int32_t>;
using Pieces = std::vector<std::string>;

Pieces PreTokenize(std::string_view text) {
  Pieces out;
  for (std::string_view p : Gpt2PreTokenize(text)) out.emplace_back(p);
  return out;
}

TEST(TokenizerBpeTest, ByteAlphabet) {
  // GPT-2's table: printable Latin-1 bytes stand for themselves; the others
  // take U+0100.. in byte order: 0x00..0x20 -> U+0100..U+0120 (so ' ' is "Ġ"),
  // 0x7F..0xA0 -> U+0121..U+0142, 0xAD -> U+0143.
  EXPECT_EQ(Gpt2ByteToCodepoint('A'), 0x41u);
  EXPECT_EQ(Gpt2ByteToCodepoint('~'), 0x7Eu);
  EXPECT_EQ(Gpt2ByteToCodepoint(0xE9), 0xE9u);
  EXPECT_EQ(Gpt2ByteToCodepoint(0x00), 0x100u);
  EXPECT_EQ(Gpt2ByteToCodepoint(' '), 0x120u);
  EXPECT_EQ(Gpt2ByteToCodepoint('\n'), 0x10Au);
  EXPECT_EQ(Gpt2ByteToCodepoint(0x7F), 0x121u);
  EXPECT_EQ(Gpt2ByteToCodepoint(0xA0), 0x142u);
  EXPECT_EQ(Gpt2ByteToCodepoint(0xAD), 0x143u);
  EXPECT_EQ(Gpt2EncodeBytes(" the"), "\xC4\xA0the");  // "Ġthe"
  std::string all;
  for (int b = 0; b < 256; ++b) {
    EXPECT_EQ(Gpt2CodepointToByte(Gpt2ByteToCodepoint(static_cast<uint8_t>(b))), b);
    all.push_back(static_cast<char>(b));
  }
  EXPECT_EQ(Gpt2DecodeText(Gpt2EncodeBytes(all)), all);
  EXPECT_EQ(Gpt2CodepointToByte(0x144), -1);
  EXPECT_EQ(Gpt2CodepointToByte(0x6C34), -1);
  // Characters outside the alphabet pass through.
  EXPECT_EQ(Gpt2DecodeText("\xE6\xB0\xB4\xC4\xA0"), "\xE6\xB0\xB4 ");
}

TEST(TokenizerBpeTest, PreTokenizerFollowsTheGpt2Pattern) {
  // Contractions split off; one space joins the following run; a run of
  // spaces before a word leaves its last space to the word; a lone newline
  // before a word stands alone; trailing whitespace stays one piece.
  EXPECT_EQ(PreTokenize("Hello world's  123 foo!!\n\nbar"),
            (Pieces{"Hello", " world", "'s", " ", " 123", " foo", "!!", "\n", "\n", "bar"}));
  EXPECT_EQ(PreTokenize("I'm here  "), (Pieces{"I", "'m", " here", "  "}));
  EXPECT_EQ(PreTokenize("don't we'll they're you've he'd"),
            (Pieces{"don", "'t", " we", "'ll", " they", "'re", " you", "'ve", " he", "'d"}));
  EXPECT_EQ(PreTokenize("a ,b 'S"), (Pieces{"a", " ,", "b", " '", "S"}));
  EXPECT_EQ(PreTokenize("3.14 x2"), (Pieces{"3", ".", "14", " x", "2"}));
  EXPECT_EQ(PreTokenize("a\tb"), (Pieces{"a", "\t", "b"}));
  EXPECT_EQ(PreTokenize(" \nx"), (Pieces{" ", "\n", "x"}));
  EXPECT_TRUE(PreTokenize("").empty());
  // Non-ASCII letters are letters; U+3000 is whitespace; ² is a number.
  EXPECT_EQ(PreTokenize("na\xC3\xAFve caf\xC3\xA9"), (Pieces{"na\xC3\xAFve", " caf\xC3\xA9"}));
  EXPECT_EQ(PreTokenize("\xE6\xB0\xB4 \xD0\xBC\xD0\xB8\xD1\x80"),
            (Pieces{"\xE6\xB0\xB4", " \xD0\xBC\xD0\xB8\xD1\x80"}));
  EXPECT_EQ(PreTokenize("x\xE3\x80\x80y"), (Pieces{"x", "\xE3\x80\x80", "y"}));
  EXPECT_EQ(PreTokenize("m\xC2\xB2"), (Pieces{"m", "\xC2\xB2"}));
}

TEST(TokenizerBpeTest, PreTokenizerPiecesConcatenateToTheInput) {
  for (const std::string text : {"a  b   c\n\n\n d", "\xFF\xFE abc \xC3", "\t\t x  \r\n",
                                 "!!??..  ''ss 'll", "\xF0\x9F\x8E\x89 ok \xF0\x9F\x8E\x89"}) {
    std::string joined;
    for (std::string_view p : Gpt2PreTokenize(text)) {
      EXPECT_FALSE(p.empty());
      joined += p;
    }
    EXPECT_EQ(joined, text);
  }
}

TEST(TokenizerBpeTest, CharacterClasses) {
  EXPECT_EQ(ClassifyCodepoint('a'), CharClass::kLetter);
  EXPECT_EQ(ClassifyCodepoint('7'), CharClass::kNumber);
  EXPECT_EQ(ClassifyCodepoint('\n'), CharClass::kSpace);
  EXPECT_EQ(ClassifyCodepoint('_'), CharClass::kOther);
  EXPECT_EQ(ClassifyCodepoint(0xE9), CharClass::kLetter);     // é
  EXPECT_EQ(ClassifyCodepoint(0xD7), CharClass::kOther);      // ×
  EXPECT_EQ(ClassifyCodepoint(0x3A9), CharClass::kLetter);    // Ω
  EXPECT_EQ(ClassifyCodepoint(0x6C34), CharClass::kLetter);   // 水
  EXPECT_EQ(ClassifyCodepoint(0xFF11), CharClass::kNumber);   // fullwidth 1
  EXPECT_EQ(ClassifyCodepoint(0xA0), CharClass::kSpace);      // no-break space
  EXPECT_EQ(ClassifyCodepoint(0x1F389), CharClass::kOther);   // 🎉
  EXPECT_EQ(ClassifyCodepoint(0x0301), CharClass::kOther);    // combining acute (a mark)
  EXPECT_EQ(ClassifyCodepoint(0x0710), CharClass::kLetter);   // Syriac alaph
  EXPECT_EQ(ClassifyCodepoint(0x07C0), CharClass::kNumber);   // N'Ko digit zero
  EXPECT_EQ(ClassifyCodepoint(0x2003), CharClass::kSpace);    // em space
  EXPECT_EQ(ClassifyCodepoint(0x20000), CharClass::kLetter);  // CJK extension B
  EXPECT_EQ(ClassifyCodepoint(0xD800), CharClass::kOther);    // surrogate
  EXPECT_EQ(ClassifyCodepoint(0x10FFFF), CharClass::kOther);
}

// Merges in rank order: 0 "Ġ t", 1 "e r", 2 "h e", 3 "Ġt he"; they make ids
// 256 Ġt, 257 er, 258 he, 259 Ġthe; 260 is <|endoftext|>.
VocabData HandVocab() {
  return Gpt2Vocab({{"\xC4\xA0", "t"}, {"e", "r"}, {"h", "e"}, {"\xC4\xA0t", "he"}});
}

TEST(TokenizerBpeTest, MergesApplyInRankOrder) {
  auto tok = MustMake(HandVocab());
  ASSERT_NE(tok, nullptr);
  // "the the" -> pieces "the", " the".
  //  "the":  t h e; only h+e (rank 2) is a merge -> t [he] = 116 258.
  //  " the": Ġ t h e; Ġ+t (0) -> [Ġt] h e; h+e (2) -> [Ġt][he]; Ġt+he (3) -> 259.
  EXPECT_EQ(tok->Encode("the the", false), (Ids{116, 258, 259}));
  // "her": h+e is rank 2, e+r rank 1: the lower rank wins though it is on the
  // right -> h [er] = 104 257.
  EXPECT_EQ(tok->Encode("her", false), (Ids{104, 257}));
  EXPECT_EQ(tok->Decode({116, 258, 259}), "the the");
}

TEST(TokenizerBpeTest, BytesSpacesAndEmptyText) {
  auto tok = MustMake(HandVocab());
  ASSERT_NE(tok, nullptr);
  EXPECT_TRUE(tok->Encode("", false).empty());
  EXPECT_FALSE(tok->add_bos());
  EXPECT_EQ(tok->Encode("", true), (Ids{260}));  // bos is <|endoftext|>
  // é is C3 A9: ids 0xC3, 0xA9 (the alphabet is in byte order).
  EXPECT_EQ(tok->Encode("\xC3\xA9", false), (Ids{0xC3, 0xA9}));
  // "a  b" -> "a", " ", " b": no merges apply: 97 32 32 98.
  EXPECT_EQ(tok->Encode("a  b", false), (Ids{97, 32, 32, 98}));
  EXPECT_EQ(tok->TokenBytes(32), " ");
  EXPECT_EQ(tok->TokenBytes(259), " the");
  EXPECT_EQ(tok->TokenText(259), "\xC4\xA0the");
  EXPECT_EQ(tok->TokenBytes(260), "");
  EXPECT_TRUE(tok->IsControl(260));
}

TEST(TokenizerBpeTest, RoundTripsArbitraryBytes) {
  auto tok = MustMake(HandVocab());
  ASSERT_NE(tok, nullptr);
  std::string all_bytes;
  for (int b = 255; b >= 0; --b) all_bytes.push_back(static_cast<char>(b));
  for (const std::string& text :
       {std::string("the other there  then\n\tthe"), all_bytes,
        std::string("\xE4\xB8\xAD\xE6\x96\x87 \xF0\x9F\x8E\x89 caf\xC3\xA9"), std::string("   ")}) {
    EXPECT_EQ(tok->Decode(tok->Encode(text, false)), text);
  }
}

}  // namespace
}  // namespace tessera
