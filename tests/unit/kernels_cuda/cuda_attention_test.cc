// The CUDA backend's KV writes (StoreKv) and attention (Attention,
// AttentionBatch) over a paged KV store against the scalar reference. Each
// sequence's block table is a shuffled draw from one shared store, rows no
// sequence wrote hold NaN (reading one would poison the output), and the
// cases cover grouped-query and multi-query layouts, a tensor-parallel
// rank's head slice, head sizes 32, 64 and 128, and contexts past 1024 keys.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/backend.h"
#include "tests/unit/kernels_cuda/cuda_test_util.h"

namespace tessera::cuda_testing {
namespace {

// f32 attention in another order (online softmax, other reduction trees):
// outputs are convex mixes of values in [-1, 1], so the error is a few ulps
// of 1. Products in TF32 or BF16 would be ~1e-3 off and fail.
constexpr double kAttentionTol = 5e-5;

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::bit_cast<uint32_t>(a[i]) != std::bit_cast<uint32_t>(b[i])) return false;
  }
  return true;
}

// One sequence's place in a PagedStore: its block table (an offset into the
// store's table arrays) and how many positions it holds.
struct SeqKv {
  int64_t table_offset = 0;
  int64_t n_ctx = 0;
};

// One layer's paged KV store, the same bytes on the host (for the reference)
// and in GPU memory. Blocks are handed out in a shuffled order, so a
// sequence's blocks are neither contiguous nor increasing.
class PagedStore {
 public:
  PagedStore(Backend& gpu, int64_t n_blocks, int64_t block_size, int64_t row)
      : gpu_(gpu), block_size_(block_size), row_(row), order_(n_blocks) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    k_host_.assign(n_blocks * block_size * row, nan);
    v_host_.assign(n_blocks * block_size * row, nan);
    k_dev_ = Upload(gpu, k_host_);
    v_dev_ = Upload(gpu, v_host_);
    std::iota(order_.begin(), order_.end(), 0);
    std::shuffle(order_.begin(), order_.end(), std::mt19937(77));
  }

  // Takes blocks for n_ctx positions and writes random keys and values
  // there: directly on the host, with StoreKv on the GPU (the first n_ctx - 1
  // rows in one call, the last in another, as a prefill then a decode step).
  SeqKv AddSequence(int64_t n_ctx, uint32_t seed) {
    SeqKv s{static_cast<int64_t>(table_.size()), n_ctx};
    const int64_t n_blocks = (n_ctx + block_size_ - 1) / block_size_;
    EXPECT_LE(next_block_ + n_blocks, static_cast<int64_t>(order_.size())) << "store too small";
    for (int64_t b = 0; b < n_blocks; ++b) table_.push_back(order_[next_block_++]);
    const std::vector<float> k = RandomFloats(n_ctx * row_, seed, -2.0f, 2.0f);
    const std::vector<float> v = RandomFloats(n_ctx * row_, seed + 1);
    std::vector<int32_t> slots(n_ctx);
    for (int64_t p = 0; p < n_ctx; ++p) {
      slots[p] = static_cast<int32_t>(table_[s.table_offset + p / block_size_] * block_size_ + p % block_size_);
      std::copy_n(&k[p * row_], row_, &k_host_[slots[p] * row_]);
      std::copy_n(&v[p * row_], row_, &v_host_[slots[p] * row_]);
    }
    auto dk = Upload(gpu_, k);
    auto dv = Upload(gpu_, v);
    auto dslots = Upload(gpu_, slots);
    const int64_t head = n_ctx - 1;
    if (head > 0) gpu_.StoreKv(dk.get(), dv.get(), head, row_, dslots.get(), k_dev_.get(), v_dev_.get());
    gpu_.StoreKv(dk.get() + head * row_, dv.get() + head * row_, 1, row_, dslots.get() + head, k_dev_.get(),
                 v_dev_.get());
    return s;
  }

  // Uploads the block tables of every sequence added so far.
  void UploadTables() { table_dev_ = Upload(gpu_, table_); }

  KvView HostView(const SeqKv& s) const {
    return KvView{k_host_.data(), v_host_.data(), table_.data() + s.table_offset, block_size_};
  }
  KvView DeviceView(const SeqKv& s) const {
    return KvView{k_dev_.get(), v_dev_.get(), table_dev_.get() + s.table_offset, block_size_};
  }

  // The GPU store equals the host one bit for bit, NaN rows included.
  void ExpectStoresEqual() {
    EXPECT_TRUE(SameBits(Download(gpu_, k_dev_), k_host_)) << "StoreKv wrote other key rows than the reference";
    EXPECT_TRUE(SameBits(Download(gpu_, v_dev_), v_host_)) << "StoreKv wrote other value rows than the reference";
  }

 private:
  Backend& gpu_;
  int64_t block_size_, row_;
  std::vector<int32_t> order_;
  int64_t next_block_ = 0;
  std::vector<float> k_host_, v_host_;
  DeviceArray<float> k_dev_, v_dev_;
  std::vector<int32_t> table_;
  DeviceArray<int32_t> table_dev_;
};

