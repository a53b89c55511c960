// The ZAP handler: its answers to ZAP requests, and CURVE over TCP between
// ROUTER sockets guarded by it (domains "client" and "admin") and DEALERs
// with good, unlisted, crossed, missing or wrong keys.
#include <chrono>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "auth/curve_socket.h"
#include "auth/key_list.h"
#include "auth/server_auth.h"
#include "auth/zap_handler.h"
#include "gtest/gtest.h"
#include "tests/unit/auth/auth_fixture.h"
#include "zmq.hpp"

namespace tessera::auth {
namespace {

using namespace std::chrono_literals;
using testing::KeyDir;
using testing::KeyListText;

// The 6 reply frames of a ZAP request.
std::vector<std::string> AskZap(zmq::socket_t& req, const std::vector<std::string>& frames) {
  for (size_t i = 0; i < frames.size(); ++i) {
    req.send(zmq::buffer(frames[i]), i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
  }
  std::vector<std::string> reply;
  zmq::pollitem_t item{req.handle(), 0, ZMQ_POLLIN, 0};
  if (zmq::poll(&item, 1, 5000ms) == 0) return reply;
  for (bool more = true; more;) {
    zmq::message_t m;
    EXPECT_TRUE(req.recv(m));
    more = m.more();
    reply.push_back(m.to_string());
  }
  return reply;
}

std::vector<std::string> CurveRequest(const std::string& id, const std::string& domain, const std::string& key_z85) {
  return {"1.0", id, domain, "192.0.2.7", "", "CURVE", Z85ToBinary(key_z85)};
}

TEST(ZapHandler, AnswersZapRequestsByDomainAndKey) {
  auto alice = GenerateKeyPair();
  auto root = GenerateKeyPair();
  ASSERT_TRUE(alice.ok() && root.ok());
  ZapHandler::Domains domains;
  domains.emplace("client", *ParseKeyList(alice->public_key + " alice\n", "clients"));
  domains.emplace("admin", *ParseKeyList(root->public_key + "\n", "admins"));

  zmq::context_t context(1);
  auto zap = ZapHandler::Start(context, std::move(domains));
  ASSERT_TRUE(zap.ok()) << zap.status();
  {
    zmq::socket_t req(context, zmq::socket_type::req);
    req.set(zmq::sockopt::linger, 0);
    req.connect("inproc://zeromq.zap.01");

    std::vector<std::string> r = AskZap(req, CurveRequest("1", "client", alice->public_key));
    ASSERT_EQ(r.size(), 6u);
    EXPECT_EQ(r[0], "1.0");
    EXPECT_EQ(r[1], "1");
    EXPECT_EQ(r[2], "200");
    EXPECT_EQ(r[4], "alice");  // the user id: the key's label

    r = AskZap(req, CurveRequest("2", "admin", root->public_key));
    ASSERT_EQ(r.size(), 6u);
    EXPECT_EQ(r[2], "200");
    EXPECT_EQ(r[4], root->public_key);  // no label: the key itself

    // Each list opens its own domain only.
    EXPECT_EQ(AskZap(req, CurveRequest("3", "admin", alice->public_key)).at(2), "400");
    EXPECT_EQ(AskZap(req, CurveRequest("4", "client", root->public_key)).at(2), "400");
    EXPECT_EQ(AskZap(req, CurveRequest("5", "", alice->public_key)).at(2), "400");
    EXPECT_EQ(AskZap(req, CurveRequest("6", "workers", alice->public_key)).at(2), "400");
    EXPECT_EQ(AskZap(req, {"1.0", "7", "client", "192.0.2.7", "", "NULL"}).at(2), "400");
    EXPECT_EQ(AskZap(req, {"1.0", "8", "client", "192.0.2.7", "", "PLAIN", "alice", "pw"}).at(2), "400");
    // Malformed requests get 500 and the handler goes on answering.
    r = AskZap(req, {"1.0", "9", "client"});
    ASSERT_EQ(r.size(), 6u);
    EXPECT_EQ(r[1], "9");
    EXPECT_EQ(r[2], "500");
    EXPECT_EQ(AskZap(req, {"2.0", "10", "client", "a", "", "CURVE", Z85ToBinary(alice->public_key)}).at(2), "500");
    EXPECT_EQ(AskZap(req, {"1.0", "11", "client", "a", "", "CURVE", "short key"}).at(2), "500");
    EXPECT_EQ(AskZap(req, CurveRequest("12", "client", alice->public_key)).at(2), "200");
  }
  EXPECT_EQ((*zap)->accepted(), 3);
  EXPECT_EQ((*zap)->refused(), 9);
}

TEST(ZapHandler, RefusesAnEmptyListAndASecondHandlerInOneContext) {
  zmq::context_t context(1);
  ZapHandler::Domains empty;
  empty.emplace("client", KeyList());
  auto none = ZapHandler::Start(context, std::move(empty));
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("no keys"), absl::string_view::npos) << none.status();

  auto key = GenerateKeyPair();
  ZapHandler::Domains one;
  one.emplace("client", *ParseKeyList(key->public_key, "k"));
  auto first = ZapHandler::Start(context, one);
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = ZapHandler::Start(context, one);
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(second.status())) << second.status();
  // Once the first is gone the endpoint is free again (libzmq releases an
  // inproc name when it reaps the closed socket, a moment later).
  first->reset();
  const auto end = std::chrono::steady_clock::now() + 5s;
  absl::StatusOr<std::unique_ptr<ZapHandler>> third = ZapHandler::Start(context, one);
  while (!third.ok() && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(2ms);
    third = ZapHandler::Start(context, one);
  }
  EXPECT_TRUE(third.ok()) << third.status();
}

// CURVE over TCP: ServerAuth guarding a "client" and an "admin" ROUTER.
class CurveSocketsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = keys_.Identity("server");
    alice_ = keys_.Identity("alice");
    bob_ = keys_.Identity("bob");
    root_ = keys_.Identity("root");
    stranger_ = keys_.Identity("stranger");
    ServerAuthFiles files{keys_.Path("server.key_secret"), keys_.Write("clients.keys", KeyListText({alice_, bob_})),
                          keys_.Write("admins.keys", KeyListText({root_}))};
    auto auth = ServerAuth::Start(context_, files);
    ASSERT_TRUE(auth.ok()) << auth.status();
    ASSERT_NE(*auth, nullptr);
    auth_ = *std::move(auth);
    EXPECT_EQ(auth_->public_key(), server_.public_key);
    for (auto [router, domain, endpoint] : {std::tuple{&clients_, kClientDomain, &client_endpoint_},
                                            std::tuple{&admins_, kAdminDomain, &admin_endpoint_}}) {
      router->set(zmq::sockopt::linger, 0);
      ASSERT_TRUE(ConfigureCurveServer(*router, auth_.get(), domain).ok());
      router->bind("tcp://127.0.0.1:*");
      *endpoint = router->get(zmq::sockopt::last_endpoint);
    }
  }
  void TearDown() override {
    clients_.close();
    admins_.close();
  }

  CurveClientKeys As(const CurveKeyPair& me, const CurveKeyPair& server) const {
    return {server.public_key, me};
  }

  // Sends one message from a new DEALER (CURVE with `keys` unless empty) and
  // says whether `router` got it within `wait`.
  bool Reaches(zmq::socket_t& router, const std::string& endpoint, const std::optional<CurveClientKeys>& keys,
               std::chrono::milliseconds wait) {
    zmq::socket_t dealer(client_context_, zmq::socket_type::dealer);
    dealer.set(zmq::sockopt::linger, 0);
    if (keys) {
      EXPECT_TRUE(ConfigureCurveClientSocket(dealer, *keys).ok());
    }
    dealer.connect(endpoint);
    const std::string payload = "hello " + std::to_string(++sent_);
    dealer.send(zmq::buffer(payload), zmq::send_flags::none);
    const auto end = std::chrono::steady_clock::now() + wait;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
      if (left <= 0ms) return false;
      zmq::pollitem_t item{router.handle(), 0, ZMQ_POLLIN, 0};
      if (zmq::poll(&item, 1, left) == 0) return false;
      zmq::message_t identity, body;
      EXPECT_TRUE(router.recv(identity));
      EXPECT_TRUE(router.recv(body));
      if (body.to_string() == payload) return true;  // else a late message of an earlier dealer
    }
  }
  bool Served(const CurveClientKeys& keys) { return Reaches(clients_, client_endpoint_, keys, 5000ms); }
  bool Refused(zmq::socket_t& router, const std::string& endpoint, const std::optional<CurveClientKeys>& keys) {
    return !Reaches(router, endpoint, keys, 700ms);
  }
  // Waits for the ZAP handler to have refused more than `before`.
  bool ZapRefusedMoreThan(int64_t before) {
    const auto end = std::chrono::steady_clock::now() + 5s;
    while (auth_->zap().refused() <= before && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(2ms);
    return auth_->zap().refused() > before;
  }

  KeyDir keys_;
  CurveKeyPair server_, alice_, bob_, root_, stranger_;
  zmq::context_t client_context_{1};
  zmq::context_t context_{1};
  std::unique_ptr<ServerAuth> auth_;
  zmq::socket_t clients_{context_, zmq::socket_type::router};
  zmq::socket_t admins_{context_, zmq::socket_type::router};
  std::string client_endpoint_, admin_endpoint_;
  int sent_ = 0;
};

