// Key files for the auth tests: a coordinator identity, client and admin
// identities, and their key lists, written to a temp directory of the test.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "auth/curve_keys.h"
#include "auth/key_files.h"
#include "auth/server_auth.h"
#include "gtest/gtest.h"

namespace tessera::auth::testing {

class KeyDir {
 public:
  KeyDir() : dir_(::testing::TempDir() + "/tessera_auth_keys_" + std::to_string(::getpid()) + "_" +
                  std::to_string(counter_++)) {
    EXPECT_EQ(::mkdir(dir_.c_str(), 0700), 0) << dir_;
  }
  ~KeyDir() {
    for (const std::string& f : files_) std::remove(f.c_str());
    ::rmdir(dir_.c_str());
  }

  // A fresh identity written as NAME.key_secret and NAME.key, the way
  // `tessera keygen --out DIR/NAME` writes it.
  CurveKeyPair Identity(const std::string& name) {
    auto made = WriteNewKeyPair(Path(name), /*force=*/false);
    EXPECT_TRUE(made.ok()) << made.status();
    if (!made.ok()) return {};
    files_.push_back(made->secret_path);
    files_.push_back(made->public_path);
    return made->keys;
  }
  // A file of any text (key lists, broken files).
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = Path(name);
    std::ofstream(path, std::ios::trunc) << text;
    files_.push_back(path);
    return path;
  }
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

 private:
  static inline int counter_ = 0;
  std::string dir_;
  std::vector<std::string> files_;
};

// A key list holding these public keys, labelled by position.
inline std::string KeyListText(const std::vector<CurveKeyPair>& keys) {
  std::string text = "# test key list\n";
  for (size_t i = 0; i < keys.size(); ++i) text += keys[i].public_key + " key-" + std::to_string(i) + "\n";
  return text;
}

}  // namespace tessera::auth::testing
