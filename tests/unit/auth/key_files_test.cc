// Key files, public keys and key lists from tables of good and bad inputs,
// and `tessera keygen`'s files.
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "auth/curve_keys.h"
#include "auth/key_files.h"
#include "auth/key_list.h"
#include "gtest/gtest.h"

namespace tessera::auth {
namespace {

// Two fresh identities; tables name their keys {P1} {S1} {P2} {S2}.
struct Keys {
  CurveKeyPair one, two;
  Keys() {
    auto a = GenerateKeyPair();
    auto b = GenerateKeyPair();
    EXPECT_TRUE(a.ok() && b.ok());
    one = *a;
    two = *b;
  }
  std::string Fill(const std::string& text) const {
    return absl::StrReplaceAll(text, {{"{P1}", one.public_key},
                                      {"{S1}", one.secret_key},
                                      {"{P2}", two.public_key},
                                      {"{S2}", two.secret_key}});
  }
};

const Keys& K() {
  static const Keys keys;
  return keys;
}

std::string TempPath(const std::string& name) {
  return ::testing::TempDir() + "/tessera_auth_" + std::to_string(::getpid()) + "_" + name;
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

TEST(CurveKeys, Z85KeysAreCheckedForLengthAlphabetAndRange) {
  ASSERT_TRUE(CurveAvailable()) << "Debian's libzmq5 has CURVE; the auth tests need it";
  EXPECT_TRUE(CheckZ85Key(K().one.public_key, "k").ok());
  EXPECT_TRUE(CheckZ85Key(std::string(40, '0'), "k").ok());  // all-zero bytes
  struct Bad {
    std::string key;
    std::string error;
  };
  const std::vector<Bad> bad = {
      {"", "40 characters of Z85, not 0"},
      {std::string(39, '0'), "not 39"},
      {std::string(41, '0'), "not 41"},
      {absl::StrCat(std::string(39, '0'), "~"), "not a Z85 key"},  // '~' is outside the alphabet
      {absl::StrCat(std::string(39, '0'), " "), "not a Z85 key"},
      {absl::StrCat("#", std::string(39, '0')), "not a Z85 key"},  // a group past 2^32
  };
  for (const Bad& b : bad) {
    const absl::Status st = CheckZ85Key(b.key, "--server-key");
    EXPECT_TRUE(absl::IsInvalidArgument(st)) << "'" << b.key << "'";
    EXPECT_NE(st.message().find("--server-key"), absl::string_view::npos) << st;
    EXPECT_NE(st.message().find(b.error), absl::string_view::npos) << st << " for '" << b.key << "'";
  }
}

TEST(CurveKeys, BinaryRoundTripAndPublicKeyOfSecret) {
  const std::string binary = Z85ToBinary(K().one.public_key);
  ASSERT_EQ(binary.size(), kBinaryKeyLength);
  EXPECT_EQ(BinaryToZ85(binary), K().one.public_key);
  EXPECT_EQ(*PublicKeyOf(K().one.secret_key), K().one.public_key);
  EXPECT_NE(*PublicKeyOf(K().two.secret_key), K().one.public_key);
}

TEST(CurveKeys, ClientKeysAreAllOrNothingAndMustMatch) {
  EXPECT_TRUE(CheckClientKeys({}).ok());
  EXPECT_TRUE(CheckClientKeys({K().two.public_key, K().one}).ok());
  EXPECT_TRUE(absl::IsInvalidArgument(CheckClientKeys({K().two.public_key, {}})));
  EXPECT_TRUE(absl::IsInvalidArgument(CheckClientKeys({"", K().one})));
  EXPECT_TRUE(absl::IsInvalidArgument(CheckClientKeys({K().two.public_key, {K().two.public_key, K().one.secret_key}})));
  EXPECT_TRUE(absl::IsInvalidArgument(CheckClientKeys({"short", K().one})));
}

TEST(KeyFiles, SecretKeyFileGoodInputs) {
  const std::vector<std::string> good = {
      FormatSecretKeyFile(K().one),
      "secret-key {S1}\n",                                   // the public half is derived
      "public-key {P1}\nsecret-key {S1}",                    // no final newline
      "\r\n# comment\r\n  public-key   {P1}  \r\n\tsecret-key {S1}\r\n\n",  // CRLF, blanks, spacing
      "secret-key {S1}\npublic-key {P1}\n",                  // either order
  };
  for (const std::string& text : good) {
    auto keys = ParseSecretKeyFile(K().Fill(text), "me.key_secret");
    ASSERT_TRUE(keys.ok()) << keys.status() << " for:\n" << text;
    EXPECT_EQ(keys->public_key, K().one.public_key);
    EXPECT_EQ(keys->secret_key, K().one.secret_key);
  }
}

TEST(KeyFiles, SecretKeyFileBadInputsNameTheLineAndNeverEchoTheSecret) {
  struct Bad {
    std::string text;
    std::string error;
  };
  const std::vector<Bad> bad = {
      {"", "me.key_secret: no 'secret-key' line"},
      {"# only a comment\n", "no 'secret-key' line"},
      {"public-key {P1}\n", "no 'secret-key' line"},
      {"secret-key {S1}\nsecret-key {S1}\n", "me.key_secret:2: a second secret-key"},
      {"public-key {P2}\nsecret-key {S1}\n", "does not belong to its secret-key"},
      {"\n\nsecret-key {S1}x\n", "me.key_secret:3: secret-key"},
      {"secret-key\n", "me.key_secret:1: secret-key: a CURVE key is 40 characters"},
      {"{P1}\n", "me.key_secret:1: a bare key"},
      {"secret_key {S1}\n", "me.key_secret:1: expected 'public-key <Z85>' or 'secret-key <Z85>'"},
  };
  for (const Bad& b : bad) {
    auto keys = ParseSecretKeyFile(K().Fill(b.text), "me.key_secret");
    ASSERT_FALSE(keys.ok()) << b.text;
    EXPECT_NE(keys.status().message().find(b.error), absl::string_view::npos) << keys.status() << " for:\n" << b.text;
    EXPECT_EQ(keys.status().message().find(K().one.secret_key), absl::string_view::npos) << keys.status();
  }
}

TEST(KeyFiles, PublicKeyFileGoodAndBadInputs) {
  for (const std::string& text : std::vector<std::string>{"{P1}\n", "{P1}", "# the coordinator\n\n{P1}  prod coordinator\n",
                                                         FormatPublicKeyFile(K().one)}) {
    auto key = ParsePublicKeyFile(K().Fill(text), "c.key");
    ASSERT_TRUE(key.ok()) << key.status() << " for:\n" << text;
    EXPECT_EQ(*key, K().one.public_key);
  }
  struct Bad {
    std::string text;
    std::string error;
  };
  const std::vector<Bad> bad = {
      {"", "c.key: no key in it"},
      {"{P1}\n{P2}\n", "c.key:2: a second line"},
      {FormatSecretKeyFile(K().one), "c.key:2: this is a secret key file"},
      {"\nnot-a-key\n", "c.key:2:"},
  };
  for (const Bad& b : bad) {
    auto key = ParsePublicKeyFile(K().Fill(b.text), "c.key");
    ASSERT_FALSE(key.ok()) << b.text;
    EXPECT_NE(key.status().message().find(b.error), absl::string_view::npos) << key.status() << " for:\n" << b.text;
  }
}

TEST(KeyFiles, ReadPublicKeyTakesAFileOrTheKeyItself) {
  const std::string path = TempPath("server.key");
  WriteFile(path, K().two.public_key + "\n");
  EXPECT_EQ(*ReadPublicKey(path), K().two.public_key);
  EXPECT_EQ(*ReadPublicKey(K().one.public_key), K().one.public_key);
  auto missing = ReadPublicKey(TempPath("nope.key"));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("neither a file nor a 40-character Z85 key"), absl::string_view::npos);
  EXPECT_FALSE(ReadPublicKey("").ok());
  std::remove(path.c_str());
}

TEST(KeyFiles, LoadClientKeysTakesBothFlagsOrNeither) {
  const std::string out = TempPath("carol");
  auto made = WriteNewKeyPair(out, false);
  ASSERT_TRUE(made.ok()) << made.status();
  auto none = LoadClientKeys("", "");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->enabled());

