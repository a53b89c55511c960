#include "auth/key_list.h"

#include "absl/strings/str_cat.h"
#include "auth/curve_keys.h"
#include "auth/key_files.h"
#include "auth/key_text.h"

namespace tessera::auth {

const std::string* KeyList::Find(absl::string_view binary_key) const {
  auto it = keys_.find(binary_key);
  return it == keys_.end() ? nullptr : &it->second;
}

void KeyList::Add(absl::string_view z85_key, absl::string_view label) {
  keys_.try_emplace(Z85ToBinary(z85_key), std::string(label));
}

absl::StatusOr<KeyList> ParseKeyList(absl::string_view text, absl::string_view name) {
  KeyList list;
  for (const internal::KeyLine& line : internal::ContentLines(text)) {
    const std::string where = absl::StrCat(name, ":", line.number);
    if (line.word == "public-key" || line.word == "secret-key") {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": this looks like a secret key file; a key list holds public keys (the NAME.key files of "
                 "`tessera keygen`), one per line"));
    }
    if (auto st = CheckZ85Key(line.word, where); !st.ok()) return st;
    list.Add(line.word, line.rest);
  }
  return list;
}

absl::StatusOr<KeyList> ReadKeyList(const std::string& path) {
  auto text = ReadSmallFile(path);
  if (!text.ok()) return text.status();
  auto list = ParseKeyList(*text, path);
  if (!list.ok()) return list.status();
  if (list->empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": no keys in it; refusing to start with nobody allowed (add public keys, one per line)"));
  }
  return list;
}

}  // namespace tessera::auth