// The query side of one sequence: heads as a (possibly tensor-parallel)
// rank holds them, and the positions of its query tokens.
struct Query {
  int64_t n_heads, n_kv_heads, head_dim;
  std::vector<int32_t> positions;
  int64_t kv_group = 0, q_head_offset = 0;
};

int64_t ContextOf(const Query& q) {
  return *std::max_element(q.positions.begin(), q.positions.end()) + 1;
}

// Host and device arguments of one sequence's attention, with the buffers
// they point into.
struct Prepared {
  std::vector<float> q;
  std::vector<float> want;
  DeviceArray<float> dq, dout;
  DeviceArray<int32_t> dpos;
  AttentionArgs host, device;
};

Prepared Prepare(Backend& gpu, const PagedStore& store, const SeqKv& s, const Query& query, uint32_t seed) {
  Prepared p;
  const int64_t n_tokens = static_cast<int64_t>(query.positions.size());
  const int64_t width = n_tokens * query.n_heads * query.head_dim;
  p.q = RandomFloats(width, seed, -2.0f, 2.0f);
  p.want.assign(width, std::numeric_limits<float>::quiet_NaN());
  p.dq = Upload(gpu, p.q);
  p.dpos = Upload(gpu, query.positions);
  p.dout = Upload(gpu, p.want);
  AttentionArgs a;
  a.n_tokens = n_tokens;
  a.n_heads = query.n_heads;
  a.n_kv_heads = query.n_kv_heads;
  a.head_dim = query.head_dim;
  a.kv_group = query.kv_group;
  a.q_head_offset = query.q_head_offset;
  a.scale = 1.0f / std::sqrt(static_cast<float>(query.head_dim));
  p.host = a;
  p.host.q = p.q.data();
  p.host.positions = query.positions.data();
  p.host.kv = store.HostView(s);
  p.host.out = p.want.data();
  p.device = a;
  p.device.q = p.dq.get();
  p.device.positions = p.dpos.get();
  p.device.kv = store.DeviceView(s);
  p.device.out = p.dout.get();
  return p;
}

using CudaAttentionTest = CudaBackendTest;

// One sequence at a time through Attention.
TEST_F(CudaAttentionTest, SingleSequenceMatchesReference) {
  struct Case {
    Query query;
    int64_t block_size;
    const char* what;
  };
  std::vector<int32_t> chunk_2040, prefill_200;
  for (int32_t p = 2040; p < 2048; ++p) chunk_2040.push_back(p);
  for (int32_t p = 0; p < 200; ++p) prefill_200.push_back(p);
  const std::vector<Case> cases = {
      {{8, 2, 64, {0, 5, 17, 3, 29}}, 16, "GQA, mixed positions"},
      {{4, 4, 128, {12, 13, 14}}, 16, "multi-head, head_dim 128"},
      {{6, 1, 32, {40, 0, 9}}, 7, "multi-query, head_dim 32, odd block size"},
      {{32, 8, 128, {1500}}, 16, "decode past 1024 keys (8B layout)"},
      {{32, 8, 64, chunk_2040}, 16, "chunk at 2040 (1B layout)"},
      {{4, 2, 128, {4100}}, 32, "decode at 4100"},
      {{8, 2, 64, prefill_200}, 16, "prefill of 200 tokens"},
      {{2, 1, 64, {6, 0}}, 1, "one position per block"},
  };
  for (const Case& c : cases) {
    const Query& q = c.query;
    const int64_t n_ctx = ContextOf(q);
    PagedStore store(*gpu_, (n_ctx + c.block_size - 1) / c.block_size + 5, c.block_size, q.n_kv_heads * q.head_dim);
    const SeqKv s = store.AddSequence(n_ctx, 31);
    store.UploadTables();
    Prepared p = Prepare(*gpu_, store, s, q, 32);
    ref_->Attention(p.host);
    gpu_->Attention(p.device);
    ASSERT_TRUE(AllNear(Download(*gpu_, p.dout), p.want, 0.0, kAttentionTol)) << c.what;
    store.ExpectStoresEqual();
  }
}

