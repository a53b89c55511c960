// BatchScheduler against hand-worked scripts (what each step holds, what
// each answer reports, how many KV blocks stay free), and a seeded random
// run whose steps go through real KvCaches standing in for the ranks.
//
// The fake model of every test: the token sampled at position p of sequence
// s is (s % 10) * 100 + p, and prompt token i of sequence s is s * 1000 + i,
// so a chunk's tokens and a report's tokens can be checked by hand.
#include "worker/batch_scheduler.h"

#include <deque>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "kernels/cpu/cpu_backend.h"
#include "worker/kv_cache.h"

namespace tessera {
namespace {

int32_t FakeToken(int64_t seq, int64_t pos) { return static_cast<int32_t>((seq % 10) * 100 + pos); }

proto::StartSequence Start(uint64_t seq, int prompt, int max_new, bool stop_at_eos = false) {
  proto::StartSequence s;
  s.set_seq(seq);
  for (int i = 0; i < prompt; ++i) s.add_tokens(static_cast<int32_t>(seq * 1000 + i));
  s.set_max_new_tokens(max_new);
  s.set_stop_at_eos(stop_at_eos);
  return s;
}

// "rel[1,2] 1@8+2* 2@0+3": releases, then each chunk as seq@start+length,
// with * where it samples.
std::string Describe(const proto::GroupStep& step) {
  std::vector<std::string> parts;
  if (!step.release().empty()) parts.push_back(absl::StrCat("rel[", absl::StrJoin(step.release(), ","), "]"));
  for (const proto::StepChunk& c : step.chunks()) {
    parts.push_back(absl::StrCat(c.seq_id(), "@", c.start_pos(), "+", c.tokens_size(), c.want_logits() ? "*" : ""));
  }
  return absl::StrJoin(parts, " ");
}

// "1+104 2+205:len 3:eos 4:cancel 5:err": each update's tokens and how it ended.
std::string Describe(const std::vector<proto::SequenceUpdate>& updates) {
  std::vector<std::string> parts;
  for (const proto::SequenceUpdate& u : updates) {
    std::string p = absl::StrCat(u.seq());
    for (int32_t t : u.tokens()) absl::StrAppend(&p, "+", t);
    if (u.done()) {
      if (u.error_code() != proto::ERROR_UNSPECIFIED) {
        absl::StrAppend(&p, ":err");
      } else {
        switch (u.finish()) {
          case proto::FINISH_LENGTH: absl::StrAppend(&p, ":len"); break;
          case proto::FINISH_EOS: absl::StrAppend(&p, ":eos"); break;
          case proto::FINISH_CANCELLED: absl::StrAppend(&p, ":cancel"); break;
          default: absl::StrAppend(&p, ":?"); break;
        }
      }
    }
    parts.push_back(p);
  }
  return absl::StrJoin(parts, " ");
}

proto::StepResult FakeAnswer(const proto::GroupStep& step) {
  proto::StepResult r;
  for (const proto::StepChunk& c : step.chunks()) {
    if (!c.want_logits()) continue;
    proto::SampledToken* t = r.add_tokens();
    t->set_seq_id(c.seq_id());
    t->set_token(FakeToken(c.seq_id(), c.start_pos() + c.tokens_size()));
  }
  return r;
}

// A script line is a command, optionally "= expected":
//   add SEQ PROMPT MAX [eos]   Add (expected OK)
//   step = DESCRIPTION|none    NextStep
//   answer = UPDATES           the fake model's answer to the oldest step out
//   refuse CODE = UPDATES      the group refused the oldest step (absl code number)
//   cancel SEQ = UPDATES|none
//   free N / running N / waiting N / preempted N / idle
struct ScriptCase {
  const char* name;
  SchedulerLimits limits;
  int32_t eos;
  std::vector<std::string> script;
};

void RunScript(const ScriptCase& c) {
  SCOPED_TRACE(c.name);
  BatchScheduler s(c.limits, c.eos);
  std::deque<proto::GroupStep> out;
  for (const std::string& line : c.script) {
    SCOPED_TRACE(line);
    std::vector<std::string> halves = absl::StrSplit(line, absl::MaxSplits(" = ", 1));
    const std::vector<std::string> cmd = absl::StrSplit(halves[0], ' ');
    const std::string want = halves.size() > 1 ? halves[1] : "";
    auto num = [&](size_t i) { return std::stoll(cmd.at(i)); };
    if (cmd[0] == "add") {
      const bool eos = cmd.size() > 4 && cmd[4] == "eos";
      absl::Status st = s.Add(Start(num(1), static_cast<int>(num(2)), static_cast<int>(num(3)), eos));
      ASSERT_TRUE(st.ok()) << st;
    } else if (cmd[0] == "step") {
      auto step = s.NextStep();
      if (want == "none") {
        EXPECT_FALSE(step.has_value()) << Describe(*step);
      } else {
        ASSERT_TRUE(step.has_value());
        EXPECT_EQ(Describe(*step), want);
        out.push_back(*step);
      }
    } else if (cmd[0] == "answer" || cmd[0] == "refuse") {
      ASSERT_FALSE(out.empty());
      proto::StepResult r = FakeAnswer(out.front());
      out.pop_front();
      if (cmd[0] == "refuse") {
        r.clear_tokens();
        r.set_error("group rank 1 (stage 1, tp 0): refused");
        r.set_error_code(static_cast<int32_t>(num(1)));
      }
      EXPECT_EQ(Describe(s.OnResult(r)), want);
    } else if (cmd[0] == "cancel") {
      auto u = s.Cancel(num(1));
      EXPECT_EQ(u.has_value() ? Describe({*u}) : "none", want);
    } else if (cmd[0] == "free") {
      EXPECT_EQ(s.free_blocks(), num(1));
    } else if (cmd[0] == "running") {
      EXPECT_EQ(s.running(), num(1));
    } else if (cmd[0] == "waiting") {
      EXPECT_EQ(s.waiting(), num(1));
    } else if (cmd[0] == "preempted") {
      EXPECT_EQ(s.preemptions(), num(1));
    } else if (cmd[0] == "idle") {
      EXPECT_TRUE(s.idle());
    } else {
      FAIL() << "unknown script command";
    }
  }
}

SchedulerLimits Limits(int max_sequences, int64_t batch_tokens, int64_t chunk, int64_t kv_blocks, int in_flight = 1) {
  return SchedulerLimits{max_sequences, batch_tokens, chunk, /*block_size=*/4, kv_blocks, in_flight};
}

const ScriptCase kScripts[] = {
    {"decode first, then prefill chunks within the token budget; only a prompt's last chunk samples",
     Limits(4, 6, 4, 16), -1,
     {"add 1 10 3", "step = 1@0+4", "free 13", "answer = ", "step = 1@4+4", "answer = ", "add 2 3 2",
      // 1 finishes its prompt (2 tokens), 2 is admitted into the 4 left.
      "step = 1@8+2* 2@0+3*", "free 12", "answer = 1+110 2+203", "step = 1@10+1* 2@3+1*", "free 12",
      "answer = 1+111 2+204:len", "free 13", "step = rel[2] 1@11+1*", "answer = 1+112:len", "free 16",
      "step = rel[1]", "answer = ", "step = none", "idle"}},
    {"admission stops at max_sequences", Limits(2, 100, 100, 6), -1,
     {"add 1 8 2", "add 2 8 2", "add 3 4 2", "step = 1@0+8* 2@0+8*", "running 2", "waiting 1", "free 2",
      "answer = 1+108 2+208",
      // Both cross into their third block; 3 still waits for a slot.
      "step = 1@8+1* 2@8+1*", "free 0", "answer = 1+109:len 2+209:len", "free 6", "step = rel[1,2] 3@0+4*",
      "free 5", "running 1", "waiting 0"}},
    {"admission waits until a whole prompt fits; nobody overtakes", Limits(8, 100, 100, 4), -1,
     {"add 1 12 2", "add 2 5 1", "add 3 1 1", "step = 1@0+12*", "free 1", "waiting 2", "answer = 1+112",
      "step = 1@12+1*", "free 0", "answer = 1+113:len", "free 4", "step = rel[1] 2@0+5* 3@0+1*", "free 1",
      "answer = 2+205:len 3+301:len", "step = rel[2,3]", "free 4"}},
    {"decodes come first and may take the whole token budget", Limits(8, 2, 100, 16), -1,
     {"add 1 1 3", "add 2 1 3", "step = 1@0+1* 2@0+1*", "answer = 1+101 2+201", "add 3 1 3",
      "step = 1@1+1* 2@1+1*", "answer = 1+102 2+202", "step = 1@2+1* 2@2+1*", "answer = 1+103:len 2+203:len",
      "step = rel[1,2] 3@0+1*"}},
    {"a decode without a block preempts the newest sequence not in flight; it recomputes later",
     Limits(4, 100, 100, 5), -1,
     {"add 1 4 6", "add 2 4 6", "add 3 4 6", "step = 1@0+4* 2@0+4* 3@0+4*", "free 2", "answer = 1+104 2+204 3+304",
      // 1 and 2 take the two free blocks; 1 and 2 are then in flight, so 3
      // gives up its own block and waits (it needs 2 blocks now).
      "step = rel[3] 1@4+1* 2@4+1*", "preempted 1", "free 1", "running 2", "waiting 1", "answer = 1+105 2+205",
      "step = 1@5+1* 2@5+1*", "answer = 1+106 2+206", "step = 1@6+1* 2@6+1*", "answer = 1+107 2+207",
      "step = 1@7+1* 2@7+1*", "answer = 1+108 2+208",
      // 1 takes the last free block; 2, the newest, preempts itself.
      "step = rel[2] 1@8+1*", "preempted 2", "free 2", "waiting 2", "answer = 1+109:len", "free 5",
      // 2 re-prefills its prompt and its 5 tokens (3 blocks), then 3 its 5
      // (2 blocks); each samples only its next, new token.
      "step = rel[1] 2@0+9* 3@0+5*", "free 0", "answer = 2+209:len 3+305", "step = rel[2] 3@5+1*", "free 3",
      "answer = 3+306", "step = 3@6+1*", "answer = 3+307", "step = 3@7+1*", "answer = 3+308", "step = 3@8+1*",
      "free 2", "answer = 3+309:len", "step = rel[3]", "free 5", "answer = ", "idle"}},
    {"the victim is the most recently admitted, not the sequence that needs the block", Limits(4, 100, 100, 4), -1,
     {"add 1 4 8", "add 2 4 2", "add 3 4 2", "step = 1@0+4* 2@0+4* 3@0+4*", "free 1",
      "answer = 1+104 2+204 3+304", "step = rel[3] 1@4+1* 2@4+1*", "preempted 1", "free 0", "waiting 1"}},
    {"cancel a waiting, an in-flight and a running sequence", Limits(1, 100, 100, 8), -1,
     {"add 1 4 10", "add 2 4 10", "add 3 4 10", "step = 1@0+4*", "free 7", "cancel 2 = 2:cancel", "waiting 1",
      "cancel 1 = 1:cancel", "free 8", "running 0", "cancel 1 = none",
      // One step out already (pipeline depth 1); its token for 1 is dropped.
      "step = none", "answer = ", "step = rel[1] 3@0+4*", "free 7", "answer = 3+304", "cancel 3 = 3:cancel",
      "free 8", "step = rel[3]", "answer = ", "idle", "cancel 3 = none", "add 1 2 1", "step = 1@0+2*",
      "answer = 1+102:len"}},
    {"EOS ends a stop_at_eos sequence without being reported; others go on to their length",
     Limits(4, 100, 100, 16), 106,
     {"add 1 4 5 eos", "add 11 4 4", "step = 1@0+4* 11@0+4*", "answer = 1+104 11+104", "step = 1@4+1* 11@4+1*",
      "answer = 1+105 11+105", "step = 1@5+1* 11@5+1*", "answer = 1:eos 11+106", "step = rel[1] 11@6+1*",
      "answer = 11+107:len", "step = rel[11]", "free 16"}},
    {"two steps in flight split the decoding sequences between them", Limits(8, 100, 100, 32, 2), -1,
     {"add 1 4 9", "add 2 4 9", "add 3 4 9", "add 4 4 9", "step = 1@0+4* 2@0+4* 3@0+4* 4@0+4*", "step = none",
      "answer = 1+104 2+204 3+304 4+404", "step = 1@4+1* 2@4+1*", "step = 3@4+1* 4@4+1*", "step = none",
      "answer = 1+105 2+205", "step = 1@5+1* 2@5+1*", "answer = 3+305 4+405", "step = 3@5+1* 4@5+1*"}},
    {"a full-cache refusal preempts the step's sequences; any other refusal ends them", Limits(4, 100, 100, 16), -1,
     {"add 1 4 3", "add 2 4 3", "step = 1@0+4* 2@0+4*", "refuse 8 = ", "preempted 2", "running 0", "waiting 2",
      "free 16", "step = rel[2,1] 1@0+4* 2@0+4*", "answer = 1+104 2+204", "step = 1@4+1* 2@4+1*",
      "refuse 3 = 1:err 2:err", "free 16", "running 0", "step = rel[2,1]", "answer = ", "idle"}},
};

TEST(BatchSchedulerTest, Scripts) {
  for (const ScriptCase& c : kScripts) RunScript(c);
}

TEST(BatchSchedulerTest, RecomputeFeedsThePromptAndEveryGeneratedToken) {
  BatchScheduler s(Limits(4, 100, 100, 5), -1);
  for (uint64_t id : {1, 2, 3}) ASSERT_TRUE(s.Add(Start(id, 4, 6)).ok());
  // The "preempt" script above, up to 2's readmission.
  for (int i = 0; i < 6; ++i) {
    auto step = s.NextStep();
    ASSERT_TRUE(step.has_value());
    s.OnResult(FakeAnswer(*step));
  }
  auto step = s.NextStep();
  ASSERT_TRUE(step.has_value());
  ASSERT_EQ(Describe(*step), "rel[1] 2@0+9* 3@0+5*");
  const std::vector<int32_t> two(step->chunks(0).tokens().begin(), step->chunks(0).tokens().end());
  const std::vector<int32_t> three(step->chunks(1).tokens().begin(), step->chunks(1).tokens().end());
  EXPECT_EQ(two, (std::vector<int32_t>{2000, 2001, 2002, 2003, 204, 205, 206, 207, 208}));
  EXPECT_EQ(three, (std::vector<int32_t>{3000, 3001, 3002, 3003, 304}));
}

TEST(BatchSchedulerTest, ChunksCarryTheirSampling) {
  BatchScheduler s(Limits(4, 100, 100, 16), -1);
  proto::StartSequence start = Start(1, 3, 2);
  start.mutable_sampling()->set_temperature(0.7f);
  start.mutable_sampling()->set_top_k(5);
  start.mutable_sampling()->set_seed(99);  // top_p 0: the client API's "no cut", sent as 1
  ASSERT_TRUE(s.Add(start).ok());
  auto step = s.NextStep();
  ASSERT_TRUE(step.has_value());
  const proto::Sampling& sm = step->chunks(0).sampling();
  EXPECT_FLOAT_EQ(sm.temperature(), 0.7f);
  EXPECT_EQ(sm.top_k(), 5);
  EXPECT_FLOAT_EQ(sm.top_p(), 1.0f);
  EXPECT_EQ(sm.seed(), 99u);
  EXPECT_EQ(std::vector<int32_t>(step->chunks(0).tokens().begin(), step->chunks(0).tokens().end()),
            (std::vector<int32_t>{1000, 1001, 1002}));
}

TEST(BatchSchedulerTest, AddRefusals) {
  // 4 blocks of 16: 64 positions.
  SchedulerLimits limits = Limits(4, 100, 100, 4);
  limits.block_size = 16;
  BatchScheduler s(limits, -1);
  ASSERT_TRUE(s.Add(Start(1, 30, 35)).ok()) << "30 + 35 - 1 = 64 positions fit exactly";
  struct Case {
    const char* name;
    proto::StartSequence start;
  };
  std::vector<Case> cases = {
      {"one position too many", Start(2, 30, 36)},
      {"duplicate of a waiting id", Start(1, 3, 3)},
      {"no tokens", Start(3, 0, 3)},
      {"no new tokens", Start(4, 3, 0)},
  };
  proto::StartSequence neg_temp = Start(5, 3, 3);
  neg_temp.mutable_sampling()->set_temperature(-1.0f);
  cases.push_back({"negative temperature", neg_temp});
  proto::StartSequence big_p = Start(6, 3, 3);
  big_p.mutable_sampling()->set_top_p(1.5f);
  cases.push_back({"top-p above 1", big_p});
  for (const Case& c : cases) {
    absl::Status st = s.Add(c.start);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << c.name << ": " << st;
  }
  EXPECT_EQ(s.waiting(), 1);
  auto step = s.NextStep();
  ASSERT_TRUE(step.has_value());
  EXPECT_EQ(s.Add(Start(1, 3, 3)).code(), absl::StatusCode::kInvalidArgument) << "duplicate of a running id";
}

// ---- Randomized: arrivals, cancels and answers in random order, with every
// step run through KvCaches that behave as the ranks' do. ----

// A pipeline stage's KV bookkeeping: releases first, then the whole step's
// blocks checked before anything is reserved (Executor::ReserveKv), and a
// chunk may only start where its sequence's KV ends or before.
class FakeRank {
 public:
  FakeRank(int64_t block_size, int64_t blocks) {
    kv_ = *KvCache::Create(KvCacheShape{1, 0, block_size, blocks}, *backend_);
  }
  void Run(const proto::GroupStep& step, bool refused) {
    for (int64_t id : step.release()) kv_->Release(id);
    if (refused) return;
    int64_t need = 0;
    std::set<int64_t> seen;
    for (const proto::StepChunk& c : step.chunks()) {
      ASSERT_TRUE(seen.insert(c.seq_id()).second) << "sequence " << c.seq_id() << " twice in one step";
      ASSERT_LE(c.start_pos(), kv_->Length(c.seq_id())) << "sequence " << c.seq_id() << " skips positions";
      need += kv_->BlocksMissing(c.seq_id(), c.start_pos() + c.tokens_size());
    }
    ASSERT_LE(need, kv_->free_blocks()) << "a rank's KV cache would refuse this step";
    for (const proto::StepChunk& c : step.chunks()) {
      ASSERT_TRUE(kv_->Reserve(c.seq_id(), c.start_pos() + c.tokens_size()).ok());
      kv_->SetLength(c.seq_id(), c.start_pos() + c.tokens_size());
    }
  }
  int64_t free_blocks() const { return kv_->free_blocks(); }

