// ValidatePlan refuses plans tampered with in every way a worker could be
// hurt by: each case edits a good plan and names what the error must say.
#include <functional>
#include <string>

#include "gtest/gtest.h"
#include "partition/partitioner.h"
#include "partition_test_util.h"

namespace tessera {
namespace {

using testing::Device;
using testing::kGiB;
using testing::Same;

struct TamperCase {
  const char* name;
  int tp, pp;
  ModelConfig (*config)();
  DType type;
  std::function<void(proto::ShardPlan&)> edit;
  const char* says;
};

void SetRange(proto::Range* r, int64_t begin, int64_t end) {
  r->set_begin(begin);
  r->set_end(end);
}

proto::ShardPlan GoodPlan(const ModelTensors& m, int tp, int pp) {
  PartitionRequest r;
  r.model = m;
  r.tp = tp;
  r.pp = pp;
  r.profiles = Same(tp * pp, Device("d", 4 * kGiB, 100, 20));
  auto plan = Partition(r);
  EXPECT_TRUE(plan.ok()) << plan.status();
  return plan.ok() ? *plan : proto::ShardPlan();
}

TEST(ValidatePlanTest, RejectsTamperedPlans) {
  using testing::GqaConfig;
  using testing::NarrowConfig;
  const TamperCase cases[] = {
      {"wrong version", 2, 2, GqaConfig, DType::kF32, [](auto& p) { p.set_version(2); }, "version 2"},
      {"shape vs ranks", 2, 2, GqaConfig, DType::kF32, [](auto& p) { p.set_tp(3); }, "needs 6 ranks but lists 4"},
      {"dropped rank", 2, 2, GqaConfig, DType::kF32, [](auto& p) { p.mutable_ranks()->RemoveLast(); },
       "lists 3"},
      {"rank numbering", 2, 2, GqaConfig, DType::kF32, [](auto& p) { p.mutable_ranks(1)->set_tp_rank(0); },
       "plan entry 1"},
      {"zero tp", 1, 2, GqaConfig, DType::kF32, [](auto& p) { p.set_tp(0); }, "is empty"},
      {"layer gap", 1, 2, GqaConfig, DType::kF32,
       [](auto& p) { p.mutable_ranks(1)->mutable_layers()->set_begin(4); }, "should start at 3"},
      {"layer overlap", 1, 2, GqaConfig, DType::kF32,
       [](auto& p) { p.mutable_ranks(1)->mutable_layers()->set_begin(2); }, "should start at 3"},
      {"empty stage", 1, 2, GqaConfig, DType::kF32,
       [](auto& p) { SetRange(p.mutable_ranks(0)->mutable_layers(), 0, 0);
                     SetRange(p.mutable_ranks(1)->mutable_layers(), 0, 6); }, "not be empty"},
      {"layers short", 1, 2, GqaConfig, DType::kF32,
       [](auto& p) { p.mutable_ranks(1)->mutable_layers()->set_end(5); }, "model has 6"},
      {"layers differ in a stage", 2, 1, GqaConfig, DType::kF32,
       [](auto& p) { p.mutable_ranks(1)->mutable_layers()->set_end(5); }, "differ from its stage"},
      {"head overlap", 2, 1, testing::MhaConfig, DType::kF32,
       [](auto& p) { p.mutable_ranks(1)->mutable_q_heads()->set_begin(3);
                     p.mutable_ranks(1)->mutable_kv_heads()->set_begin(3); }, "query heads [3, 8) should start at 4"},
      {"head gap", 2, 1, testing::MhaConfig, DType::kF32,
       [](auto& p) { p.mutable_ranks(0)->mutable_q_heads()->set_end(3);
                     p.mutable_ranks(0)->mutable_kv_heads()->set_end(3); }, "should start at 3"},
      {"heads not covered", 2, 1, testing::MhaConfig, DType::kF32,
       [](auto& p) { p.mutable_ranks(1)->mutable_q_heads()->set_end(7);
                     p.mutable_ranks(1)->mutable_kv_heads()->set_end(7); }, "must cover [0, 8)"},
      {"reversed range", 3, 1, GqaConfig, DType::kF32,
       [](auto& p) { auto* ffn = p.mutable_ranks(1)->mutable_ffn(); ffn->set_end(ffn->begin() - 1); },
       "and not be reversed"},
      {"ffn gap", 2, 1, GqaConfig, DType::kF32,
       [](auto& p) { p.mutable_ranks(1)->mutable_ffn()->set_begin(705); }, "FFN columns"},
      {"vocab overlap", 2, 1, GqaConfig, DType::kF32,
       [](auto& p) { p.mutable_ranks(1)->mutable_vocab()->set_begin(400); }, "vocabulary rows"},
      {"vocab on a middle stage", 1, 3, GqaConfig, DType::kF32,
       [](auto& p) { SetRange(p.mutable_ranks(1)->mutable_vocab(), 0, 10); }, "neither embeds"},
      {"kv not what q reads", 3, 1, GqaConfig, DType::kF32,
       [](auto& p) { p.mutable_ranks(1)->mutable_kv_heads()->set_begin(1); }, "are not the [0, 2)"},
      {"kv dropped", 2, 1, GqaConfig, DType::kF32,
       [](auto& p) { SetRange(p.mutable_ranks(1)->mutable_kv_heads(), 0, 0); }, "KV heads"},
      {"misaligned q8_0 ffn", 2, 1, GqaConfig, DType::kQ8_0,
       [](auto& p) { p.mutable_ranks(0)->mutable_ffn()->set_end(700);
                     p.mutable_ranks(1)->mutable_ffn()->set_begin(700); }, "FFN column 700"},
      {"misaligned q8_0 heads", 2, 1, NarrowConfig, DType::kQ8_0,
       [](auto& p) { SetRange(p.mutable_ranks(0)->mutable_q_heads(), 0, 3);
                     SetRange(p.mutable_ranks(0)->mutable_kv_heads(), 0, 3);
                     SetRange(p.mutable_ranks(1)->mutable_q_heads(), 3, 8);
                     SetRange(p.mutable_ranks(1)->mutable_kv_heads(), 3, 8); }, "wo column 48"},
  };
  for (const TamperCase& c : cases) {
    const ModelTensors m = UniformModel(c.config(), c.type, c.type);
    proto::ShardPlan plan = GoodPlan(m, c.tp, c.pp);
    ASSERT_TRUE(ValidatePlan(plan, m).ok()) << c.name << ": " << ValidatePlan(plan, m);
    c.edit(plan);
    const absl::Status st = ValidatePlan(plan, m);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_NE(st.message().find(c.says), std::string::npos) << c.name << ": " << st;
  }
}

// The same plan checked against a model of another shape.
TEST(ValidatePlanTest, RejectsAPlanForAnotherModel) {
  const ModelTensors gqa = UniformModel(testing::GqaConfig(), DType::kF32, DType::kF32);
  const proto::ShardPlan plan = GoodPlan(gqa, 2, 2);
  ModelConfig bigger = testing::GqaConfig();
  bigger.ffn_dim = 2048;
  EXPECT_FALSE(ValidatePlan(plan, UniformModel(bigger, DType::kF32, DType::kF32)).ok());
  ModelConfig deeper = testing::GqaConfig();
  deeper.n_layers = 8;
  EXPECT_FALSE(ValidatePlan(plan, UniformModel(deeper, DType::kF32, DType::kF32)).ok());
  // Float cuts anywhere are not block cuts: the f32 plan of the narrow model
  // with 5 ranks puts a head boundary at an odd head.
  const ModelTensors narrow = UniformModel(testing::NarrowConfig(), DType::kF32, DType::kF32);
  const proto::ShardPlan f32_plan = GoodPlan(narrow, 5, 1);
  EXPECT_TRUE(ValidatePlan(f32_plan, narrow).ok());
  EXPECT_FALSE(ValidatePlan(f32_plan, UniformModel(testing::NarrowConfig(), DType::kQ8_0, DType::kQ8_0)).ok());
}

}  // namespace
}  // namespace tessera
