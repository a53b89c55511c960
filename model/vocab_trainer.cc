#include "model/vocab_trainer.h"

#include <queue>
#include <utility>

#include "absl/strings/string_view.h"

namespace tessera {
namespace {

uint64_t PairKey(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

struct HeapEntry {
  int64_t count;
  uint64_t key;
};

// Highest count first; among equal counts the lowest key, i.e. the lowest ids.
struct HeapOrder {
  bool operator()(const HeapEntry& a, const HeapEntry& b) const {
    if (a.count != b.count) return a.count < b.count;
    return a.key > b.key;
  }
};

}  // namespace

BpeTrainer::BpeTrainer(std::vector<std::string> alphabet)
    : symbols_(std::move(alphabet)), alphabet_size_(static_cast<int32_t>(symbols_.size())) {
  for (int32_t i = 0; i < alphabet_size_; ++i) symbol_ids_.try_emplace(symbols_[i], i);
}

void BpeTrainer::AddWord(std::vector<int32_t> symbols, int64_t count) {
  if (symbols.size() < 2 || count <= 0) return;  // nothing to merge in it
  words_.push_back({std::move(symbols), count});
}

void BpeTrainer::MergeInWord(int32_t w, int32_t left, int32_t right, int32_t result,
                             absl::flat_hash_map<uint64_t, int64_t>& delta) {
  Word& word = words_[w];
  std::vector<int32_t>& s = word.symbols;
  bool holds = false;
  for (size_t i = 0; i + 1 < s.size() && !holds; ++i) holds = s[i] == left && s[i + 1] == right;
  if (!holds) return;

  for (size_t i = 0; i + 1 < s.size(); ++i) delta[PairKey(s[i], s[i + 1])] -= word.count;
  std::vector<int32_t> merged;
  merged.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    if (i + 1 < s.size() && s[i] == left && s[i + 1] == right) {
      merged.push_back(result);
      i += 2;
    } else {
      merged.push_back(s[i]);
      i += 1;
    }
  }
  s = std::move(merged);
  for (size_t i = 0; i + 1 < s.size(); ++i) {
    const uint64_t key = PairKey(s[i], s[i + 1]);
    delta[key] += word.count;
    // Pairs without the new symbol were in the word before and are indexed.
    if (s[i] == result || s[i + 1] == result) pair_words_[key].push_back(w);
  }
}

std::vector<BpeTrainer::Merge> BpeTrainer::Train(int32_t max_new_symbols) {
  std::priority_queue<HeapEntry, std::vector<HeapEntry>, HeapOrder> heap;
  for (int32_t w = 0; w < static_cast<int32_t>(words_.size()); ++w) {
    const std::vector<int32_t>& s = words_[w].symbols;
    for (size_t i = 0; i + 1 < s.size(); ++i) {
      const uint64_t key = PairKey(s[i], s[i + 1]);
      pair_counts_[key] += words_[w].count;
      pair_words_[key].push_back(w);
    }
  }
  for (const auto& [key, count] : pair_counts_) heap.push({count, key});

  std::vector<Merge> merges;
  std::vector<int32_t> last_step(words_.size(), -1);  // dedupes pair_words_ lists
  int32_t created = 0;
  absl::flat_hash_map<uint64_t, int64_t> delta;
  while (!heap.empty() && created < max_new_symbols) {
    const HeapEntry top = heap.top();
    heap.pop();
    const auto count_it = pair_counts_.find(top.key);
    // Every count change pushes a fresh entry, so a mismatch means stale.
    if (count_it == pair_counts_.end() || count_it->second != top.count) continue;

    const int32_t left = static_cast<int32_t>(top.key >> 32);
    const int32_t right = static_cast<int32_t>(top.key & 0xFFFFFFFFu);
    std::string text = symbols_[left] + symbols_[right];
    int32_t result;
    if (auto it = symbol_ids_.find(absl::string_view(text)); it != symbol_ids_.end()) {
      result = it->second;
    } else {
      result = static_cast<int32_t>(symbols_.size());
      symbol_ids_.emplace(text, result);
      symbols_.push_back(std::move(text));
      ++created;
    }
    const int32_t step = static_cast<int32_t>(merges.size());
    merges.push_back({left, right, result});

    std::vector<int32_t> holders = std::move(pair_words_[top.key]);
    pair_words_.erase(top.key);
    delta.clear();
    for (int32_t w : holders) {
      if (last_step[w] == step) continue;
      last_step[w] = step;
      MergeInWord(w, left, right, result, delta);
    }
    for (const auto& [key, d] : delta) {
      if (d == 0) continue;
      int64_t& c = pair_counts_[key];
      c += d;
      if (c <= 0) {
        pair_counts_.erase(key);
      } else {
        heap.push({c, key});
      }
    }
  }
  return merges;
}

}  // namespace tessera
