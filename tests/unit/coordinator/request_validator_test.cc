#include "coordinator/request_validator.h"

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/unit/coordinator/test_cluster.h"

namespace tessera {
namespace {

using testing::Reference;

proto::GenerateRequest Base() {
  proto::GenerateRequest g;
  g.set_request_id("r");
  g.add_prompt_tokens(1);
  g.add_prompt_tokens(300);
  g.add_prompt_tokens(301);
  g.set_max_tokens(10);
  return g;
}

RequestLimits Limits() {
  RequestLimits l;
  l.vocab_size = 512;
  l.context_length = 64;
  l.default_max_tokens = 7;
  return l;
}

struct Case {
  const char* name;
  std::function<void(proto::GenerateRequest&, RequestLimits&)> edit;
  const char* error;  // a piece of the message; nullptr: valid
};

TEST(RequestValidator, TableOfBadAndGoodRequests) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<Case> cases = {
      {"base", [](auto&, auto&) {}, nullptr},
      {"empty id", [](auto& g, auto&) { g.set_request_id(""); }, "request_id is empty"},
      {"id of 128 bytes", [](auto& g, auto&) { g.set_request_id(std::string(128, 'x')); }, nullptr},
      {"id of 129 bytes", [](auto& g, auto&) { g.set_request_id(std::string(129, 'x')); }, "129 bytes"},
      {"no prompt", [](auto& g, auto&) { g.clear_prompt_tokens(); }, "no prompt"},
      {"both prompts", [](auto& g, auto&) { g.set_prompt("hi"); }, "not both"},
      {"negative id", [](auto& g, auto&) { g.set_prompt_tokens(1, -1); }, "prompt_tokens[1] = -1"},
      {"id = vocab", [](auto& g, auto&) { g.set_prompt_tokens(2, 512); }, "prompt_tokens[2] = 512"},
      {"last id", [](auto& g, auto&) { g.set_prompt_tokens(2, 511); }, nullptr},
      {"negative temperature", [](auto& g, auto&) { g.mutable_sampling()->set_temperature(-0.5f); }, "temperature"},
      {"NaN temperature", [=](auto& g, auto&) { g.mutable_sampling()->set_temperature(nan); }, "temperature"},
      {"infinite temperature", [=](auto& g, auto&) { g.mutable_sampling()->set_temperature(inf); }, "temperature"},
      {"temperature 2", [](auto& g, auto&) { g.mutable_sampling()->set_temperature(2.0f); }, nullptr},
      {"negative top_k", [](auto& g, auto&) { g.mutable_sampling()->set_top_k(-1); }, "top_k"},
      {"top_p above 1", [](auto& g, auto&) { g.mutable_sampling()->set_top_p(1.5f); }, "top_p"},
      {"negative top_p", [](auto& g, auto&) { g.mutable_sampling()->set_top_p(-0.1f); }, "top_p"},
      {"NaN top_p", [=](auto& g, auto&) { g.mutable_sampling()->set_top_p(nan); }, "top_p"},
      {"negative max_tokens", [](auto& g, auto&) { g.set_max_tokens(-3); }, "max_tokens must be >= 0"},
      // 3 prompt tokens + 62 - 1 = 64 positions: exactly the context.
      {"fills the context", [](auto& g, auto&) { g.set_max_tokens(62); }, nullptr},
      {"one past the context", [](auto& g, auto&) { g.set_max_tokens(63); }, "needs 65 positions"},
      {"huge max_tokens", [](auto& g, auto&) { g.set_max_tokens(std::numeric_limits<int32_t>::max()); }, "context"},
      // 3 + 30 - 1 = 32 positions = 2 blocks of 16: fits 2 blocks; 3 + 31 - 1
      // needs 3 (the worker's scheduler counts the same way).
      {"fits the KV", [](auto& g, auto& l) { g.set_max_tokens(30), l.kv_blocks = 2; }, nullptr},
      {"beyond the KV", [](auto& g, auto& l) { g.set_max_tokens(31), l.kv_blocks = 2; }, "needs 3 KV blocks"},
      {"text prompt", [](auto& g, auto&) { g.clear_prompt_tokens(), g.set_prompt("hello world"); }, nullptr},
  };
  for (const Case& c : cases) {
    proto::GenerateRequest g = Base();
    RequestLimits l = Limits();
    c.edit(g, l);
    absl::StatusOr<ValidatedRequest> v = ValidateGenerateRequest(g, *Reference().tokenizer, l);
    if (c.error == nullptr) {
      EXPECT_TRUE(v.ok()) << c.name << ": " << v.status();
    } else {
      ASSERT_FALSE(v.ok()) << c.name;
      EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument) << c.name;
      EXPECT_NE(std::string(v.status().message()).find(c.error), std::string::npos)
          << c.name << ": " << v.status().message();
    }
  }
}

TEST(RequestValidator, NormalisesDefaults) {
  proto::GenerateRequest g = Base();
  g.set_max_tokens(0);
  g.set_ignore_eos(true);
  g.mutable_sampling()->set_top_p(0.0f);
  g.mutable_sampling()->set_seed(99);
  auto v = ValidateGenerateRequest(g, *Reference().tokenizer, Limits());
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->max_tokens, 7);  // the default
  EXPECT_FALSE(v->stop_at_eos);
  EXPECT_EQ(v->sampling.top_p(), 1.0f);
  EXPECT_EQ(v->sampling.seed(), 99u);
  EXPECT_EQ(v->prompt, (std::vector<int32_t>{1, 300, 301}));
}

TEST(RequestValidator, TextIsEncodedLikeTesseraGenerate) {
  const Tokenizer& tok = *Reference().tokenizer;
  proto::GenerateRequest g = Base();
  g.clear_prompt_tokens();
  g.set_prompt("The quick brown fox");
  auto v = ValidateGenerateRequest(g, tok, Limits());
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->prompt, tok.Encode("The quick brown fox", tok.add_bos()));
  ASSERT_FALSE(v->prompt.empty());
  EXPECT_EQ(v->prompt[0], tok.bos_id());  // llama vocabularies add BOS
}

TEST(RequestValidator, KvBlocksNeededCountsPromptPlusMaxTokensMinusOne) {
  EXPECT_EQ(KvPositionsNeeded(3, 10), 12);
  EXPECT_EQ(KvBlocksNeeded(1, 16, 16), 1);   // 16 positions
  EXPECT_EQ(KvBlocksNeeded(1, 17, 16), 2);   // 17
  EXPECT_EQ(KvBlocksNeeded(16, 1, 16), 1);   // 16
  EXPECT_EQ(KvBlocksNeeded(17, 1, 16), 2);   // 17
  EXPECT_EQ(KvBlocksNeeded(16, 16, 16), 2);  // 31
  EXPECT_EQ(KvBlocksNeeded(100, 30, 32), 5); // 129
}

}  // namespace
}  // namespace tessera
