// A backend that computes with a CPU backend but, to its callers, behaves as
// a device backend: host_memory() is false, every byte that crosses between
// host and backend memory is counted, and the failures a GPU can have are
// injected on demand (no room for the weights or a buffer, a sticky device
// error). It lets the worker tests check, on a machine without a GPU, the
// executor's device path: what it uploads and downloads, and how it reports
// device failures.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "kernels/backend.h"
#include "kernels/cpu/cpu_backend.h"

namespace tessera::testing {

class DeviceLikeBackend final : public Backend {
 public:
  explicit DeviceLikeBackend(const CpuBackendOptions& cpu = {.threads = 2})
      : inner_(MakeCpuBackend(cpu)) {}

  // Counters and faults, read and set by the tests.
  int64_t bytes_in = 0;    // CopyIn
  int64_t bytes_out = 0;   // CopyOut
  int64_t copy_ins = 0;    // CopyIn calls
  int64_t resident_calls = 0;
  int64_t finishes = 0;
  // Not OK: what Resident returns.
  absl::Status resident_error;
  // Allocations of more bytes than this fail with ResourceExhausted; -1: none.
  int64_t max_allocation = -1;
  // Not OK: the sticky error CopyOut and Finish report.
  absl::Status device_error;

  void ResetCounters() { bytes_in = bytes_out = copy_ins = finishes = 0; }

  std::string_view name() const override { return "device-like"; }
  int threads() const override { return inner_->threads(); }
  bool SupportsMatMul(DType t) const override { return inner_->SupportsMatMul(t); }
  bool host_memory() const override { return false; }

  absl::StatusOr<BackendBuffer> Allocate(int64_t bytes) override {
    if (max_allocation >= 0 && bytes > max_allocation) {
      return absl::ResourceExhaustedError(
          absl::StrCat("cannot allocate ", bytes, " bytes: ", max_allocation, " is the most there is"));
    }
    return inner_->Allocate(bytes);
  }
  void CopyIn(void* dst, const void* host_src, int64_t bytes) override {
    bytes_in += bytes;
    ++copy_ins;
    inner_->CopyIn(dst, host_src, bytes);
  }
  absl::Status CopyOut(void* host_dst, const void* src, int64_t bytes) override {
    bytes_out += bytes;
    if (!device_error.ok()) return device_error;
    return inner_->CopyOut(host_dst, src, bytes);
  }
  void Copy(void* dst, const void* src, int64_t bytes) override { inner_->Copy(dst, src, bytes); }
  void Zero(void* dst, int64_t bytes) override { inner_->Zero(dst, bytes); }
  absl::Status Finish() override {
    ++finishes;
    if (!device_error.ok()) return device_error;
    return inner_->Finish();
  }
  absl::StatusOr<std::unique_ptr<ResidentWeights>> Resident(const ModelWeights& weights) override {
    ++resident_calls;
    if (!resident_error.ok()) return resident_error;
    return inner_->Resident(weights);
  }

  void MatMul(const MatrixView& w, const float* x, int64_t n_rows, float* y) override {
    inner_->MatMul(w, x, n_rows, y);
  }
  void MatMulShared(std::span<const MatrixView* const> ws, const float* x, int64_t n_rows,
                    std::span<float* const> ys) override {
    inner_->MatMulShared(ws, x, n_rows, ys);
  }
  void Embedding(const MatrixView& table, const int32_t* tokens, int64_t n, int64_t id_offset,
                 float* out) override {
    inner_->Embedding(table, tokens, n, id_offset, out);
  }
  void StoreKv(const float* k, const float* v, int64_t n_rows, int64_t row_floats, const int32_t* slots,
               float* k_store, float* v_store) override {
    inner_->StoreKv(k, v, n_rows, row_floats, slots, k_store, v_store);
  }
  void RmsNorm(const float* x, const float* weight, int64_t n_rows, int64_t dim, float eps,
               float* out) override {
    inner_->RmsNorm(x, weight, n_rows, dim, eps, out);
  }
  void Rope(float* x, int64_t n_rows, int64_t n_heads, int64_t head_dim, const int32_t* positions,
            const RopeParams& p) override {
    inner_->Rope(x, n_rows, n_heads, head_dim, positions, p);
  }
  void Attention(const AttentionArgs& args) override { inner_->Attention(args); }
  void AttentionBatch(std::span<const AttentionArgs> seqs) override { inner_->AttentionBatch(seqs); }
  void SiluMul(const float* gate, const float* up, int64_t n, float* out) override {
    inner_->SiluMul(gate, up, n, out);
  }
  void Add(float* x, const float* y, int64_t n) override { inner_->Add(x, y, n); }
  void AddBias(float* x, const float* bias, int64_t n_rows, int64_t n) override {
    inner_->AddBias(x, bias, n_rows, n);
  }
  void Softmax(float* x, int64_t n) override { inner_->Softmax(x, n); }

 private:
  std::unique_ptr<Backend> inner_;
};

}  // namespace tessera::testing
