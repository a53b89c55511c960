#include "auth/key_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "auth/key_text.h"
#include "glog/logging.h"

namespace tessera::auth {
namespace {

using internal::ContentLines;
using internal::IsZ85Key;
using internal::KeyLine;

std::string Where(absl::string_view name, const KeyLine& line) { return absl::StrCat(name, ":", line.number); }

std::string Errno(int err) { return std::strerror(err); }

// Writes `content` to a new file `path` created with `mode` (O_EXCL: an
// existing file is an error, and no other process can slip one in first).
absl::Status WriteNewFile(const std::string& path, const std::string& content, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    const int err = errno;
    if (err == EEXIST) {
      return absl::AlreadyExistsError(absl::StrCat(path, " exists; --force replaces it (whoever uses the old key "
                                                         "is refused from then on)"));
    }
    return absl::PermissionDeniedError(absl::StrCat("cannot create ", path, ": ", Errno(err)));
  }
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(path.c_str());
      return absl::InternalError(absl::StrCat("cannot write ", path, ": ", Errno(err)));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const int err = errno;
    ::unlink(path.c_str());
    return absl::InternalError(absl::StrCat("cannot write ", path, ": ", Errno(err)));
  }
  return absl::OkStatus();
}

// A new file or, with `force`, a replacement that readers see whole: written
// beside it, then renamed over it.
absl::Status WriteKeyFile(const std::string& path, const std::string& content, mode_t mode, bool force) {
  if (!force) return WriteNewFile(path, content, mode);
  const std::string tmp = absl::StrCat(path, ".tmp.", ::getpid());
  ::unlink(tmp.c_str());  // a leftover of a killed run of this pid
  if (auto st = WriteNewFile(tmp, content, mode); !st.ok()) return st;
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return absl::PermissionDeniedError(absl::StrCat("cannot replace ", path, ": ", Errno(err)));
  }
  return absl::OkStatus();
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

}  // namespace

std::string FormatSecretKeyFile(const CurveKeyPair& keys) {
  return absl::StrCat(
      "# tessera CURVE key pair (Z85). Keep this file secret (mode 0600): it proves this identity.\n"
      "public-key ",
      keys.public_key, "\nsecret-key ", keys.secret_key, "\n");
}

std::string FormatPublicKeyFile(const CurveKeyPair& keys) { return absl::StrCat(keys.public_key, "\n"); }

absl::StatusOr<CurveKeyPair> ParseSecretKeyFile(absl::string_view text, absl::string_view name) {
  CurveKeyPair keys;
  for (const KeyLine& line : ContentLines(text)) {
    const bool is_public = line.word == "public-key";
    if (!is_public && line.word != "secret-key") {
      if (IsZ85Key(line.word)) {
        return absl::InvalidArgumentError(
            absl::StrCat(Where(name, line), ": a bare key; this must be a secret key file (NAME.key_secret from "
                                            "`tessera keygen`), not a public key file or a key list"));
      }
      return absl::InvalidArgumentError(
          absl::StrCat(Where(name, line), ": expected 'public-key <Z85>' or 'secret-key <Z85>'"));
    }
    std::string& slot = is_public ? keys.public_key : keys.secret_key;
    if (!slot.empty()) return absl::InvalidArgumentError(absl::StrCat(Where(name, line), ": a second ", line.word));
    if (auto st = CheckZ85Key(line.rest, absl::StrCat(Where(name, line), ": ", line.word)); !st.ok()) return st;
    slot = std::string(line.rest);
  }
  if (keys.secret_key.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, ": no 'secret-key' line; a secret key file is NAME.key_secret as `tessera keygen` writes it"));
  }
  auto derived = PublicKeyOf(keys.secret_key);
  if (!derived.ok()) return derived.status();
  if (keys.public_key.empty()) {
    keys.public_key = *derived;
  } else if (keys.public_key != *derived) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": its public-key does not belong to its secret-key (an edited or mixed-up file)"));
  }
  return keys;
}

absl::StatusOr<CurveKeyPair> ReadSecretKeyFile(const std::string& path) {
  auto text = ReadSmallFile(path, 64 << 10);
  if (!text.ok()) return text.status();
  auto keys = ParseSecretKeyFile(*text, path);
  if (!keys.ok()) return keys.status();
  // A warning, not a refusal: mounted secrets (Kubernetes, Docker) are
  // often 0644 inside a container nobody else can enter.
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
    LOG(WARNING) << path << " holds a secret key and is readable by others (mode " << mode << "); chmod 600 "
                 << path;
  }
  return keys;
}

