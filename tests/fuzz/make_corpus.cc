// Writes the fuzz targets' seed corpus: fuzz_corpus_maker OUT_DIR writes
// OUT_DIR/<target>/<seed> for gguf_fuzz, tokenizer_fuzz and coordinator_fuzz
// (tests/fuzz/make_corpus.sh runs it into tests/fuzz/corpus). Deterministic;
// it only overwrites its own seeds, so reproducers added by hand stay.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "model/gguf_writer.h"
#include "proto/admin_service.pb.h"
#include "proto/client_api.pb.h"
#include "proto/worker_api.pb.h"
#include "tests/fuzz/coordinator_fuzz_ops.h"
#include "tests/fuzz/fuzz_models.h"

namespace tessera::fuzz {
namespace {

namespace fs = std::filesystem;

constexpr size_t kMaxSeedBytes = 64 * 1024;

bool Write(const fs::path& dir, const std::string& name, std::string_view bytes) {
  if (bytes.size() > kMaxSeedBytes) {
    std::fprintf(stderr, "seed %s is %zu bytes (limit %zu)\n", name.c_str(), bytes.size(), kMaxSeedBytes);
    return false;
  }
  fs::create_directories(dir);
  std::ofstream f(dir / name, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return f.good();
}

std::string_view View(const std::vector<uint8_t>& b) {
  return std::string_view(reinterpret_cast<const char*>(b.data()), b.size());
}

// No .gguf suffix: the repository's .gitignore leaves out *.gguf (models).
bool GgufSeeds(const fs::path& dir) {
  bool ok = true;
  const std::vector<uint8_t> llama = ModelBytes(SmallSpec("llama", 260, DType::kQ4_0));
  ok &= Write(dir, "tiny_llama_q4_0", View(llama));
  ModelSpec gpt2 = SmallSpec("gpt2", 300, DType::kQ8_0);
  ok &= Write(dir, "tiny_gpt2_q8_0", View(ModelBytes(gpt2)));
  ModelSpec qwen = SmallSpec("llama", 260, DType::kF16);
  qwen.arch = Arch::kQwen2;
  qwen.tied_output = true;
  ok &= Write(dir, "tiny_qwen2_f16_tied", View(ModelBytes(qwen)));
  // Cut inside the header, the metadata, the tensor infos and the data.
  for (size_t cut : {size_t{16}, size_t{200}, size_t{6000}, llama.size() - 100}) {
    ok &= Write(dir, "truncated_" + std::to_string(cut),
                View(std::vector<uint8_t>(llama.begin(), llama.begin() + static_cast<std::ptrdiff_t>(cut))));
  }
  // One key of each kind the writer has, and one small tensor of each type.
  GgufWriter w;
  w.SetUint32("u32", 7);
  w.SetInt32("i32", -7);
  w.SetUint64("u64", uint64_t{1} << 40);
  w.SetFloat32("f32", 0.5f);
  w.SetBool("bool", true);
  w.SetString("str", "caf\xC3\xA9");
  w.SetStringArray("strs", {"a", "", "\xE2\x96\x81" "b"});
  w.SetFloat32Array("floats", {1.0f, -2.0f});
  w.SetInt32Array("ints", {1, -2, 3});
  w.SetAlignment(64);
  const std::pair<const char*, DType> tensors[] = {
      {"f32", DType::kF32}, {"f16", DType::kF16}, {"bf16", DType::kBF16}, {"q8_0", DType::kQ8_0}, {"q4_0", DType::kQ4_0}};
  for (const auto& [name, type] : tensors) {
    const int64_t cols = 32;
    const int64_t rows = 2;
    const int64_t bytes = *RowBytes(type, cols) * rows;
    ok &= w.AddTensor(name, {cols, rows}, type, std::vector<uint8_t>(static_cast<size_t>(bytes), 0x11)).ok();
  }
  absl::StatusOr<std::vector<uint8_t>> kinds = w.Serialize();
  ok &= kinds.ok() && Write(dir, "every_kind", View(*kinds));
  return ok;
}

bool TokenizerSeeds(const fs::path& dir) {
  using namespace std::string_view_literals;  // "..."sv keeps embedded NULs
  // flags: 1 gpt2, 2 add BOS, 4 parse special, 8 strip the leading space.
  struct Seed {
    const char* name;
    uint8_t flags;
    std::string_view text;
  };
  const Seed seeds[] = {
      {"llama_hello", 0, "Hello, world! the other there then"},
      {"gpt2_hello", 1, "Hello, world! the other there then"},
      {"llama_bos_special", 2 | 4, "<s>Hi</s> <unk> there"},
      {"gpt2_special", 1 | 4, "<|endoftext|>Hi<|endoftext|>"},
      {"llama_unicode", 8, "caf\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87 \xF0\x9F\x8E\x89 \xE2\x96\x81"},
      {"gpt2_unicode", 1 | 8, "caf\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87 \xF0\x9F\x8E\x89"},
      {"llama_invalid_utf8", 0, "\xC3\x28 \xA0\xA1 \xE2\x82 \xF0\x90\x80 \xFF\x00"sv},
      {"gpt2_invalid_utf8", 1, "\xC3\x28 \xA0\xA1 \xE2\x82 \xF0\x90\x80 \xFF\x00"sv},
      {"llama_spaces", 2, "   leading\tand\ntrailing   "},
      // As ids: byte tokens of a split character, control ids, out of range.
      {"llama_ids", 8, "\x03\x01\xE7\x00\xB2\x00\x01\x00\x02\x00\xFF\xFF\x08\x02"sv},
      {"gpt2_ids", 1, "\xC3\x00\xA9\x00\x04\x01\x10\x02\xFF\xFF"sv},
  };
  bool ok = true;
  for (const Seed& s : seeds) {
    std::string bytes(1, static_cast<char>(s.flags));
    bytes.append(s.text);
    ok &= Write(dir, s.name, bytes);
  }
  return ok;
}

// Script pieces (coordinator_fuzz_ops.h).
void Register(ScriptWriter& w, int leader, int tp = 1, int pp = 1) {
  w.Op(Op::kRegister).U8(static_cast<uint8_t>(leader)).U8(static_cast<uint8_t>(tp)).U8(static_cast<uint8_t>(pp));
  w.U8(0).U8(30).U16(0);  // flags, 1 GiB per rank, the coordinator's KV budget
}
void Ready(ScriptWriter& w, int leader, uint16_t kv_blocks = 64, uint8_t max_sequences = 4) {
  w.Op(Op::kReady).U8(static_cast<uint8_t>(leader)).U8(0).U16(kv_blocks).U8(16).U8(max_sequences).U16(256);
}
void Generate(ScriptWriter& w, int client, int id, bool stream, int max_tokens, std::vector<uint16_t> prompt) {
  w.Op(Op::kGenerate).U8(static_cast<uint8_t>(client)).U8(static_cast<uint8_t>(id));
  w.U8(stream ? kGenStream : 0).U8(static_cast<uint8_t>(max_tokens + 16)).U8(7).U8(0);
  w.U8(static_cast<uint8_t>(prompt.size()));
  // The target maps u16 v to v % (vocab + 32) - 16: add 16 for the id itself.
  for (uint16_t t : prompt) w.U16(static_cast<uint16_t>(t + 16));
}
void GenerateText(ScriptWriter& w, int client, int id, std::string_view text) {
  w.Op(Op::kGenerate).U8(static_cast<uint8_t>(client)).U8(static_cast<uint8_t>(id));
  w.U8(kGenStream | kGenText).U8(6 + 16).U8(3).U8(0).U8(static_cast<uint8_t>(text.size()));
  for (char c : text) w.U8(static_cast<uint8_t>(c));
}
// One update for the `seq_index`-th sequence started on the leader.
void Update(ScriptWriter& w, int leader, int seq_index, std::vector<uint16_t> tokens, uint8_t flags) {
  w.Op(Op::kUpdates).U8(static_cast<uint8_t>(leader)).U8(0).U8(1);
  w.U8(static_cast<uint8_t>(seq_index)).U8(static_cast<uint8_t>(tokens.size()));
  for (uint16_t t : tokens) w.U16(static_cast<uint16_t>(t + 4));  // the target subtracts 4
  w.U8(flags);
}
void Heartbeat(ScriptWriter& w, int leader) {
  w.Op(Op::kHeartbeat).U8(static_cast<uint8_t>(leader)).U8(0).U8(1).U8(10).U8(20);
}
void Tick(ScriptWriter& w, uint8_t fifty_ms) { w.Op(Op::kTick).U8(fifty_ms); }
void Admin(ScriptWriter& w, int admin, AdminKind kind, uint8_t group_select, uint8_t flags,
           std::vector<uint8_t> bounds = {}, std::vector<uint8_t> shares = {}) {
  w.Op(Op::kAdmin).U8(static_cast<uint8_t>(admin)).U8(static_cast<uint8_t>(kind)).U8(group_select).U8(flags);
  w.U8(static_cast<uint8_t>(bounds.size()));
  for (uint8_t b : bounds) w.U8(b);
  w.U8(static_cast<uint8_t>(shares.size()));
  for (uint8_t s : shares) w.U8(s);
  w.U8(20);  // drain timeout 200 ms
}
void Raw(ScriptWriter& w, Op op, int peer, std::vector<std::string> frames) {
  w.Op(op).U8(static_cast<uint8_t>(peer)).U8(static_cast<uint8_t>(frames.size()));
  for (const std::string& f : frames) w.Frame(f);
}

bool CoordinatorSeeds(const fs::path& dir) {
  bool ok = true;
  {  // One group serves one streamed request to the end.
    ScriptWriter w;
    Register(w, 0);
    Ready(w, 0);
    Generate(w, 0, 0, true, 5, {1, 300, 301, 302});
    Update(w, 0, 0, {310, 311, 312}, 0);
    Update(w, 0, 0, {313, 314}, kUpdDone);
    w.Op(Op::kStatus).U8(0);
    ok &= Write(dir, "serve_one", w.bytes());
  }
  {  // Two groups; one goes silent and dies; its requests continue on the other.
    ScriptWriter w;
    Register(w, 0);
    Ready(w, 0);
    Register(w, 1);
    Ready(w, 1);
    for (int i = 0; i < 4; ++i) Generate(w, i, i, true, 6, {1, static_cast<uint16_t>(300 + i)});
    Update(w, 0, 0, {320, 321}, 0);
    Update(w, 1, 0, {330}, 0);
    Tick(w, 20);
    Heartbeat(w, 1);
    Tick(w, 30);  // leader 0 silent 2.5 s: dead
    for (int s = 0; s < 4; ++s) Update(w, 1, s, {340, 341, 342, 343, 344}, kUpdDone);
    ok &= Write(dir, "group_dies", w.bytes());
  }
  {  // Cancel, repeats of an id (same and different), a client that vanishes.
    ScriptWriter w;
    Register(w, 0);
    Ready(w, 0);
    Generate(w, 0, 1, true, 8, {1, 400});
    Update(w, 0, 0, {401, 402}, 0);
    Generate(w, 1, 1, true, 8, {1, 400});  // the same request from another client
    Generate(w, 1, 1, true, 9, {1, 400});  // a different one under the same id
    w.Op(Op::kOutcome).U8(0).U8(1).U8(1);   // client 1 is gone
    Update(w, 0, 0, {403}, 0);
    w.Op(Op::kCancel).U8(0).U8(1);
    Update(w, 0, 0, {}, kUpdDone | kUpdCancelled);
    w.Op(Op::kCancel).U8(2).U8(5);  // unknown id
    Generate(w, 0, 1, false, 8, {1, 400});  // answered from the record
    ok &= Write(dir, "cancel_and_repeat", w.bytes());
  }
  {  // Well-formed messages as raw frames, and broken ones.
    proto::ClientRequest gen;
    gen.set_version(proto::PROTOCOL_VERSION_1);
    gen.mutable_generate()->set_request_id("raw");
    gen.mutable_generate()->set_prompt("Hello there");
    gen.mutable_generate()->set_max_tokens(4);
    gen.mutable_generate()->set_stream(true);
    proto::WorkerMessage reg;
    reg.set_version(proto::PROTOCOL_VERSION_1);
    reg.mutable_registration()->set_name("raw");
    reg.mutable_registration()->set_tp(1);
    reg.mutable_registration()->set_pp(1);
    reg.mutable_registration()->add_profiles()->set_memory_bytes(int64_t{1} << 30);
    proto::WorkerMessage hb;
    hb.set_version(proto::PROTOCOL_VERSION_1);
    hb.mutable_heartbeat()->set_group_id(1);
    hb.mutable_heartbeat()->set_epoch(1);
    proto::AdminRequest status;
    status.set_version(proto::PROTOCOL_VERSION_1);
    status.mutable_status();
    ScriptWriter w;
    Raw(w, Op::kClientRaw, 0, {gen.SerializeAsString()});
    Raw(w, Op::kClientRaw, 1, {"", gen.SerializeAsString()});  // REQ framing
    Raw(w, Op::kClientRaw, 2, {"\xFF\xFF garbage"});
    Raw(w, Op::kClientRaw, 3, {});
    Raw(w, Op::kClientRaw, 0, {"a", "b", "c"});
    Raw(w, Op::kWorkerRaw, 0, {reg.SerializeAsString()});
    Raw(w, Op::kWorkerRaw, 1, {hb.SerializeAsString()});
    Raw(w, Op::kWorkerRaw, 2, {"\x08\x01\x2a\x03\x08\x01\x10"});
    Raw(w, Op::kAdminRaw, 0, {status.SerializeAsString()});
    Raw(w, Op::kAdminRaw, 1, {"", status.SerializeAsString()});
    Raw(w, Op::kAdminRaw, 0, {"not a request"});
    ok &= Write(dir, "raw_frames", w.bytes());
  }
  {  // Admin: status, plans, drain, rebalance (answered), remove.
    ScriptWriter w;
    Register(w, 0, 1, 2);
    Ready(w, 0);
    Register(w, 1);
    Ready(w, 1);
    Generate(w, 0, 0, true, 6, {1, 300});
    Admin(w, 0, AdminKind::kStatus, 0, 0);
    Admin(w, 0, AdminKind::kPreview, 0, 0, {0, 1, 4});  // the model has 4 layers
    Admin(w, 1, AdminKind::kDiff, 0, 0, {}, {16, 16});
    Admin(w, 0, AdminKind::kDrain, 1, 0);
    Admin(w, 0, AdminKind::kUndrain, 1, 0);
    Heartbeat(w, 0);
    Admin(w, 0, AdminKind::kRebalance, 0, 0, {0, 3, 4});
    Update(w, 0, 0, {350, 351}, 0);
    Tick(w, 5);  // past the drain deadline: the request moves
    w.Op(Op::kResharded).U8(0).U8(0).U8(1).U16(64).U8(16);
    Admin(w, 1, AdminKind::kRebalance, 0, kAdmAuto);
    Tick(w, 5);
    w.Op(Op::kResharded).U8(0).U8(0).U8(0).U16(64).U8(16);  // failed: rolled back
    Admin(w, 1, AdminKind::kRemove, 1, 0);
    Tick(w, 10);
    ok &= Write(dir, "admin", w.bytes());
  }
  {  // No group: the queue fills (BUSY) and times out; then text prompts.
    ScriptWriter w;
    for (int i = 0; i < 8; ++i) Generate(w, i % kClients, i, false, 4, {1, 300});
    Tick(w, 120);
    Register(w, 2);
    Ready(w, 2);
    GenerateText(w, 0, 3, "caf\xC3\xA9 \xE4\xB8\xAD");
    Update(w, 2, 0, {0xC3 + 3, 0xA9 + 3, 300}, kUpdDone | kUpdEos);  // byte tokens of one character
    ok &= Write(dir, "queue_and_text", w.bytes());
  }
  return ok;
}

}  // namespace
}  // namespace tessera::fuzz

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR (writes OUT_DIR/{gguf,tokenizer,coordinator}_fuzz/*)\n", argv[0]);
    return 2;
  }
  const std::filesystem::path out(argv[1]);
  using namespace tessera::fuzz;
  const bool ok = GgufSeeds(out / "gguf_fuzz") && TokenizerSeeds(out / "tokenizer_fuzz") &&
                  CoordinatorSeeds(out / "coordinator_fuzz");
  if (!ok) {
    std::fprintf(stderr, "could not write the corpus under %s\n", argv[1]);
    return 1;
  }
  std::printf("wrote the seed corpus under %s\n", argv[1]);
  return 0;
}
