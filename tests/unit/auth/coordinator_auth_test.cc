// A coordinator with CURVE on, over real sockets: keyed clients are served;
// clients without CURVE, with an unlisted key or with the wrong server key
// get no answer while keyed ones keep being served; client and admin keys
// open only their own socket; garbage on the client port disturbs nobody;
// and the coordinator does not start without its key lists. The keys are
// the files `tessera keygen` writes (auth::WriteNewKeyPair).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "auth/key_files.h"
#include "client/lib/admin_client.h"
#include "client/lib/client.h"
#include "tests/unit/auth/auth_fixture.h"
#include "tests/unit/coordinator/coordinator_fixture.h"

namespace tessera::testing {
namespace {

using auth::CurveClientKeys;
using auth::CurveKeyPair;
using auth::testing::KeyDir;
using auth::testing::KeyListText;

class CoordinatorAuthTest : public CoordinatorTest {
 protected:
  void SetUp() override {
    coordinator_keys_ = keys_.Identity("coordinator");
    alice_ = keys_.Identity("alice");
    root_ = keys_.Identity("root");
    stranger_ = keys_.Identity("stranger");
    options_.curve_key = keys_.Path("coordinator.key_secret");
    options_.client_keys = keys_.Write("clients.keys", KeyListText({alice_}));
    options_.admin_keys = keys_.Write("admins.keys", KeyListText({root_}));
  }

  // The keys a client reads from its files, as `--server-key coordinator.key
  // --key NAME.key_secret` does.
  CurveClientKeys FromFiles(const std::string& name) {
    auto server = auth::ReadPublicKey(keys_.Path("coordinator.key"));
    auto mine = auth::ReadSecretKeyFile(keys_.Path(name + ".key_secret"));
    EXPECT_TRUE(server.ok() && mine.ok());
    return {server.ok() ? *server : "", mine.ok() ? *mine : CurveKeyPair{}};
  }

  std::unique_ptr<tessera::Client> ClientWith(const CurveClientKeys& keys, absl::Duration reply_timeout) {
    ClientOptions o;
    o.endpoint = coordinator_->clients();
    o.reply_timeout = reply_timeout;
    o.max_attempts = 1;
    o.curve = keys;
    auto c = tessera::Client::Connect(o);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *std::move(c) : nullptr;
  }

  // A keyed client is served: the fake group's exact tokens for this seed.
  void ExpectServed(tessera::Client& client, uint64_t seed) {
    proto::GenerateRequest r;
    r.set_prompt("The quick brown fox");
    r.set_max_tokens(6);
    r.set_stream(true);
    r.mutable_sampling()->set_seed(seed);
    int chunks = 0;
    auto result = client.Generate(r, [&](const proto::TokenChunk&) { ++chunks; });
    ASSERT_TRUE(result.ok()) << result.status();
    const std::vector<int32_t> want = ExpectedTokens(seed, Encode("The quick brown fox").size(), 6, vocab());
    EXPECT_EQ(std::vector<int32_t>(result->tokens().begin(), result->tokens().end()), want);
    EXPECT_GT(chunks, 0);
  }

  // A refused client's request is never answered: it times out.
  void ExpectNoAnswer(tessera::Client& client) {
    proto::GenerateRequest r;
    r.set_prompt("hello");
    r.set_max_tokens(2);
    auto result = client.Generate(r);
    ASSERT_FALSE(result.ok());
    EXPECT_TRUE(absl::IsDeadlineExceeded(result.status())) << result.status();
  }

  void StartWithGroup() {
    StartCoordinator(options_);
    AddGroup({.name = "g1"});  // the worker socket stays plain: the fake leader has no keys
    keyed_ = ClientWith(FromFiles("alice"), absl::Seconds(5));
    ASSERT_NE(keyed_, nullptr);
    ASSERT_TRUE(WaitUntil([&] {
      auto s = keyed_->Status();
      return s.ok() && ReadyGroups(*s) == 1;
    }));
  }