TEST_F(CurveSocketsTest, ListedKeysAreServedOthersAreRefused) {
  EXPECT_TRUE(Served(As(alice_, server_)));
  EXPECT_TRUE(Served(As(bob_, server_)));

  int64_t refused = auth_->zap().refused();
  EXPECT_TRUE(Refused(clients_, client_endpoint_, As(stranger_, server_)));
  EXPECT_TRUE(ZapRefusedMoreThan(refused)) << "the refusal came from ZAP";

  // No CURVE at all, or CURVE to a server key that is not this server's:
  // the handshake fails before ZAP is asked.
  EXPECT_TRUE(Refused(clients_, client_endpoint_, std::nullopt));
  EXPECT_TRUE(Refused(clients_, client_endpoint_, As(alice_, stranger_)));

  // The listed clients are still served afterwards.
  EXPECT_TRUE(Served(As(alice_, server_)));
  EXPECT_GE(auth_->zap().accepted(), 3);
}

TEST_F(CurveSocketsTest, AdminAndClientKeysOpenOnlyTheirOwnSocket) {
  EXPECT_TRUE(Reaches(admins_, admin_endpoint_, As(root_, server_), 5000ms));
  int64_t refused = auth_->zap().refused();
  EXPECT_TRUE(Refused(admins_, admin_endpoint_, As(alice_, server_)));
  EXPECT_TRUE(ZapRefusedMoreThan(refused));
  refused = auth_->zap().refused();
  EXPECT_TRUE(Refused(clients_, client_endpoint_, As(root_, server_)));
  EXPECT_TRUE(ZapRefusedMoreThan(refused));
  EXPECT_TRUE(Refused(admins_, admin_endpoint_, std::nullopt));
}

