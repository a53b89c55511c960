#include "coordinator/frames.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace tessera {
namespace {

struct SplitCase {
  const char* name;
  std::vector<std::string> frames;
  bool ok;
  bool delimiter;
  std::string payload;
};

TEST(Frames, SplitClientFramesAcceptsDealerAndReqShapesOnly) {
  const std::string id("\x00\x6b\x8b\x45\x67", 5);
  const std::vector<SplitCase> cases = {
      {"dealer", {id, "P"}, true, false, "P"},
      {"req", {id, "", "P"}, true, true, "P"},
      {"dealer, empty payload", {id, ""}, true, false, ""},
      {"identity only", {id}, false, false, ""},
      {"two payload frames", {id, "a", "b"}, false, false, ""},
      {"three payload frames", {id, "a", "b", "c"}, false, false, ""},
      {"req with two payload frames", {id, "", "a", "b"}, false, true, ""},
  };
  for (const SplitCase& c : cases) {
    std::vector<std::string_view> views(c.frames.begin(), c.frames.end());
    ClientEnvelope env;
    std::string error;
    EXPECT_EQ(SplitClientFrames(views, env, error), c.ok) << c.name;
    EXPECT_EQ(env.identity, id) << c.name;
    EXPECT_EQ(env.delimiter, c.delimiter) << c.name;
    if (c.ok) {
      EXPECT_EQ(env.payload, c.payload) << c.name;
    } else {
      EXPECT_FALSE(error.empty()) << c.name;
    }
  }
}

TEST(Frames, ParseClientRequestClassifiesBadPayloads) {
  proto::ClientRequest good;
  good.set_version(proto::PROTOCOL_VERSION_1);
  good.mutable_generate()->set_request_id("r1");
  proto::ClientRequest old = good;
  old.set_version(7);
  proto::ClientRequest unversioned = good;
  unversioned.clear_version();
  proto::ClientRequest empty;
  empty.set_version(proto::PROTOCOL_VERSION_1);
  struct Case {
    const char* name;
    std::string bytes;
    proto::ErrorCode code;
  };
  const std::vector<Case> cases = {
      {"good", good.SerializeAsString(), proto::ERROR_UNSPECIFIED},
      {"garbage", std::string(11, '\xff'), proto::ERROR_MALFORMED},
      {"truncated", good.SerializeAsString().substr(0, 4), proto::ERROR_MALFORMED},
      {"wrong version", old.SerializeAsString(), proto::ERROR_UNSUPPORTED_VERSION},
      {"no version", unversioned.SerializeAsString(), proto::ERROR_UNSUPPORTED_VERSION},
      {"empty oneof", empty.SerializeAsString(), proto::ERROR_MALFORMED},
      {"empty payload", "", proto::ERROR_MALFORMED},
  };
  for (const Case& c : cases) {
    proto::ClientRequest out;
    std::string error;
    EXPECT_EQ(ParseClientRequest(c.bytes, out, error), c.code) << c.name << ": " << error;
    EXPECT_EQ(error.empty(), c.code == proto::ERROR_UNSPECIFIED) << c.name;
  }
  proto::ClientRequest out;
  std::string error;
  ParseClientRequest(old.SerializeAsString(), out, error);
  EXPECT_EQ(RequestIdOf(out), "r1");  // a version error still names the request
}

TEST(Frames, ParseWorkerMessageClassifiesBadPayloads) {
  proto::WorkerMessage hb;
  hb.set_version(proto::PROTOCOL_VERSION_1);
  hb.mutable_heartbeat()->set_group_id(3);
  proto::WorkerMessage empty;
  empty.set_version(proto::PROTOCOL_VERSION_1);
  proto::WorkerMessage future = hb;
  future.set_version(2);
  proto::WorkerMessage out;
  std::string error;
  EXPECT_EQ(ParseWorkerMessage(hb.SerializeAsString(), out, error), proto::ERROR_UNSPECIFIED);
  EXPECT_EQ(out.heartbeat().group_id(), 3u);
  EXPECT_EQ(ParseWorkerMessage(empty.SerializeAsString(), out, error), proto::ERROR_MALFORMED);
  EXPECT_EQ(ParseWorkerMessage(future.SerializeAsString(), out, error), proto::ERROR_UNSUPPORTED_VERSION);
  EXPECT_EQ(ParseWorkerMessage(std::string(11, '\xff'), out, error), proto::ERROR_MALFORMED);
}

TEST(Frames, ErrorReplyNamesRequestAndCode) {
  proto::ClientReply reply;
  reply.mutable_chunk()->set_index(4);
  MakeErrorReply("abc", proto::ERROR_BUSY, "full", reply);
  EXPECT_EQ(reply.version(), static_cast<uint32_t>(proto::PROTOCOL_VERSION_1));
  EXPECT_EQ(reply.request_id(), "abc");
  ASSERT_TRUE(reply.has_error());
  EXPECT_EQ(reply.error().code(), proto::ERROR_BUSY);
  EXPECT_EQ(reply.error().message(), "full");
  EXPECT_EQ(PeerName(std::string("\x00\xab", 2)), "00ab");
}

}  // namespace
}  // namespace tessera
