// Byte-pair-encoding training over a word frequency table: the most frequent
// adjacent pair of symbols becomes a new symbol, again and again. Pair counts
// are updated incrementally (only words holding the merged pair are touched),
// and a lazily invalidated max-heap finds the next pair.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace tessera {

class BpeTrainer {
 public:
  // The initial symbols; symbol i is alphabet[i]. They must be distinct.
  explicit BpeTrainer(std::vector<std::string> alphabet);

  // A word as symbol indices, seen `count` (> 0) times.
  void AddWord(std::vector<int32_t> symbols, int64_t count);

  struct Merge {
    int32_t left;
    int32_t right;
    int32_t result;  // a new symbol, or an existing one with the same text
  };
  // Merges until `max_new_symbols` symbols have been created or no adjacent
  // pair is left. Equal counts go to the pair with the lower (left, right)
  // symbol ids, so the result depends on the input alone, never on hashing.
  std::vector<Merge> Train(int32_t max_new_symbols);

  // All symbols: the alphabet, then the created ones in creation order.
  const std::vector<std::string>& symbols() const { return symbols_; }
  int32_t alphabet_size() const { return alphabet_size_; }

 private:
  struct Word {
    std::vector<int32_t> symbols;
    int64_t count;
  };
  // Rewrites one word holding (left, right), recording pair count changes.
  void MergeInWord(int32_t w, int32_t left, int32_t right, int32_t result,
                   absl::flat_hash_map<uint64_t, int64_t>& delta);

  std::vector<std::string> symbols_;
  int32_t alphabet_size_;
  absl::flat_hash_map<std::string, int32_t> symbol_ids_;
  std::vector<Word> words_;
  absl::flat_hash_map<uint64_t, int64_t> pair_counts_;
  // Words that held a pair when it was recorded (may be stale: re-checked).
  absl::flat_hash_map<uint64_t, std::vector<int32_t>> pair_words_;
};

}  // namespace tessera
