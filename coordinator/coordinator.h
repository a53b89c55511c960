// tessera-coordinator's server: three ROUTER sockets (clients, group
// leaders, admins) served by one thread's event loop over a CoordinatorCore.
//
//   auto c = Coordinator::Create(options, std::move(model));
//   std::thread t([&] { (*c)->Run(); });   // serves until Stop()
//   ... (*c)->client_endpoint() ...        // e.g. tcp://127.0.0.1:41234
//   (*c)->Stop(); t.join();
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "coordinator/coordinator_options.h"
#include "model/model.h"

namespace tessera {

class Coordinator {
 public:
  // Binds the endpoints (a port of "*" picks a free one; no admin socket
  // when options.admin is empty). Errors: a model
  // without a tokenizer, an endpoint that cannot be bound (the message names
  // it), authentication asked for without usable key files (fail closed:
  // coordinator_options.h).
  static absl::StatusOr<std::unique_ptr<Coordinator>> Create(const CoordinatorOptions& options,
                                                            std::unique_ptr<Model> model);
  virtual ~Coordinator() = default;

  // Serves until Stop(): then sends Shutdown to every group, answers every
  // queued and running request with ERROR_UNAVAILABLE, closes the sockets
  // (bounded linger) and returns. Call once, from one thread.
  virtual absl::Status Run() = 0;
  // Asks Run() to finish. Thread-safe and async-signal-safe (a signal
  // handler may call it); before Run() it makes Run() return at once.
  virtual void Stop() = 0;

  // The endpoints actually bound (ZMQ_LAST_ENDPOINT).
  virtual const std::string& client_endpoint() const = 0;
  virtual const std::string& worker_endpoint() const = 0;
  virtual const std::string& admin_endpoint() const = 0;  // empty without an admin socket
};

}  // namespace tessera
