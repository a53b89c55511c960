#include "client/lib/chunk_dedupe.h"

#include <string_view>

namespace tessera::client_internal {

std::optional<proto::TokenChunk> ChunkDedupe::Fresh(const proto::TokenChunk& chunk) {
  const int64_t start = chunk.index();
  const int64_t end = start + chunk.tokens_size();
  if (start < 0 || end <= tokens_) return std::nullopt;
  proto::TokenChunk fresh;
  if (start >= tokens_) {
    // In sequence, or past a gap (which a coordinator should never leave):
    // passed on as it is, with its own index.
    fresh = chunk;
  } else {
    const int64_t skip = tokens_ - start;
    fresh.set_index(static_cast<int32_t>(tokens_));
    for (int64_t i = skip; i < chunk.tokens_size(); ++i) fresh.add_tokens(chunk.tokens(static_cast<int>(i)));
    auto known = text_start_.find(start);
    if (known != text_start_.end()) {
      const std::string_view have = std::string_view(text_).substr(known->second);
      if (chunk.text().size() >= have.size() && std::string_view(chunk.text()).substr(0, have.size()) == have) {
        fresh.set_text(chunk.text().substr(have.size()));
      }
    }
  }
  text_start_.emplace(fresh.index(), text_.size());
  text_ += fresh.text();
  tokens_ = fresh.index() + fresh.tokens_size();
  return fresh;
}

}  // namespace tessera::client_internal
