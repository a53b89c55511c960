// The coordinator's state machine, without sockets: client requests
// (validate, answer from the record, admit, queue, route, stream, cancel),
// group leaders (register and plan, ready, updates, heartbeats, reshards,
// death), admin requests (status, plans, rebalance, drain, remove) and the
// clock (heartbeat, queue and drain timeouts). Messages leave through an
// Outbox, whose answer tells whether the peer took it. Single-threaded: the
// event loop (coordinator.h) owns it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "coordinator/admission_queue.h"
#include "coordinator/coordinator_options.h"
#include "coordinator/group_registry.h"
#include "coordinator/inflight_table.h"
#include "coordinator/request_record.h"
#include "coordinator/request_state.h"
#include "coordinator/request_validator.h"
#include "model/model.h"
#include "partition/cost_model.h"
#include "proto/admin_api.pb.h"
#include "proto/admin_service.pb.h"
#include "proto/client_api.pb.h"
#include "proto/worker_api.pb.h"

namespace tessera {

enum class SendOutcome {
  kSent,
  kUnreachable,  // the peer is gone (ROUTER_MANDATORY: EHOSTUNREACH)
  kFull,         // the peer's queue is at its high-water mark: it is not reading
};

class Outbox {
 public:
  virtual ~Outbox() = default;
  virtual SendOutcome ToClient(std::string_view identity, bool delimiter, const proto::ClientReply& reply) = 0;
  virtual SendOutcome ToGroup(std::string_view identity, const proto::CoordinatorMessage& message) = 0;
  // The admin socket: framed like the client socket (a REQ peer gets the
  // delimiter back).
  virtual SendOutcome ToAdmin(std::string_view identity, bool delimiter, const proto::AdminReply& reply) = 0;
};

class CoordinatorCore {
 public:
  // Queued requests that only a group away for a rebalance can hold, passed
  // by one Dispatch looking for work the ready groups can take (Dispatch).
  static constexpr int kDispatchScan = 64;

  // `model` must outlive the core; only its config, tokenizer and tensor
  // shapes are read.
  CoordinatorCore(const CoordinatorOptions& options, const Model& model, Outbox& outbox, SteadyTime now);
  ~CoordinatorCore();

  // One message as a ROUTER received it (identity frame first).
  void OnClientMessage(std::span<const std::string_view> frames, SteadyTime now);
  void OnWorkerMessage(std::span<const std::string_view> frames, SteadyTime now);
  // One message of the admin ROUTER (coordinator_admin.cc); every request
  // gets one AdminReply, a malformed one an AdminError.
  void OnAdminMessage(std::span<const std::string_view> frames, SteadyTime now);
  // Heartbeat, queue and drain timeouts; call it every few milliseconds.
  // `heard_until`: every message the group leaders sent before it has been
  // handed to OnWorkerMessage (the event loop last found their socket empty
  // then). A group is judged by its silence up to that moment, not up to
  // `now`: a loop that was busy elsewhere has not read what the groups sent
  // meanwhile, and must not declare them dead for it.
  void Tick(SteadyTime now, SteadyTime heard_until);
  void Tick(SteadyTime now) { Tick(now, now); }
  // Shutdown to every group; every queued and running request gets
  // ERROR_UNAVAILABLE with `reason`. The core serves nothing afterwards.
  void Shutdown(std::string_view reason, SteadyTime now);

  proto::ClusterStatus Status(SteadyTime now) const;
  const std::string& fingerprint() const { return fingerprint_; }
  const std::string& model_name() const { return model_name_; }

 private:
  struct Peer {
    std::string_view identity;
    bool delimiter = false;
  };

  // Client side (coordinator_core.cc).
  void HandleGenerate(const Peer& from, const proto::GenerateRequest& g, SteadyTime now);
  void AnswerBusy(const Peer& from, const std::string& id);
  RequestLimits Limits(bool with_kv) const;
  void HandleCancel(const Peer& from, const proto::CancelRequest& c, SteadyTime now);
  // Repeated ids (coordinator_repeats.cc). A generate for an id that is
  // queued, running (`live`) or recorded (`record`): the same request again
  // (fingerprints match) or a refusal.
  void HandleRepeat(const Peer& from, const proto::GenerateRequest& g, Request* live, const RecordEntry* record,
                    SteadyTime now);
  void Repoint(Request& r, const Peer& from, bool stream, SteadyTime now);
  void AnswerFromRecord(const Peer& from, const proto::ClientReply& record, bool stream);
  void CancelRequest(Request& r, bool by_client, SteadyTime now);
  void Requeue(Request& r, SteadyTime now);
  void OnClientLost(Request& r, SendOutcome why, SteadyTime now);
  void SendChunk(Request& r, size_t index, size_t count, const std::string& text, SteadyTime now);
  void FinishResult(Request& r, proto::FinishReason reason, SteadyTime now);
  // Recorded unless `recordable` is false or the code invites a retry (BUSY,
  // UNAVAILABLE).
  void FinishError(Request& r, proto::ErrorCode code, std::string_view message, bool recordable = true);
  void Retire(Request& r, proto::ClientReply& reply, bool record);
  // Starts queued requests on ready groups, in queue order. A request that
  // only a group away for a rebalance can hold keeps its place but does not
  // hold up the ones behind it (up to kDispatchScan such are passed); the
  // first one that a ready group could hold but has no free slot for stops
  // the scan (FIFO among what can run). One no group could ever hold is
  // refused.
  void Dispatch(SteadyTime now);
  void Start(Request& r, Group& g, SteadyTime now);
  void Settle(SteadyTime now);
  SendOutcome Reply(const Peer& to, const proto::ClientReply& reply);
  Request* FindRequest(uint64_t key);