  auto both = LoadClientKeys(K().one.public_key, made->secret_path);
  ASSERT_TRUE(both.ok()) << both.status();
  EXPECT_EQ(both->server_key, K().one.public_key);
  EXPECT_EQ(both->client.public_key, made->keys.public_key);
  EXPECT_EQ(both->client.secret_key, made->keys.secret_key);
  EXPECT_TRUE(CheckClientKeys(*both).ok());

  struct Bad {
    std::string server_key, key, error;
  };
  const std::vector<Bad> bad = {
      {K().one.public_key, "", "--server-key without --key"},
      {"", made->secret_path, "--key without --server-key"},
      {made->secret_path, made->secret_path, "--server-key: " + made->secret_path + ":2: this is a secret key file"},
      {K().one.public_key, made->public_path, "--key: " + made->public_path + ":1: a bare key"},
      {"not-a-key", made->secret_path, "--server-key: 'not-a-key' is neither a file nor"},
  };
  for (const Bad& b : bad) {
    auto keys = LoadClientKeys(b.server_key, b.key);
    ASSERT_FALSE(keys.ok()) << b.error;
    EXPECT_TRUE(absl::IsInvalidArgument(keys.status())) << keys.status();
    EXPECT_NE(keys.status().message().find(b.error), absl::string_view::npos) << keys.status();
  }
  std::remove(made->secret_path.c_str());
  std::remove(made->public_path.c_str());
}

TEST(KeyList, GoodInputs) {
  auto empty = ParseKeyList("# nobody yet\n\n", "clients.keys");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());