 private:
  // A KV cache of kv_dim 0 (no stores) still needs a backend to own it.
  std::unique_ptr<Backend> backend_ = MakeCpuBackend({.threads = 1});
  std::unique_ptr<KvCache> kv_;
};

struct Tracked {
  int64_t prompt = 0;
  int64_t max_new = 0;
  bool stop_at_eos = false;
  std::vector<int32_t> reported;
  int done = 0;
  proto::SequenceUpdate last;
};

constexpr int32_t kRandomEos = 7;
// Positional like FakeToken, but EOS (7) comes up now and then.
int32_t RandomModelToken(int64_t seq, int64_t pos) { return static_cast<int32_t>((seq * 7 + pos * 13) % 53); }

void RunRandom(uint64_t seed, const SchedulerLimits& limits, int64_t* preemptions) {
  SCOPED_TRACE(::testing::Message() << "seed " << seed << " kv blocks " << limits.kv_blocks << " in flight "
                                    << limits.max_in_flight);
  std::mt19937_64 rng(seed);
  auto uniform = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  BatchScheduler s(limits, kRandomEos);
  FakeRank first(limits.block_size, limits.kv_blocks), last(limits.block_size, limits.kv_blocks);
  std::deque<proto::GroupStep> out;
  std::map<uint64_t, Tracked> seqs;
  std::vector<uint64_t> live;
  uint64_t next_id = 1;

  auto take = [&](const std::vector<proto::SequenceUpdate>& updates) {
    for (const proto::SequenceUpdate& u : updates) {
      Tracked& t = seqs.at(u.seq());
      ASSERT_EQ(t.done, 0) << "sequence " << u.seq() << " updated after it finished";
      for (int32_t tok : u.tokens()) {
        const int64_t pos = t.prompt + static_cast<int64_t>(t.reported.size());
        ASSERT_EQ(tok, RandomModelToken(u.seq(), pos))
            << "sequence " << u.seq() << " reported a wrong or repeated token";
        t.reported.push_back(tok);
      }
      ASSERT_LE(static_cast<int64_t>(t.reported.size()), t.max_new);
      if (u.done()) {
        ++t.done;
        t.last = u;
      }
    }
  };
  auto check_chunks = [&](const proto::GroupStep& step) {
    for (const proto::StepChunk& c : step.chunks()) {
      const Tracked& t = seqs.at(c.seq_id());
      for (int i = 0; i < c.tokens_size(); ++i) {
        const int64_t pos = c.start_pos() + i;
        const int32_t want = pos < t.prompt ? static_cast<int32_t>(c.seq_id() * 1000 + pos)
                                            : RandomModelToken(c.seq_id(), pos);
        ASSERT_EQ(c.tokens(i), want) << "sequence " << c.seq_id() << " position " << pos;
      }
    }
  };
  auto submit = [&]() -> bool {
    auto step = s.NextStep();
    if (!step.has_value()) return false;
    check_chunks(*step);
    first.Run(*step, false);
    out.push_back(*std::move(step));
    return true;
  };
  auto answer = [&] {
    proto::GroupStep step = std::move(out.front());
    out.pop_front();
    // Now and then the group refuses a step for a reason other than a full cache.
    const bool refuse = uniform(0, 999) < 5 && !step.chunks().empty();
    last.Run(step, refuse);
    proto::StepResult r;
    if (refuse) {
      r.set_error("injected");
      r.set_error_code(static_cast<int32_t>(absl::StatusCode::kInvalidArgument));
    } else {
      for (const proto::StepChunk& c : step.chunks()) {
        if (!c.want_logits()) continue;
        proto::SampledToken* t = r.add_tokens();
        t->set_seq_id(c.seq_id());
        t->set_token(RandomModelToken(c.seq_id(), c.start_pos() + c.tokens_size()));
      }
    }
    take(s.OnResult(r));
  };
  auto check = [&] {
    ASSERT_GE(s.free_blocks(), 0);
    ASSERT_LE(s.free_blocks(), limits.kv_blocks);
    ASSERT_LE(s.running(), limits.max_sequences);
    ASSERT_LE(s.in_flight(), limits.max_in_flight);
  };

  for (int iter = 0; iter < 3000; ++iter) {
    const int64_t action = uniform(0, 99);
    if (action < 12 && next_id < 400) {
      const uint64_t id = next_id++;
      Tracked t;
      t.prompt = uniform(1, 3 * limits.prefill_chunk);
      t.max_new = uniform(1, 40);
      t.stop_at_eos = uniform(0, 1) == 1;
      proto::StartSequence start;
      start.set_seq(id);
      for (int64_t i = 0; i < t.prompt; ++i) start.add_tokens(static_cast<int32_t>(id * 1000 + i));
      start.set_max_new_tokens(static_cast<int32_t>(t.max_new));
      start.set_stop_at_eos(t.stop_at_eos);
      const bool fits = (t.prompt + t.max_new - 1 + limits.block_size - 1) / limits.block_size <= limits.kv_blocks;
      absl::Status st = s.Add(start);
      ASSERT_EQ(st.ok(), fits) << st;
      if (fits) {
        seqs.emplace(id, t);
        live.push_back(id);
      }
    } else if (action < 16 && !live.empty()) {
      const uint64_t id = live[static_cast<size_t>(uniform(0, static_cast<int64_t>(live.size()) - 1))];
      auto u = s.Cancel(id);
      if (u.has_value()) {
        take({*u});
      } else {
        ASSERT_EQ(seqs.at(id).done, 1) << "cancel of a live sequence " << id << " found nothing";
      }
    } else if (action < 60) {
      submit();
    } else if (!out.empty()) {
      answer();
    }
    check();
    if (::testing::Test::HasFatalFailure()) return;
  }
  // Drain: everything finishes and every rank ends with an empty cache.
  for (int guard = 0; !s.idle() || !out.empty(); ++guard) {
    ASSERT_LT(guard, 100000) << "the scheduler does not drain";
    if (!submit()) {
      ASSERT_FALSE(out.empty()) << "not idle, yet nothing to run and nothing in flight";
      answer();
    }
    check();
    if (::testing::Test::HasFatalFailure()) return;
  }
  EXPECT_EQ(s.free_blocks(), limits.kv_blocks);
  EXPECT_EQ(first.free_blocks(), limits.kv_blocks);
  EXPECT_EQ(last.free_blocks(), limits.kv_blocks);
  for (const auto& [id, t] : seqs) {
    SCOPED_TRACE(::testing::Message() << "sequence " << id);
    ASSERT_EQ(t.done, 1);
    if (t.last.error_code() != proto::ERROR_UNSPECIFIED || t.last.finish() == proto::FINISH_CANCELLED) continue;
    if (t.last.finish() == proto::FINISH_LENGTH) {
      EXPECT_EQ(static_cast<int64_t>(t.reported.size()), t.max_new);
    } else {
      ASSERT_EQ(t.last.finish(), proto::FINISH_EOS);
      EXPECT_TRUE(t.stop_at_eos);
      EXPECT_EQ(RandomModelToken(id, t.prompt + static_cast<int64_t>(t.reported.size())), kRandomEos);
    }
    if (t.stop_at_eos) {
      for (int32_t tok : t.reported) EXPECT_NE(tok, kRandomEos);
    }
  }
  *preemptions += s.preemptions();
}

TEST(BatchSchedulerTest, RandomizedInvariants) {
  int64_t tight_preemptions = 0, roomy_preemptions = 0;
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    for (int in_flight : {1, 2, 3}) {
      // Tight: a few sequences' worth of blocks, so decodes preempt.
      RunRandom(seed, SchedulerLimits{8, 48, 16, 4, 24, in_flight}, &tight_preemptions);
      if (::testing::Test::HasFatalFailure()) return;
      // Roomy: 64 sequences of at most 808 positions (51 blocks) always fit.
      RunRandom(seed, SchedulerLimits{64, 512, 256, 16, 4096, in_flight}, &roomy_preemptions);
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
  EXPECT_GT(tight_preemptions, 0);
  EXPECT_EQ(roomy_preemptions, 0);
}

}  // namespace
}  // namespace tessera
