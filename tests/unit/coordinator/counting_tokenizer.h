// A tokenizer that counts its Encode calls (and the bytes they were given),
// wrapping the tiny model's, so tests can tell whether the coordinator
// tokenized a text at all.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "model/model.h"
#include "model/tokenizer.h"
#include "tests/unit/coordinator/test_cluster.h"

namespace tessera::testing {

class CountingTokenizer : public Tokenizer {
 public:
  explicit CountingTokenizer(std::unique_ptr<Tokenizer> inner) : inner_(std::move(inner)) {}

  int32_t vocab_size() const override { return inner_->vocab_size(); }
  int32_t bos_id() const override { return inner_->bos_id(); }
  int32_t eos_id() const override { return inner_->eos_id(); }
  bool add_bos() const override { return inner_->add_bos(); }
  std::vector<int32_t> Encode(std::string_view text, bool add_bos, bool parse_special = false) const override {
    ++encodes;
    encoded_bytes += static_cast<int64_t>(text.size());
    return inner_->Encode(text, add_bos, parse_special);
  }
  std::string TokenBytes(int32_t id) const override { return inner_->TokenBytes(id); }
  std::string_view TokenText(int32_t id) const override { return inner_->TokenText(id); }
  bool IsControl(int32_t id) const override { return inner_->IsControl(id); }

  mutable std::atomic<int> encodes{0};
  mutable std::atomic<int64_t> encoded_bytes{0};

 private:
  std::unique_ptr<Tokenizer> inner_;
};

// The tiny model with a CountingTokenizer (same fingerprint as Reference()).
inline Model& CountingModel() {
  static const std::unique_ptr<Model> m = [] {
    std::unique_ptr<Model> model = LoadTinyModel();
    model->tokenizer = std::make_unique<CountingTokenizer>(std::move(model->tokenizer));
    return model;
  }();
  return *m;
}

inline CountingTokenizer& Counter() { return static_cast<CountingTokenizer&>(*CountingModel().tokenizer); }

}  // namespace tessera::testing
