// Attention through a paged KV view (blocks at shuffled ids, see paged_kv.h)
// against a naive causal grouped-query attention over contiguous K and V,
// written out here.
#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/backend.h"
#include "tests/unit/kernels/kernel_test_util.h"
#include "tests/unit/kernels/paged_kv.h"

namespace tessera::testing {
namespace {

struct Case {
  int64_t n_heads, n_kv_heads, head_dim, block_size;
  std::vector<int32_t> positions;
};

void CheckAttention(const Case& c, const BackendCase& bc) {
  const int64_t n_tokens = static_cast<int64_t>(c.positions.size());
  int32_t max_pos = 0;
  for (int32_t p : c.positions) max_pos = std::max(max_pos, p);
  const int64_t n_ctx = max_pos + 1;
  const int64_t kv_row = c.n_kv_heads * c.head_dim;
  const std::vector<float> q = RandomFloats(n_tokens * c.n_heads * c.head_dim, 1, -2.0f, 2.0f);
  const std::vector<float> k = RandomFloats(n_ctx * kv_row, 2, -2.0f, 2.0f);
  const std::vector<float> v = RandomFloats(n_ctx * kv_row, 3);

  // The last block is only partly used.
  const PagedKv kv = PageKv(k, v, n_ctx, kv_row, c.block_size, 4);
  AttentionArgs a;
  a.q = q.data();
  a.n_tokens = n_tokens;
  a.positions = c.positions.data();
  a.n_heads = c.n_heads;
  a.n_kv_heads = c.n_kv_heads;
  a.head_dim = c.head_dim;
  a.scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  a.kv = kv.View();
  std::vector<float> out(q.size(), NAN);
  a.out = out.data();
  MakeBackend(bc)->Attention(a);

  const int64_t group = c.n_heads / c.n_kv_heads;
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t h = 0; h < c.n_heads; ++h) {
      const int64_t kvh = h / group;
      const float* qh = q.data() + (t * c.n_heads + h) * c.head_dim;
      std::vector<double> s(c.positions[t] + 1);
      double max = -INFINITY;
      for (int64_t j = 0; j <= c.positions[t]; ++j) {
        double dot = 0.0;
        for (int64_t d = 0; d < c.head_dim; ++d) dot += qh[d] * static_cast<double>(k[j * kv_row + kvh * c.head_dim + d]);
        s[j] = dot * a.scale;
        max = std::max(max, s[j]);
      }
      double sum = 0.0;
      for (double& x : s) sum += (x = std::exp(x - max));
      for (int64_t d = 0; d < c.head_dim; ++d) {
        double want = 0.0;
        for (int64_t j = 0; j <= c.positions[t]; ++j) want += s[j] / sum * v[j * kv_row + kvh * c.head_dim + d];
        // Values are in [-1, 1], so outputs are too: an absolute tolerance of
        // a few f32 ulps of 1 per contributing rounding step.
        ASSERT_NEAR(out[(t * c.n_heads + h) * c.head_dim + d], want, 2e-6)
            << bc.Name() << " heads " << c.n_heads << "/" << c.n_kv_heads << " head_dim " << c.head_dim
            << " token " << t << " head " << h << " dim " << d;
      }
    }
  }
}

TEST(AttentionTest, MatchesNaiveCausalGroupedQueryAttention) {
  const std::vector<Case> cases = {
      // GQA, several query tokens at mixed positions, block size not dividing the length.
      {8, 2, 64, 7, {0, 5, 17, 3, 29}},
      {4, 4, 128, 5, {12, 13, 14}},        // multi-head
      {6, 1, 80, 16, {40, 0, 9}},          // multi-query, head_dim not a multiple of 64
      {4, 2, 20, 3, {1, 2, 8, 7, 30, 31}}, // head_dim not a multiple of 8
      {2, 1, 8, 1, {6, 0}},                // one position per block
      {16, 4, 64, 16, {999}},              // decode at a long context
  };
  for (const Case& c : cases) {
    for (const BackendCase& bc : BackendCases()) {
      CheckAttention(c, bc);
      if (HasFatalFailure()) return;
    }
  }
}

TEST(AttentionTest, PrefillChunkOfConsecutivePositions) {
  Case c{8, 2, 64, 16, {}};
  for (int32_t p = 100; p < 164; ++p) c.positions.push_back(p);
  for (const BackendCase& bc : BackendCases()) {
    CheckAttention(c, bc);
    if (HasFatalFailure()) return;
  }
}