  auto list = ParseKeyList(K().Fill("# clients\n\n{P1}   alice laptop  \r\n\t{P2}\n{P1} again\n"), "clients.keys");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->size(), 2u);  // a repeated key counts once, with its first label
  const std::string* alice = list->Find(Z85ToBinary(K().one.public_key));
  ASSERT_NE(alice, nullptr);
  EXPECT_EQ(*alice, "alice laptop");
  const std::string* two = list->Find(Z85ToBinary(K().two.public_key));
  ASSERT_NE(two, nullptr);
  EXPECT_EQ(*two, "");
  // Lookups are by the public key's bytes: a secret key is not in the list.
  EXPECT_EQ(list->Find(Z85ToBinary(K().one.secret_key)), nullptr);
  EXPECT_EQ(list->Find("short"), nullptr);
}

TEST(KeyList, BadLinesNameFileAndLine) {
  struct Bad {
    std::string text;
    std::string error;
  };
  const std::vector<Bad> bad = {
      {"{P1}\n\n{P2}x alice\n", "clients.keys:3: a CURVE key is 40 characters of Z85, not 41"},
      {"{P1}\nalice {P2}\n", "clients.keys:2:"},
      {"public-key {P1}\nsecret-key {S1}\n", "clients.keys:1: this looks like a secret key file"},
      {"  ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\n", "clients.keys:1: not a Z85 key"},
  };
  for (const Bad& b : bad) {
    auto list = ParseKeyList(K().Fill(b.text), "clients.keys");
    ASSERT_FALSE(list.ok()) << b.text;
    EXPECT_TRUE(absl::IsInvalidArgument(list.status()));
    EXPECT_NE(list.status().message().find(b.error), absl::string_view::npos) << list.status() << " for:\n" << b.text;
  }
}

TEST(KeyList, ReadingRefusesMissingAndEmptyFiles) {
  auto missing = ReadKeyList(TempPath("missing.keys"));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("no such file"), absl::string_view::npos) << missing.status();

  const std::string empty = TempPath("empty.keys");
  WriteFile(empty, "# nobody\n");
  auto none = ReadKeyList(empty);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("no keys in it"), absl::string_view::npos) << none.status();

  EXPECT_FALSE(ReadKeyList(::testing::TempDir()).ok());  // a directory

  const std::string one = TempPath("one.keys");
  WriteFile(one, K().one.public_key + " alice\n");
  auto list = ReadKeyList(one);
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->size(), 1u);
  std::remove(empty.c_str());
  std::remove(one.c_str());
}

TEST(Keygen, WritesBothFilesWithTheRightModesAndRefusesToOverwrite) {
  const std::string out = TempPath("alice");
  auto made = WriteNewKeyPair(out, /*force=*/false);
  ASSERT_TRUE(made.ok()) << made.status();
  EXPECT_EQ(made->secret_path, out + ".key_secret");
  EXPECT_EQ(made->public_path, out + ".key");

  struct stat st;
  ASSERT_EQ(::stat(made->secret_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(made->public_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0077 & ~0044, 0u);  // at most world-readable, never writable by others

  // The files read back as the pair that was made.
  auto secret = ReadSecretKeyFile(made->secret_path);
  ASSERT_TRUE(secret.ok()) << secret.status();
  EXPECT_EQ(secret->secret_key, made->keys.secret_key);
  EXPECT_EQ(secret->public_key, made->keys.public_key);
  EXPECT_EQ(*PublicKeyOf(secret->secret_key), made->keys.public_key);
  EXPECT_EQ(*ReadPublicKey(made->public_path), made->keys.public_key);

  // No overwrite without --force; the old key stays.
  auto again = WriteNewKeyPair(out, /*force=*/false);
  ASSERT_FALSE(again.ok());
  EXPECT_TRUE(absl::IsAlreadyExists(again.status())) << again.status();
  EXPECT_NE(again.status().message().find("--force"), absl::string_view::npos);
  EXPECT_EQ(ReadSecretKeyFile(made->secret_path)->secret_key, made->keys.secret_key);

  // --force: a new pair, still 0600.
  auto forced = WriteNewKeyPair(out, /*force=*/true);
  ASSERT_TRUE(forced.ok()) << forced.status();
  EXPECT_NE(forced->keys.secret_key, made->keys.secret_key);
  EXPECT_EQ(ReadSecretKeyFile(made->secret_path)->secret_key, forced->keys.secret_key);
  EXPECT_EQ(*ReadPublicKey(made->public_path), forced->keys.public_key);
  ASSERT_EQ(::stat(made->secret_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  std::remove(made->secret_path.c_str());
  std::remove(made->public_path.c_str());
}

TEST(Keygen, RefusesWhenOnlyThePublicFileExistsAndBadOut) {
  const std::string out = TempPath("bob");
  WriteFile(out + ".key", "something\n");
  auto made = WriteNewKeyPair(out, /*force=*/false);
  ASSERT_FALSE(made.ok());
  EXPECT_TRUE(absl::IsAlreadyExists(made.status()));
  struct stat st;
  EXPECT_NE(::stat((out + ".key_secret").c_str(), &st), 0) << "no secret file without its public half";
  std::remove((out + ".key").c_str());

  EXPECT_TRUE(absl::IsInvalidArgument(WriteNewKeyPair("", false).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(WriteNewKeyPair(::testing::TempDir() + "/", false).status()));
  EXPECT_FALSE(WriteNewKeyPair(TempPath("no/such/dir/carol"), false).ok());
}

}  // namespace
}  // namespace tessera::auth
