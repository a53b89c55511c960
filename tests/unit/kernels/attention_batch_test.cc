// AttentionBatch spreads the tasks of every sequence of a step over the pool
// in one go; each task runs the kernel Attention runs, so the outputs must be
// bit-identical to calling Attention once per sequence.
#include <cmath>
#include <cstring>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/backend.h"
#include "model/half.h"
#include "tests/unit/kernels/kernel_test_util.h"
#include "tests/unit/kernels/paged_kv.h"

namespace tessera::testing {
namespace {

struct Seq {
  std::vector<int32_t> positions;  // query positions; the context is max + 1
};

// The sequences of one step share a layer's store, as in the KV cache: each
// has its own blocks (its own block table) in one k_store / v_store.
struct Step {
  std::vector<std::vector<float>> q;
  std::vector<std::vector<int32_t>> block_ids;
  std::vector<float> k_store, v_store;
  std::vector<AttentionArgs> args;  // out left unset
};

Step MakeStep(const std::vector<Seq>& seqs, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim,
              int64_t block_size) {
  Step step;
  const int64_t row = n_kv_heads * head_dim;
  uint32_t seed = 100;
  for (const Seq& s : seqs) {
    int32_t max_pos = -1;
    for (int32_t p : s.positions) max_pos = std::max(max_pos, p);
    const int64_t n_ctx = max_pos + 1;
    const std::vector<float> k = RandomFloats(n_ctx * row, seed++, -2.0f, 2.0f);
    const std::vector<float> v = RandomFloats(n_ctx * row, seed++);
    // Page the sequence on its own, then append its blocks to the shared
    // store, shifting its ids past the blocks already there.
    const PagedKv own = PageKv(k, v, n_ctx, row, block_size, seed++, /*spare=*/1);
    const int32_t base = static_cast<int32_t>(step.k_store.size() / static_cast<size_t>(block_size * row));
    step.k_store.insert(step.k_store.end(), own.k_store.begin(), own.k_store.end());
    step.v_store.insert(step.v_store.end(), own.v_store.begin(), own.v_store.end());
    std::vector<int32_t> ids = own.block_ids;
    for (int32_t& id : ids) id += base;
    step.block_ids.push_back(std::move(ids));
    step.q.push_back(RandomFloats(static_cast<int64_t>(s.positions.size()) * n_heads * head_dim, seed++,
                                  -2.0f, 2.0f));
  }
  for (size_t i = 0; i < seqs.size(); ++i) {
    AttentionArgs a;
    a.q = step.q[i].data();
    a.n_tokens = static_cast<int64_t>(seqs[i].positions.size());
    a.positions = seqs[i].positions.data();
    a.n_heads = n_heads;
    a.n_kv_heads = n_kv_heads;
    a.head_dim = head_dim;
    a.scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
    a.kv = KvView{step.k_store.data(), step.v_store.data(), step.block_ids[i].data(), block_size};
    step.args.push_back(a);
  }
  return step;
}

void CheckBatch(const std::vector<Seq>& seqs, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim,
                int64_t block_size, const BackendCase& bc) {
  Step step = MakeStep(seqs, n_heads, n_kv_heads, head_dim, block_size);
  auto backend = MakeBackend(bc);
  std::vector<std::vector<float>> want(seqs.size()), got(seqs.size());
  for (size_t i = 0; i < seqs.size(); ++i) {
    want[i].assign(step.q[i].size(), NAN);
    got[i].assign(step.q[i].size(), -7.0f);
    AttentionArgs a = step.args[i];
    a.out = want[i].data();
    backend->Attention(a);
    step.args[i].out = got[i].data();
  }
  backend->AttentionBatch(step.args);
  for (size_t i = 0; i < seqs.size(); ++i) {
    for (size_t j = 0; j < want[i].size(); ++j) {
      ASSERT_FALSE(std::isnan(want[i][j])) << bc.Name() << " sequence " << i << " element " << j;
      ASSERT_EQ(FloatBits(got[i][j]), FloatBits(want[i][j]))
          << bc.Name() << " heads " << n_heads << "/" << n_kv_heads << " head_dim " << head_dim
          << " sequence " << i << " element " << j;
    }
  }
}

TEST(AttentionBatchTest, EqualsAttentionPerSequence) {
  // A step as the scheduler builds it: decodes at various context lengths, a
  // prefill chunk, a sequence with scattered query positions.
  std::vector<Seq> seqs = {{{40}}, {{}}, {{0}}, {{3, 4, 5, 6, 7}}, {{130}}, {{9, 2, 17}}};
  for (int32_t p = 20; p < 52; ++p) seqs[1].positions.push_back(p);
  struct Shape {
    int64_t n_heads, n_kv_heads, head_dim, block_size;
  };
  const Shape shapes[] = {
      {8, 2, 64, 16},  // GQA, the 64-dim value path
      {6, 1, 20, 7},   // multi-query, head_dim with a scalar tail
      {4, 4, 32, 5},   // multi-head
  };
  for (const Shape& s : shapes) {
    for (const BackendCase& bc : BackendCases()) {
      CheckBatch(seqs, s.n_heads, s.n_kv_heads, s.head_dim, s.block_size, bc);
      if (HasFatalFailure()) return;
    }
  }
}

TEST(AttentionBatchTest, SkipsSequencesWithoutTokensAndAnEmptyBatch) {
  std::vector<Seq> seqs = {{{5, 6}}, {{3}}, {{12}}};
  for (const BackendCase& bc : BackendCases()) {
    Step step = MakeStep(seqs, 4, 2, 16, 4);
    auto backend = MakeBackend(bc);
    backend->AttentionBatch({});
    std::vector<std::vector<float>> want(seqs.size()), got(seqs.size());
    for (size_t i = 0; i < seqs.size(); ++i) {
      want[i].assign(step.q[i].size(), NAN);
      got[i].assign(step.q[i].size(), NAN);
      AttentionArgs a = step.args[i];
      a.out = want[i].data();
      backend->Attention(a);
      step.args[i].out = got[i].data();
    }
    step.args[1].n_tokens = 0;  // nothing to attend this step: its output stays untouched
    backend->AttentionBatch(step.args);
    for (float x : got[1]) ASSERT_TRUE(std::isnan(x)) << bc.Name();
    for (size_t i : {size_t{0}, size_t{2}}) {
      ASSERT_EQ(0, std::memcmp(got[i].data(), want[i].data(), want[i].size() * sizeof(float)))
          << bc.Name() << " sequence " << i;
    }
  }
}

}  // namespace
}  // namespace tessera::testing