// A tensor-parallel rank holds query heads [qb, qe) and the kv heads they read
// (compacted, possibly shared with a neighbour rank). Its attention must equal
// those heads of the whole model's attention exactly: the same kernel runs on
// the same numbers.
void CheckHeadSlice(int64_t n_heads, int64_t n_kv, int64_t qb, int64_t qe, const BackendCase& bc) {
  const int64_t head_dim = 32, block = 4, group = n_heads / n_kv;
  const std::vector<int32_t> positions = {0, 3, 9, 10};
  const int64_t n_tokens = 4, n_ctx = 11;
  const std::vector<float> q = RandomFloats(n_tokens * n_heads * head_dim, 11, -2.0f, 2.0f);
  const std::vector<float> k = RandomFloats(n_ctx * n_kv * head_dim, 12, -2.0f, 2.0f);
  const std::vector<float> v = RandomFloats(n_ctx * n_kv * head_dim, 13);
  const int64_t kb = qb / group, ke = (qe + group - 1) / group;

  // Pages n_ctx rows of `heads` kv heads starting at `first`, compacted.
  auto page = [&](int64_t first, int64_t heads, uint32_t seed) {
    const int64_t row = heads * head_dim;
    std::vector<float> ck(n_ctx * row), cv(n_ctx * row);
    for (int64_t p = 0; p < n_ctx; ++p) {
      std::copy_n(&k[(p * n_kv + first) * head_dim], row, &ck[p * row]);
      std::copy_n(&v[(p * n_kv + first) * head_dim], row, &cv[p * row]);
    }
    return PageKv(ck, cv, n_ctx, row, block, seed);
  };
  const PagedKv whole = page(0, n_kv, 5);
  const PagedKv slice = page(kb, ke - kb, 6);

  auto backend = MakeBackend(bc);
  AttentionArgs full;
  full.q = q.data();
  full.n_tokens = n_tokens;
  full.positions = positions.data();
  full.n_heads = n_heads;
  full.n_kv_heads = n_kv;
  full.head_dim = head_dim;
  full.scale = 0.125f;
  full.kv = whole.View();
  std::vector<float> full_out(q.size(), NAN);
  full.out = full_out.data();
  backend->Attention(full);

  const int64_t nq = qe - qb;
  std::vector<float> local_q(n_tokens * nq * head_dim);
  for (int64_t t = 0; t < n_tokens; ++t) {
    std::copy_n(&q[(t * n_heads + qb) * head_dim], nq * head_dim, &local_q[t * nq * head_dim]);
  }
  AttentionArgs a = full;
  a.q = local_q.data();
  a.n_heads = nq;
  a.n_kv_heads = ke - kb;
  a.kv_group = group;
  a.q_head_offset = qb - kb * group;
  a.kv = slice.View();
  std::vector<float> out(local_q.size(), NAN);
  a.out = out.data();
  backend->Attention(a);
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t i = 0; i < nq * head_dim; ++i) {
      ASSERT_EQ(out[t * nq * head_dim + i], full_out[(t * n_heads + qb) * head_dim + i])
          << bc.Name() << " heads [" << qb << ", " << qe << ") of " << n_heads << "/" << n_kv
          << " token " << t << " element " << i;
    }
  }
}

TEST(AttentionTest, HeadSliceOfATensorParallelRankEqualsThoseHeadsOfTheWhole) {
  struct Slice {
    int64_t n_heads, n_kv, qb, qe;
  };
  const Slice slices[] = {
      {8, 2, 4, 8},  // aligned on kv groups (tp <= kv heads)
      {8, 2, 3, 6},  // straddles two groups: kv heads 0 and 1 replicated here
      {8, 2, 5, 7},  // inside one group, not at its start
      {6, 6, 2, 3},  // multi-head, one head
      {9, 3, 0, 9},  // the whole model through the explicit-group path
  };
  for (const Slice& s : slices) {
    for (const BackendCase& bc : BackendCases()) {
      CheckHeadSlice(s.n_heads, s.n_kv, s.qb, s.qe, bc);
      if (HasFatalFailure()) return;
    }
  }
}

}  // namespace
}  // namespace tessera::testing
