// GgufFile: owns the bytes (a read-only private mapping, or a buffer) that the
// parsed metadata and tensor infos point into.

#include "model/gguf_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "model/gguf_file_impl.h"

namespace tessera {

namespace {

absl::Status ErrnoStatus(int err, const std::string& what) {
  const std::string msg = absl::StrCat(what, ": ", std::strerror(err));
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(msg);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(msg);
    default:
      return absl::UnknownError(msg);
  }
}

// Closes the descriptor on every return path of Open; the mapping outlives it.
struct FdCloser {
  int fd;
  ~FdCloser() { ::close(fd); }
};

}  // namespace

GgufFile::Impl::~Impl() {
  if (map != nullptr) ::munmap(map, map_size);
}

GgufFile::GgufFile(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GgufFile::~GgufFile() = default;

absl::StatusOr<std::unique_ptr<GgufFile>> GgufFile::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("cannot open GGUF file '", path, "'"));
  FdCloser closer{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoStatus(errno, absl::StrCat("cannot stat '", path, "'"));
  if (S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat("'", path, "' is a directory, not a GGUF file"));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", path, "' is not a regular file (GGUF files are mapped into memory)"));
  }
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->size = static_cast<uint64_t>(st.st_size);
  if (impl->size > 0) {
    void* p = ::mmap(nullptr, impl->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) return ErrnoStatus(errno, absl::StrCat("cannot mmap '", path, "'"));
    impl->map = p;
    impl->map_size = impl->size;
    impl->data = static_cast<const uint8_t*>(p);
  }
  if (absl::Status s = ParseGguf(*impl); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat(path, ": ", std::string(s.message())));
  }
  return std::unique_ptr<GgufFile>(new GgufFile(std::move(impl)));
}

absl::StatusOr<std::unique_ptr<GgufFile>> GgufFile::FromBytes(std::vector<uint8_t> bytes) {
  auto impl = std::make_unique<Impl>();
  impl->owned = std::move(bytes);
  impl->data = impl->owned.data();
  impl->size = impl->owned.size();
  if (absl::Status s = ParseGguf(*impl); !s.ok()) return s;
  return std::unique_ptr<GgufFile>(new GgufFile(std::move(impl)));
}

uint32_t GgufFile::version() const { return impl_->version; }
uint32_t GgufFile::alignment() const { return impl_->alignment; }
const std::string& GgufFile::path() const { return impl_->path; }

void GgufFile::ReleasePages(const void* p, size_t n) const {
  if (impl_->map == nullptr || n == 0) return;
  const auto begin = reinterpret_cast<uintptr_t>(p);
  const auto map_begin = reinterpret_cast<uintptr_t>(impl_->map);
  if (begin < map_begin || begin + n > map_begin + impl_->map_size) return;
  // Only whole pages inside the range: a partial page may hold a neighbour's
  // bytes that are still in use (dropping them would only cost a re-read, but
  // there is no point).
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t first = (begin + page - 1) / page * page;
  const uintptr_t last = (begin + n) / page * page;
  if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

const std::vector<GgufTensorInfo>& GgufFile::tensors() const { return impl_->tensors; }

const GgufTensorInfo* GgufFile::FindTensor(std::string_view name) const {
  auto it = impl_->tensor_index.find(absl::string_view(name.data(), name.size()));
  return it == impl_->tensor_index.end() ? nullptr : &impl_->tensors[it->second];
}

absl::StatusOr<MatrixView> GgufFile::Matrix(std::string_view name) const {
  const GgufTensorInfo* t = FindTensor(name);
  if (t == nullptr) {
    return absl::NotFoundError(absl::StrCat("tensor '", std::string(name), "' not found"));
  }
  int non_unit = 0;
  for (int64_t d : t->dims) non_unit += d != 1;
  if (non_unit > 2) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", t->name, "' has ", non_unit,
                                                   " dimensions larger than 1; a matrix has 2"));
  }
  MatrixView m;
  m.type = t->type;
  m.data = t->data;
  m.cols = t->dims[0];
  m.rows = t->n_elements / t->dims[0];
  m.row_bytes = t->n_bytes / m.rows;
  return m;
}

}  // namespace tessera
