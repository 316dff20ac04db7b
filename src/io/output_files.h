// A group of result files written into one folder as a unit: what `rnnx run`, `rnnx init`,
// seed_classifier --json and the benchmarks use for every file they write (docs/INPUTS.md says
// what a user may rely on).
//
// commit() writes every file whole, flushed to disk, into a private staging folder inside the
// target folder (".rnnx-staging-<pid>-<n>"), and only then renames each over its final name:
// - A failure before the renames (an unwritable folder, a full disk, the file-size limit, any
//   write error) removes the staging folder and leaves every earlier file as it was: all old.
// - SIGINT, SIGTERM, SIGHUP and SIGQUIT arriving during commit() are held and act after it,
//   so they also see all old or all new.
// - Only an end that no program can catch (SIGKILL, a crash, power loss) during the renames,
//   which take microseconds, can leave some files new and the others old; each file is still
//   whole. Its staging folder stays behind and the next commit into that folder removes it.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "io/npy.h"

namespace rnnx::io {

class OutputFiles {
 public:
  explicit OutputFiles(std::filesystem::path dir) : dir_(std::move(dir)) {}

  // `name` is a plain file name (no folder part); adding a name twice keeps the last content.
  void add(const std::string& name, std::string bytes);
  void add_npy(const std::string& name, const NpyArray& array);

  // Throws Error(io_error) "<folder>: cannot write <name>: <reason>" and leaves the folder as it
  // was. The folder must exist; an existing file of the group must be a regular file, not a
  // folder, a symbolic link or a device.
  void commit() const;

  std::string names() const;  // "y.npy, hn.npy, ..."
  bool empty() const noexcept { return files_.empty(); }

 private:
  std::filesystem::path dir_;
  std::vector<std::pair<std::string, std::string>> files_;
};

// A new private folder inside `dir`, named as commit() names its own, removed with everything in
// it by the destructor: for a program that must hand a path to a writer it does not control (the
// benchmarks give one to Google Benchmark) and then commits the file it finds there. If the
// process is killed, the next commit into `dir` removes it. Throws Error(io_error) naming `dir`.
class StagingFolder {
 public:
  explicit StagingFolder(const std::filesystem::path& dir);
  ~StagingFolder();
  StagingFolder(const StagingFolder&) = delete;
  StagingFolder& operator=(const StagingFolder&) = delete;
  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
};

// The staging folders that processes which no longer run left in `dir`; commit() removes them.
std::vector<std::filesystem::path> stale_staging_folders(const std::filesystem::path& dir);

// The folder a file path names ("." for a bare name).
std::filesystem::path folder_of(const std::filesystem::path& file);

// One file replaced whole through OutputFiles.
void replace_file(const std::filesystem::path& file, std::string bytes);

// Throws what commit() would (Error(io_error) naming `dir`) if `dir` takes no new file: for a
// program that wants to know before it computes.
void check_writable(const std::filesystem::path& dir);

}  // namespace rnnx::io