TEST_F(CurveSocketsTest, StoppingWithAClientKnockingDoesNotHang) {
  // A refused client retries its handshake in a loop; the server side must
  // still shut down at once: sockets, then the handler, then the context.
  zmq::socket_t knocking(client_context_, zmq::socket_type::dealer);
  knocking.set(zmq::sockopt::linger, 0);
  ASSERT_TRUE(ConfigureCurveClientSocket(knocking, As(stranger_, server_)).ok());
  knocking.connect(client_endpoint_);
  ASSERT_TRUE(ZapRefusedMoreThan(0));
  std::promise<void> done;
  std::thread stopper([&] {
    clients_.close();
    admins_.close();
    auth_.reset();
    context_.close();
    done.set_value();
  });
  const bool finished = done.get_future().wait_for(10s) == std::future_status::ready;
  EXPECT_TRUE(finished) << "closing the server side hung";
  if (finished) {
    stopper.join();
  } else {
    stopper.detach();
  }
}

// Fail closed: what ServerAuth::Start refuses, and why.
TEST(ServerAuth, StartFailsClosedWithoutUsableKeysAndLists) {
  KeyDir keys;
  const CurveKeyPair server = keys.Identity("server");
  const CurveKeyPair alice = keys.Identity("alice");
  const std::string secret = keys.Path("server.key_secret");
  const std::string good = keys.Write("good.keys", KeyListText({alice}));
  const std::string empty = keys.Write("empty.keys", "# nobody yet\n");
  const std::string broken = keys.Write("broken.keys", alice.public_key + "\nnot-a-key\n");
  const std::string missing = keys.Path("missing.keys");
  struct Case {
    ServerAuthFiles files;
    std::string error;
  };
  const std::vector<Case> cases = {
      {{secret, "", ""}, "needs both --client-keys and --admin-keys"},
      {{secret, good, ""}, "needs both --client-keys and --admin-keys"},
      {{secret, "", good}, "needs both --client-keys and --admin-keys"},
      {{"", good, good}, "without --curve-key"},
      {{"", "", good}, "without --curve-key"},
      {{secret, missing, good}, "--client-keys: " + missing + ": no such file"},
      {{secret, good, empty}, "--admin-keys: " + empty + ": no keys in it"},
      {{secret, broken, good}, "--client-keys: " + broken + ":2:"},
      {{keys.Path("alice.key"), good, good}, "--curve-key: "},        // a public key file is not a secret one
      {{keys.Path("nobody.key_secret"), good, good}, "--curve-key: "},
  };
  for (const Case& c : cases) {
    zmq::context_t context(1);
    auto auth = ServerAuth::Start(context, c.files);
    ASSERT_FALSE(auth.ok()) << c.files.secret_key << " " << c.files.client_keys << " " << c.files.admin_keys;
    EXPECT_NE(auth.status().message().find(c.error), absl::string_view::npos) << auth.status();
  }
  zmq::context_t context(1);
  auto off = ServerAuth::Start(context, {});
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(*off, nullptr);
  zmq::socket_t plain(context, zmq::socket_type::router);
  EXPECT_TRUE(ConfigureCurveServer(plain, nullptr, kClientDomain).ok());  // authentication off: nothing set
  EXPECT_EQ(plain.get(zmq::sockopt::mechanism), ZMQ_NULL);
  (void)server;
}

}  // namespace
}  // namespace tessera::auth