absl::StatusOr<std::string> ParsePublicKeyFile(absl::string_view text, absl::string_view name) {
  std::string key;
  for (const KeyLine& line : ContentLines(text)) {
    if (line.word == "public-key" || line.word == "secret-key") {
      return absl::InvalidArgumentError(absl::StrCat(
          Where(name, line), ": this is a secret key file; give the public one (NAME.key), and keep the secret "
                             "file where it is"));
    }
    if (!key.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(Where(name, line), ": a second line; a public key file holds one key"));
    }
    if (auto st = CheckZ85Key(line.word, Where(name, line)); !st.ok()) return st;
    key = std::string(line.word);
  }
  if (key.empty()) return absl::InvalidArgumentError(absl::StrCat(name, ": no key in it"));
  return key;
}

absl::StatusOr<std::string> ReadPublicKey(const std::string& file_or_key) {
  if (file_or_key.empty()) return absl::InvalidArgumentError("an empty public key");
  if (Exists(file_or_key)) {
    auto text = ReadSmallFile(file_or_key, 64 << 10);
    if (!text.ok()) return text.status();
    return ParsePublicKeyFile(*text, file_or_key);
  }
  if (IsZ85Key(file_or_key)) return file_or_key;
  return absl::NotFoundError(absl::StrCat("'", file_or_key, "' is neither a file nor a 40-character Z85 key"));
}

absl::StatusOr<CurveClientKeys> LoadClientKeys(const std::string& server_key, const std::string& secret_key_file) {
  CurveClientKeys keys;
  if (server_key.empty() && secret_key_file.empty()) return keys;
  if (server_key.empty() || secret_key_file.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        secret_key_file.empty() ? "--server-key without --key" : "--key without --server-key",
        ": CURVE needs both the coordinator's public key and this client's secret key file"));
  }
  if (auto st = CheckCurveAvailable(); !st.ok()) return absl::InvalidArgumentError(st.message());
  auto server = ReadPublicKey(server_key);
  if (!server.ok()) return absl::InvalidArgumentError(absl::StrCat("--server-key: ", server.status().message()));
  auto mine = ReadSecretKeyFile(secret_key_file);
  if (!mine.ok()) return absl::InvalidArgumentError(absl::StrCat("--key: ", mine.status().message()));
  keys.server_key = *std::move(server);
  keys.client = *std::move(mine);
  return keys;
}

absl::StatusOr<std::string> ReadSmallFile(const std::string& path, size_t max_bytes) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT) return absl::NotFoundError(absl::StrCat(path, ": no such file"));
    return absl::PermissionDeniedError(absl::StrCat("cannot read ", path, ": ", Errno(err)));
  }
  if (!S_ISREG(st.st_mode)) return absl::InvalidArgumentError(absl::StrCat(path, " is not a regular file"));
  if (static_cast<size_t>(st.st_size) > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is ", st.st_size, " bytes; a key file is at most ", max_bytes));
  }
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    const int err = errno;
    return absl::PermissionDeniedError(absl::StrCat("cannot read ", path, ": ", Errno(err)));
  }
  std::string out;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), f)) > 0 && out.size() <= max_bytes) out.append(buffer, n);
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) return absl::PermissionDeniedError(absl::StrCat("cannot read ", path));
  if (out.size() > max_bytes) return absl::InvalidArgumentError(absl::StrCat(path, " grew past ", max_bytes, " bytes"));
  return out;
}

absl::StatusOr<KeygenResult> WriteNewKeyPair(const std::string& out, bool force) {
  if (out.empty() || out.back() == '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("--out '", out, "': give DIR/NAME (NAME.key_secret and NAME.key are written)"));
  }
  KeygenResult r;
  r.secret_path = out + ".key_secret";
  r.public_path = out + ".key";
  if (!force) {
    for (const std::string* p : {&r.secret_path, &r.public_path}) {
      if (Exists(*p)) {
        return absl::AlreadyExistsError(absl::StrCat(*p, " exists; --force replaces it (whoever uses the old key "
                                                         "is refused from then on)"));
      }
    }
  }
  auto keys = GenerateKeyPair();
  if (!keys.ok()) return keys.status();
  r.keys = *std::move(keys);
  if (auto st = WriteKeyFile(r.secret_path, FormatSecretKeyFile(r.keys), 0600, force); !st.ok()) return st;
  if (auto st = WriteKeyFile(r.public_path, FormatPublicKeyFile(r.keys), 0644, force); !st.ok()) {
    if (!force) {
      ::unlink(r.secret_path.c_str());  // no secret without its public half
      return st;
    }
    return absl::Status(st.code(), absl::StrCat(st.message(), "; ", r.secret_path,
                                                " was already replaced: run keygen --force again"));
  }
  return r;
}

}  // namespace tessera::auth
