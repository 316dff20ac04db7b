#include "io/output_files.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>

#include "rnnx/error.h"

namespace rnnx::io {
namespace fs = std::filesystem;

namespace {

constexpr const char* kStagingPrefix = ".rnnx-staging-";

std::string reason(int code) {
  return std::strerror(code);
}

// The signals a user sends to stop a program. While a commit runs they are only noted, and
// raised again once it is over, so that they cannot split the renames. SIGXFSZ (the file-size
// limit) is ignored meanwhile, so that the write which crosses the limit fails with EFBIG and is
// reported like a full disk instead of ending the process with staged files behind.
constexpr int kHeldSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
volatile sig_atomic_t g_held_signal = 0;

extern "C" void note_signal(int signal) {
  if (g_held_signal == 0) g_held_signal = signal;
}

class SignalHold {
 public:
  SignalHold() {
    g_held_signal = 0;
    struct sigaction note {};
    note.sa_handler = note_signal;
    sigemptyset(&note.sa_mask);
    for (std::size_t k = 0; k < std::size(kHeldSignals); ++k) {
      sigaction(kHeldSignals[k], nullptr, &previous_[k]);
      // A signal the program ignores stays ignored; one it handles itself is held too, and its
      // handler runs afterwards via raise().
      if (previous_[k].sa_handler != SIG_IGN) sigaction(kHeldSignals[k], &note, nullptr);
    }
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    sigaction(SIGXFSZ, &ignore, &previous_file_size_);
  }
  ~SignalHold() {
    sigaction(SIGXFSZ, &previous_file_size_, nullptr);
    for (std::size_t k = 0; k < std::size(kHeldSignals); ++k) {
      sigaction(kHeldSignals[k], &previous_[k], nullptr);
    }
    if (g_held_signal != 0) raise(g_held_signal);
  }
  SignalHold(const SignalHold&) = delete;
  SignalHold& operator=(const SignalHold&) = delete;

 private:
  struct sigaction previous_[std::size(kHeldSignals)]{};
  struct sigaction previous_file_size_ {};
};

// Writes all of `bytes` to a new file and flushes it to the disk; the errno of the first failure,
// or 0.
int write_whole_file(const fs::path& path, const std::string& bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) return errno;
  int failure = 0;
  std::size_t done = 0;
  while (done < bytes.size() && failure == 0) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
    } else if (n < 0 && errno != EINTR) {
      failure = errno;
    } else if (n == 0) {
      failure = EIO;
    }
  }
  if (failure == 0 && ::fsync(fd) != 0) failure = errno;
  if (::close(fd) != 0 && failure == 0) failure = errno;
  return failure;
}

// The pid in a staging folder's name, or 0 if the name is not one.
pid_t staging_owner(const std::string& name) {
  const std::string prefix = kStagingPrefix;
  if (name.rfind(prefix, 0) != 0) return 0;
  const std::size_t dash = name.find('-', prefix.size());
  if (dash == std::string::npos || dash == prefix.size()) return 0;
  pid_t pid = 0;
  for (std::size_t k = prefix.size(); k < dash; ++k) {
    if (name[k] < '0' || name[k] > '9' || pid > 100000000) return 0;
    pid = pid * 10 + (name[k] - '0');
  }
  return pid;
}

std::atomic<unsigned> g_staging_counter{0};
std::mutex g_commit_mutex;  // one commit at a time per process: the signal dispositions are global

}  // namespace

StagingFolder::StagingFolder(const fs::path& dir)
    : path_(dir / (kStagingPrefix + std::to_string(::getpid()) + "-" +
                   std::to_string(g_staging_counter++))) {
  if (::mkdir(path_.c_str(), 0700) != 0) {
    const int code = errno;
    throw Error(Status::io_error, dir.string() + ": cannot create a file there: " + reason(code));
  }
}

StagingFolder::~StagingFolder() {
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

void OutputFiles::add(const std::string& name, std::string bytes) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos) {
    throw Error(Status::invalid_argument,
                "OutputFiles: '" + name + "' is not a plain file name (no '/', not . or ..)");
  }
  for (auto& [existing, content] : files_) {
    if (existing == name) {
      content = std::move(bytes);
      return;
    }
  }
  files_.emplace_back(name, std::move(bytes));
}

void OutputFiles::add_npy(const std::string& name, const NpyArray& array) {
  add(name, npy_file_bytes(array, (dir_ / name).string()));
}

std::string OutputFiles::names() const {
  std::string list;
  for (const auto& file : files_) list += (list.empty() ? "" : ", ") + file.first;
  return list;
}

fs::path folder_of(const fs::path& file) {
  return file.has_parent_path() ? file.parent_path() : fs::path(".");
}

void replace_file(const fs::path& file, std::string bytes) {
  OutputFiles output(folder_of(file));
  output.add(file.filename().string(), std::move(bytes));
  output.commit();
}

void check_writable(const fs::path& dir) {
  const StagingFolder probe(dir);
}

// write_npy (io/npy.h) lives here, so that the NPY reader needs none of this file.
void write_npy(const std::string& path, const NpyArray& array) {
  replace_file(path, npy_file_bytes(array, path));
}

std::vector<fs::path> stale_staging_folders(const fs::path& dir) {
  std::vector<fs::path> stale;
  std::error_code error;
  for (fs::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
    const pid_t owner = staging_owner(it->path().filename().string());
    if (owner > 0 && owner != ::getpid() && ::kill(owner, 0) != 0 && errno == ESRCH) {
      stale.push_back(it->path());
    }
  }
  return stale;
}

void OutputFiles::commit() const {
  if (files_.empty()) return;
  const std::lock_guard<std::mutex> lock(g_commit_mutex);
  const SignalHold hold;

  // Left by a process that was killed while it committed; only ever our own staging names.
  for (const fs::path& stale : stale_staging_folders(dir_)) {
    std::error_code ignored;
    fs::remove_all(stale, ignored);
  }

  // Every failure before the renames says that nothing was replaced.
  auto nothing_replaced = [&](const std::string& message) {
    throw Error(Status::io_error, message + " (no file of " + names() + " was replaced)");
  };
  // Only regular files are replaced: a rename would put a file in the place of a folder, a link
  // (not its target) or a device such as /dev/full.
  for (const auto& file : files_) {
    std::error_code error;
    const fs::file_status status = fs::symlink_status(dir_ / file.first, error);
    if (status.type() != fs::file_type::not_found && status.type() != fs::file_type::regular) {
      nothing_replaced(dir_.string() + ": cannot replace " + file.first +
                       ": not a regular file (a folder, link or device)");
    }
  }

  std::optional<StagingFolder> staging_place;
  try {
    staging_place.emplace(dir_);
  } catch (const Error& e) {
    nothing_replaced(e.what());
  }
  const StagingFolder& staging = *staging_place;
  for (const auto& [name, bytes] : files_) {
    const int code = write_whole_file(staging.path() / name, bytes);
    if (code != 0) nothing_replaced(dir_.string() + ": cannot write " + name + ": " + reason(code));
  }

  std::string replaced;
  for (const auto& file : files_) {
    if (::rename((staging.path() / file.first).c_str(), (dir_ / file.first).c_str()) != 0) {
      const int code = errno;
      throw Error(Status::io_error,
                  dir_.string() + ": cannot replace " + file.first + ": " + reason(code) +
                      (replaced.empty() ? " (no file was replaced)"
                                        : " (already replaced: " + replaced + ")"));
    }
    replaced += (replaced.empty() ? "" : ", ") + file.first;
  }
  // The renames reach the disk with the folder's own entry.
  const int dir_fd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

}  // namespace rnnx::io
