// A fault injector for the output tests, loaded with LD_PRELOAD into a program under test (the
// rnnx CLI, seed_classifier, rnnx_bench). It only touches files inside rnnx's staging folders
// (".rnnx-staging-" in the path; io/output_files.h), so a program's inputs read normally.
//   RNNX_FAULT_FAIL_FILE=N       the N-th staged file opened for writing (from 1) is /dev/full
//                                instead, so its writes fail with ENOSPC, like a full disk
//   RNNX_FAULT_KILL_AT_RENAME=N  SIGKILL the process just before its N-th rename out of a
//                                staging folder (from 1): an end no program can catch
//   RNNX_FAULT_TERM_AT_RENAME=N  send SIGTERM, which a program may catch, at the same place
//   RNNX_FAULT_DENY_CREATE=1     creating a staging folder fails with EACCES: an unwritable folder
//                                even for root, whom file modes do not stop
#undef _FORTIFY_SOURCE  // its inline open() wrapper would clash with the one defined here
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdlib>
#include <cstring>

namespace {

bool staged(const char* path) {
  return path != nullptr && std::strstr(path, "/.rnnx-staging-") != nullptr;
}

long setting(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? 0 : std::strtol(value, nullptr, 10);
}

template <typename F>
F next(const char* symbol) {
  return reinterpret_cast<F>(dlsym(RTLD_NEXT, symbol));
}

std::atomic<long> g_files_opened{0};
std::atomic<long> g_renames{0};

// The path to open instead, for a staged file opened for writing.
const char* redirect(const char* path, int flags) {
  if (!staged(path) || (flags & O_CREAT) == 0) return path;
  const long fail_at = setting("RNNX_FAULT_FAIL_FILE");
  return fail_at > 0 && ++g_files_opened == fail_at ? "/dev/full" : path;
}

int open_with(const char* symbol, const char* path, int flags, mode_t mode) {
  using Open = int (*)(const char*, int, ...);
  const char* target = redirect(path, flags);
  if (target != path) flags = O_WRONLY | O_CLOEXEC;
  return next<Open>(symbol)(target, flags, mode);
}

mode_t mode_argument(int flags, va_list args) {
  return (flags & (O_CREAT | O_TMPFILE)) != 0 ? static_cast<mode_t>(va_arg(args, int)) : 0;
}

}  // namespace

extern "C" {

int open(const char* path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  const mode_t mode = mode_argument(flags, args);
  va_end(args);
  return open_with("open", path, flags, mode);
}

int open64(const char* path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  const mode_t mode = mode_argument(flags, args);
  va_end(args);
  return open_with("open64", path, flags, mode);
}

int mkdir(const char* path, mode_t mode) {
  if (staged(path) && setting("RNNX_FAULT_DENY_CREATE") != 0) {
    errno = EACCES;
    return -1;
  }
  using Mkdir = int (*)(const char*, mode_t);
  return next<Mkdir>("mkdir")(path, mode);
}

int rename(const char* from, const char* to) {
  if (staged(from)) {
    const long count = ++g_renames;
    if (count == setting("RNNX_FAULT_KILL_AT_RENAME")) ::kill(::getpid(), SIGKILL);
    if (count == setting("RNNX_FAULT_TERM_AT_RENAME")) ::kill(::getpid(), SIGTERM);
  }
  using Rename = int (*)(const char*, const char*);
  return next<Rename>("rename")(from, to);
}

}  // extern "C"