  // Group side (coordinator_groups.cc).
  void HandleRegister(std::string_view identity, const proto::Register& reg, SteadyTime now);
  void HandleReady(Group& g, const proto::Ready& ready, SteadyTime now);
  void HandleUpdates(Group& g, const proto::SequenceUpdates& updates, SteadyTime now);
  void ApplyUpdate(Group& g, const proto::SequenceUpdate& u, SteadyTime now);
  void Reject(std::string_view identity, proto::ErrorCode code, const std::string& message);
  void SendToGroup(Group& g, const proto::CoordinatorMessage& message, SteadyTime now);
  void MarkDead(Group& g, std::string_view reason, SteadyTime now);
  // Every sequence the coordinator gave `g` leaves it: a finished one is
  // answered, the rest go to the front of the queue as continuations
  // (oldest first). With `cancel_on_group` the group is told to stop them
  // (it lives on); their late updates are dropped as unknown seqs.
  void MoveSequencesOff(Group& g, bool cancel_on_group, SteadyTime now);

  // Admin side (coordinator_admin.cc).
  void HandleAdmin(const Peer& from, const proto::AdminRequest& request, SteadyTime now);
  void AdminPlan(const proto::PlanRequest& request, bool diff, proto::AdminReply& reply);
  void AdminRebalance(const proto::RebalanceRequest& request, SteadyTime now, proto::AdminReply& reply);
  void AdminDrain(uint64_t group_id, bool drain, proto::AdminReply& reply);
  void AdminRemove(uint64_t group_id, SteadyTime now, proto::AdminReply& reply);
  // The live group `id`, or nullptr with an AdminError in `reply`.
  Group* AdminGroup(uint64_t id, proto::AdminReply& reply);
  // Moves every group's admin operation on: a drained group is resharded or
  // removed; one past its drain deadline has its sequences moved first.
  void AdvanceChanges(SteadyTime now);
  void AdvanceChange(Group& g, SteadyTime now);
  void HandleResharded(Group& g, const proto::Resharded& r, SteadyTime now);
  // A rebalancing group whose plan is no longer known (no answer to
  // Reshard in time, a Resharded of another epoch, one it cannot serve
  // with): Shutdown, dead (`reason` ends up in last_rebalance), its
  // requests run elsewhere.
  void AbandonReshard(Group& g, const std::string& reason, SteadyTime now);
  // Ends a rebalance: `outcome` becomes last_rebalance; the group serves
  // again (drained if an admin drained it).
  void EndRebalance(Group& g, std::string outcome);

  CoordinatorOptions options_;
  const Model& model_;
  const Tokenizer& tokenizer_;
  Outbox& outbox_;
  ModelTensors tensors_;
  std::string fingerprint_;
  std::string model_name_;
  int64_t max_bytes_per_token_;  // MaxInputBytesPerToken(tokenizer_)
  SteadyTime started_at_;
  std::chrono::nanoseconds heartbeat_timeout_;
  std::chrono::nanoseconds queue_timeout_;
  bool shutting_down_ = false;

  uint64_t next_key_ = 1;
  uint64_t next_seq_ = 1;
  absl::flat_hash_map<uint64_t, std::unique_ptr<Request>> requests_;  // queued or running, by key
  absl::flat_hash_map<std::string, uint64_t> by_id_;                  // request id -> key
  std::vector<std::unique_ptr<Request>> retired_;  // finished during this event; freed by Settle
  AdmissionQueue queue_;
  InflightTable inflight_;
  GroupRegistry groups_;
  RecordLru records_;

  uint64_t accepted_ = 0;
  uint64_t completed_ = 0;
  uint64_t rejected_busy_ = 0;
  uint64_t failed_ = 0;
  uint64_t cancelled_ = 0;

  // Scratch messages, reused so a token update allocates as little as it can.
  proto::ClientRequest request_;
  proto::ClientReply reply_;
  proto::WorkerMessage worker_message_;
  proto::CoordinatorMessage out_;
  proto::AdminRequest admin_request_;
  proto::AdminReply admin_reply_;
  std::string text_;
};

}  // namespace tessera
