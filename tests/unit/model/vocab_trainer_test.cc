// BPE training on word tables small enough to follow by hand.
#include <string>
#include <tuple>
#include <vector>

#include "gtest/gtest.h"
#include "model/vocab_trainer.h"

namespace tessera {
namespace {

using Merges = std::vector<std::tuple<int32_t, int32_t, int32_t>>;
using Strings = std::vector<std::string>;

Merges AsTuples(const std::vector<BpeTrainer::Merge>& merges) {
  Merges out;
  for (const auto& m : merges) out.emplace_back(m.left, m.right, m.result);
  return out;
}

TEST(VocabTrainerTest, MergesTheMostFrequentPairFirst) {
  // Symbols a=0 b=1 c=2. Words: abc x3, ab x2, bc x1.
  //  counts: ab 3+2=5, bc 3+1=4  -> merge a+b into ab (3)
  //  words: [ab c] x3, [ab] x2, [b c] x1: ab+c 3, b+c 1 -> merge ab+c into abc (4)
  //  words: [abc] x3, [ab] x2, [b c] x1: b+c 1 -> merge b+c into bc (5)
  BpeTrainer t({"a", "b", "c"});
  t.AddWord({0, 1, 2}, 3);
  t.AddWord({0, 1}, 2);
  t.AddWord({1, 2}, 1);
  EXPECT_EQ(AsTuples(t.Train(10)), (Merges{{0, 1, 3}, {3, 2, 4}, {1, 2, 5}}));
  EXPECT_EQ(t.symbols(), (Strings{"a", "b", "c", "ab", "abc", "bc"}));
  EXPECT_EQ(t.alphabet_size(), 3);
}

TEST(VocabTrainerTest, StopsAtTheSymbolBudget) {
  BpeTrainer t({"a", "b", "c"});
  t.AddWord({0, 1, 2}, 3);
  t.AddWord({0, 1}, 2);
  t.AddWord({1, 2}, 1);
  EXPECT_EQ(AsTuples(t.Train(2)), (Merges{{0, 1, 3}, {3, 2, 4}}));
  EXPECT_EQ(t.symbols().size(), 5u);
}

TEST(VocabTrainerTest, TiesGoToTheLowerSymbolIds) {
  // b a and a b once each: a tie; (a,b) has the lower left id and goes first,
  // then (b,a) (the word "ba" is untouched by the first merge).
  BpeTrainer t({"a", "b"});
  t.AddWord({1, 0}, 1);
  t.AddWord({0, 1}, 1);
  EXPECT_EQ(AsTuples(t.Train(10)), (Merges{{0, 1, 2}, {1, 0, 3}}));
  EXPECT_EQ(t.symbols(), (Strings{"a", "b", "ab", "ba"}));
}

TEST(VocabTrainerTest, OverlappingRunsMergeLeftToRight) {
  // "aaa": a+a counted twice; merging gives [aa a], then aa+a.
  BpeTrainer t({"a"});
  t.AddWord({0, 0, 0}, 1);
  EXPECT_EQ(AsTuples(t.Train(10)), (Merges{{0, 0, 1}, {1, 0, 2}}));
  EXPECT_EQ(t.symbols(), (Strings{"a", "aa", "aaa"}));
}

TEST(VocabTrainerTest, ReusesASymbolWithTheSameText) {
  // "ab" is already symbol 2, so merging a+b creates nothing new.
  BpeTrainer t({"a", "b", "ab"});
  t.AddWord({0, 1}, 2);
  EXPECT_EQ(AsTuples(t.Train(1)), (Merges{{0, 1, 2}}));
  EXPECT_EQ(t.symbols().size(), 3u);
}

TEST(VocabTrainerTest, WordOrderDoesNotChangeTheResult) {
  // Hash maps hold the counts; the result must depend on the words alone.
  const std::string text =
      "the cat sat on the mat and the rat ran at the cat then the cat and rat sat";
  std::vector<std::vector<int32_t>> words;
  std::vector<int32_t> word;
  for (char c : text + " ") {
    if (c == ' ') {
      words.push_back(word);
      word.clear();
    } else {
      word.push_back(c - 'a');
    }
  }
  Strings alphabet;
  for (char c = 'a'; c <= 'z'; ++c) alphabet.emplace_back(1, c);
  BpeTrainer forward(alphabet), backward(alphabet);
  for (size_t i = 0; i < words.size(); ++i) {
    forward.AddWord(words[i], static_cast<int64_t>(i % 3 + 1));
    backward.AddWord(words[words.size() - 1 - i], static_cast<int64_t>((words.size() - 1 - i) % 3 + 1));
  }
  const Merges f = AsTuples(forward.Train(100));
  EXPECT_FALSE(f.empty());
  EXPECT_EQ(f, AsTuples(backward.Train(100)));
  EXPECT_EQ(forward.symbols(), backward.symbols());
}

}  // namespace
}  // namespace tessera
