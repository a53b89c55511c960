// A list of trusted public keys: whom the coordinator lets in on one socket
// (--client-keys, --admin-keys).
//
//   # one key per line, an optional label after it
//   <40 characters of Z85>  alice laptop
//   <40 characters of Z85>  ci runner
//
// '#' comments and blank lines are ignored (key_text.h); any other line that
// is not a Z85 key (plus label) is an error naming FILE:LINE. The list is
// fixed once read.
#pragma once

#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tessera::auth {

class KeyList {
 public:
  // The label of `binary_key` (32 raw bytes, as ZAP hands them over; "" when
  // it has none), or nullptr when the key is not listed.
  const std::string* Find(absl::string_view binary_key) const;
  size_t size() const { return keys_.size(); }
  bool empty() const { return keys_.empty(); }

  // Adds a key (Z85, already valid); a repeated key keeps its first label.
  void Add(absl::string_view z85_key, absl::string_view label);

 private:
  absl::flat_hash_map<std::string, std::string> keys_;  // binary key -> label
};

// The list in `text`; errors name `name`:LINE. An empty list is valid here
// (ReadKeyList is what refuses one).
absl::StatusOr<KeyList> ParseKeyList(absl::string_view text, absl::string_view name);
// The list in file `path`. An empty list is an error too: a coordinator that
// asked for authentication must not start with nobody allowed by mistake.
absl::StatusOr<KeyList> ReadKeyList(const std::string& path);

}  // namespace tessera::auth