// A tensor-parallel rank holds query heads [qb, qe) of a model with 8 heads
// in 2 kv groups and the kv heads they read, compacted: kv_group and
// q_head_offset map its local heads onto those.
TEST_F(CudaAttentionTest, TensorParallelHeadSliceMatchesReference) {
  struct Slice {
    int64_t qb, qe;
  };
  const int64_t n_heads = 8, n_kv = 2, group = 4, head_dim = 64, block = 16;
  for (const Slice& sl : {Slice{4, 8}, Slice{3, 6}, Slice{5, 7}, Slice{0, 1}}) {
    const int64_t kb = sl.qb / group, ke = (sl.qe + group - 1) / group;
    Query q{sl.qe - sl.qb, ke - kb, head_dim, {0, 3, 9, 10, 1100}, group, sl.qb - kb * group};
    PagedStore store(*gpu_, 1101 / block + 3, block, q.n_kv_heads * head_dim);
    const SeqKv s = store.AddSequence(ContextOf(q), 41);
    store.UploadTables();
    Prepared p = Prepare(*gpu_, store, s, q, 42);
    ref_->Attention(p.host);
    gpu_->Attention(p.device);
    ASSERT_TRUE(AllNear(Download(*gpu_, p.dout), p.want, 0.0, kAttentionTol))
        << "heads [" << sl.qb << ", " << sl.qe << ") of " << n_heads << "/" << n_kv;
  }
}

// Runs the sequences through AttentionBatch on both backends, each with its
// own block table in one shared store.
void CheckBatch(Backend& gpu, Backend& ref, const std::vector<Query>& queries, int64_t block_size) {
  int64_t blocks = 0;
  for (const Query& q : queries) blocks += (ContextOf(q) + block_size - 1) / block_size;
  const Query& q0 = queries.front();
  PagedStore store(gpu, blocks + 3, block_size, q0.n_kv_heads * q0.head_dim);
  std::vector<SeqKv> seqs;
  for (size_t i = 0; i < queries.size(); ++i) {
    seqs.push_back(store.AddSequence(ContextOf(queries[i]), 100 + 2 * static_cast<uint32_t>(i)));
  }
  store.UploadTables();
  std::vector<Prepared> prepared;
  std::vector<AttentionArgs> host_args, device_args;
  for (size_t i = 0; i < queries.size(); ++i) {
    prepared.push_back(Prepare(gpu, store, seqs[i], queries[i], 500 + static_cast<uint32_t>(i)));
  }
  for (const Prepared& p : prepared) {
    host_args.push_back(p.host);
    device_args.push_back(p.device);
  }
  ref.AttentionBatch(host_args);
  gpu.AttentionBatch(device_args);
  for (size_t i = 0; i < prepared.size(); ++i) {
    ASSERT_TRUE(AllNear(Download(gpu, prepared[i].dout), prepared[i].want, 0.0, kAttentionTol))
        << "sequence " << i << " of " << prepared.size() << " (" << queries[i].positions.size()
        << " tokens, context " << ContextOf(queries[i]) << ")";
  }
  store.ExpectStoresEqual();
}

// A step of a continuous batch: decodes at short and long contexts, a fresh
// prefill chunk, and a chunk continuing a sequence.
TEST_F(CudaAttentionTest, BatchOfMixedSequencesMatchesReference) {
  std::vector<int32_t> fresh, continued;
  for (int32_t p = 0; p < 20; ++p) fresh.push_back(p);
  for (int32_t p = 30; p < 35; ++p) continued.push_back(p);
  for (int64_t head_dim : {64, 128}) {
    const std::vector<Query> queries = {
        {8, 2, head_dim, {1200}}, {8, 2, head_dim, fresh}, {8, 2, head_dim, {0}},
        {8, 2, head_dim, continued}, {8, 2, head_dim, {77}},
    };
    CheckBatch(*gpu_, *ref_, queries, 16);
    if (HasFatalFailure()) return;
  }
}

// 64 sequences decoding together (the batch the GPU benchmark times), of
// lengths from 1 to ~600, in the 8B model's head layout.
TEST_F(CudaAttentionTest, BatchOf64DecodesMatchesReference) {
  std::mt19937 rng(9);
  std::vector<Query> queries;
  for (int i = 0; i < 64; ++i) {
    queries.push_back({32, 8, 128, {static_cast<int32_t>(rng() % 600)}});
  }
  CheckBatch(*gpu_, *ref_, queries, 16);
}

}  // namespace
}  // namespace tessera::cuda_testing
