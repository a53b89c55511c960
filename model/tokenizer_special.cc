#include "model/tokenizer_special.h"

#include <algorithm>

namespace tessera {

void SpecialTokenMatcher::Add(std::string_view text, int32_t id) {
  if (text.empty()) return;
  auto& bucket = by_first_[static_cast<uint8_t>(text[0])];
  const auto before = [](const std::pair<std::string, int32_t>& a,
                         const std::pair<std::string, int32_t>& b) {
    if (a.first.size() != b.first.size()) return a.first.size() > b.first.size();
    return a.second < b.second;
  };
  std::pair<std::string, int32_t> entry{std::string(text), id};
  bucket.insert(std::upper_bound(bucket.begin(), bucket.end(), entry, before), std::move(entry));
  ++count_;
}

std::vector<SpecialTokenMatcher::Fragment> SpecialTokenMatcher::Split(std::string_view text) const {
  std::vector<Fragment> out;
  size_t plain_start = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const auto& bucket = by_first_[static_cast<uint8_t>(text[pos])];
    const std::pair<std::string, int32_t>* hit = nullptr;
    for (const auto& cand : bucket) {
      if (text.compare(pos, cand.first.size(), cand.first) == 0) {
        hit = &cand;
        break;
      }
    }
    if (hit == nullptr) {
      ++pos;
      continue;
    }
    if (pos > plain_start) out.push_back({text.substr(plain_start, pos - plain_start), -1});
    out.push_back({text.substr(pos, hit->first.size()), hit->second});
    pos += hit->first.size();
    plain_start = pos;
  }
  if (plain_start < text.size()) out.push_back({text.substr(plain_start), -1});
  return out;
}

}  // namespace tessera