  KeyDir keys_;
  CurveKeyPair coordinator_keys_, alice_, root_, stranger_;
  CoordinatorOptions options_;
  std::unique_ptr<tessera::Client> keyed_;
};

TEST_F(CoordinatorAuthTest, KeyedClientIsServedOthersGetNoAnswer) {
  StartWithGroup();
  ExpectServed(*keyed_, 7);

  // No CURVE at all (a raw DEALER, as before authentication existed).
  auto plain = Client();
  plain->Send(Generate("p1", "hello", 2, false));
  EXPECT_FALSE(plain->Receive(700ms).has_value());

  // A key pair the coordinator does not list.
  auto unlisted = ClientWith(FromFiles("stranger"), absl::Milliseconds(700));
  ExpectNoAnswer(*unlisted);

  // A listed key, but the wrong idea of the coordinator's key.
  auto wrong_server = ClientWith({stranger_.public_key, alice_}, absl::Milliseconds(700));
  ExpectNoAnswer(*wrong_server);

  // Meanwhile, and afterwards, the keyed client is served as before.
  ExpectServed(*keyed_, 8);
  auto again = ClientWith(FromFiles("alice"), absl::Seconds(5));
  ExpectServed(*again, 9);
}

TEST_F(CoordinatorAuthTest, AdminKeysAndClientKeysOpenOnlyTheirOwnSocket) {
  StartWithGroup();
  ASSERT_FALSE(coordinator_->admin().empty());
  auto admin_as = [&](const CurveClientKeys& keys, absl::Duration timeout) {
    AdminClientOptions o;
    o.endpoint = coordinator_->admin();
    o.timeout = timeout;
    o.curve = keys;
    auto c = AdminClient::Connect(o);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *std::move(c) : nullptr;
  };
  proto::AdminRequest status;
  status.mutable_status();

  auto root = admin_as(FromFiles("root"), absl::Seconds(5));
  auto answer = root->Call(status);
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(answer->version(), static_cast<uint32_t>(proto::PROTOCOL_VERSION_1));

  // A client key on the admin socket, and no key at all: no answer.
  auto alice_as_admin = admin_as(FromFiles("alice"), absl::Milliseconds(700));
  EXPECT_TRUE(absl::IsDeadlineExceeded(alice_as_admin->Call(status).status()));
  auto plain_admin = admin_as({}, absl::Milliseconds(700));
  EXPECT_TRUE(absl::IsDeadlineExceeded(plain_admin->Call(status).status()));

  // An admin key on the client socket: no answer either.
  auto root_as_client = ClientWith(FromFiles("root"), absl::Milliseconds(700));
  ExpectNoAnswer(*root_as_client);

  ExpectServed(*keyed_, 3);
  EXPECT_TRUE(root->Call(status).ok());
}

// Bytes that are not ZMTP, or a CURVE greeting followed by junk, on the
// client port: those connections are dropped, nobody else notices.
TEST_F(CoordinatorAuthTest, GarbageOnTheClientPortDisturbsNobody) {
  StartWithGroup();
  const std::string& endpoint = coordinator_->clients();
  const int port = std::stoi(endpoint.substr(endpoint.rfind(':') + 1));
  std::mt19937 rng(5);
  std::vector<int> open_fds;
  auto garbage = [&](std::string bytes, bool keep_open) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    (void)::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (keep_open) {
      open_fds.push_back(fd);
    } else {
      ::close(fd);
    }
  };
  auto random_bytes = [&](size_t n) {
    std::string s(n, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    return s;
  };
  // A ZMTP 3.0 greeting asking for CURVE, then a HELLO-sized frame of junk.
  std::string greeting("\xff\0\0\0\0\0\0\0\x01\x7f\x03\x00", 12);
  greeting += std::string("CURVE") + std::string(15, '\0') + std::string(1, '\0') + std::string(31, '\0');
  std::string hello = greeting + std::string("\x04\xc8", 2) + random_bytes(200);

  garbage(random_bytes(64 << 10), false);
  garbage(random_bytes(17), true);
  garbage(greeting, true);
  garbage(hello, false);
  garbage(hello, true);
  garbage("GET / HTTP/1.1\r\nHost: x\r\n\r\n", true);
  ExpectServed(*keyed_, 11);
  auto fresh = ClientWith(FromFiles("alice"), absl::Seconds(5));
  ExpectServed(*fresh, 12);
  for (int fd : open_fds) ::close(fd);
  ExpectServed(*keyed_, 13);
}

TEST_F(CoordinatorAuthTest, DoesNotStartWithoutUsableKeyLists) {
  struct Case {
    std::string curve_key, client_keys, admin_keys;
    std::string error;
  };
  const std::string empty = keys_.Write("empty.keys", "\n# nobody\n");
  const std::vector<Case> cases = {
      {options_.curve_key, "", "", "needs both --client-keys and --admin-keys"},
      {options_.curve_key, options_.client_keys, "", "needs both --client-keys and --admin-keys"},
      {options_.curve_key, options_.client_keys, keys_.Path("missing.keys"), "no such file"},
      {options_.curve_key, empty, options_.admin_keys, "no keys in it"},
      {"", options_.client_keys, options_.admin_keys, "without --curve-key"},
      {keys_.Path("missing.key_secret"), options_.client_keys, options_.admin_keys, "--curve-key"},
  };
  for (const Case& c : cases) {
    CoordinatorOptions o;
    o.listen = "tcp://127.0.0.1:*";
    o.workers = "tcp://127.0.0.1:*";
    o.admin = "tcp://127.0.0.1:*";
    o.curve_key = c.curve_key;
    o.client_keys = c.client_keys;
    o.admin_keys = c.admin_keys;
    auto coordinator = Coordinator::Create(o, LoadTinyModel());
    ASSERT_FALSE(coordinator.ok()) << c.error;
    EXPECT_NE(coordinator.status().message().find(c.error), absl::string_view::npos) << coordinator.status();
  }
}

}  // namespace
}  // namespace tessera::testing
