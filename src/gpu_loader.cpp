#include "gpu_loader.h"

#include <dlfcn.h>
#include <limits.h>
#include <link.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "build_config.h"
#include "gpu/capture_gate.h"
#include "rnnx/error.h"
#include "rnnx/version.h"

// A program that links the GPU code into itself (rnnx_gpu_objects: the GPU tests, the
// benchmarks) defines the entry point; everywhere else this weak reference stays null and the
// module is loaded from a file.
extern "C" const rnnx_gpu_module* rnnx_gpu_module_open_v2(const rnnx_gpu_host* host)
    __attribute__((weak));

namespace rnnx::gpu_loader {

namespace {

const char kModuleFile[] = RNNX_GPU_MODULE_FILE;  // "librnnx_gpu.so"

std::shared_mutex* host_capture_gate() {
  return &gpu::detail::capture_gate();
}

gpu::detail::GateHold* host_this_thread_hold() {
  return &gpu::detail::this_thread_hold();
}

const rnnx_gpu_host& host_table() {
  static const rnnx_gpu_host host = {RNNX_GPU_MODULE_ABI, RNNX_VERSION_STRING,
                                     gpu::current_gpu_layout(), &host_capture_gate,
                                     &host_this_thread_hold};
  return host;
}

std::string real_path(const std::string& path) {
  char resolved[PATH_MAX];
  return realpath(path.c_str(), resolved) != nullptr ? std::string(resolved) : path;
}

std::string parent(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

bool file_exists(const std::string& path) {
  return access(path.c_str(), F_OK) == 0;
}

std::string dl_error() {
  const char* e = dlerror();
  return e != nullptr ? e : "no message from the dynamic loader";
}

// The file that holds this code: librnnx.so, or the program when librnnx.a is linked into it.
const char kAnchor = 0;
std::string this_object_file() {
  Dl_info info{};
  link_map* map = nullptr;
  if (dladdr1(&kAnchor, &info, reinterpret_cast<void**>(&map), RTLD_DL_LINKMAP) != 0 &&
      map != nullptr && map->l_name != nullptr && map->l_name[0] != '\0') {
    return real_path(map->l_name);
  }
  return real_path("/proc/self/exe");  // the main program's link map has no name
}

// Checks the table the module returned against this librnnx; "" when it matches.
std::string mismatch(const rnnx_gpu_module* table) {
  if (table == nullptr) return "its entry point returned no table";
  if (table->abi != RNNX_GPU_MODULE_ABI || table->rnnx_version == nullptr ||
      std::strcmp(table->rnnx_version, RNNX_VERSION_STRING) != 0) {
    return std::string("it was built for rnnx ") +
           (table->rnnx_version != nullptr ? table->rnnx_version : "(unknown)") +
           " (GPU module ABI " + std::to_string(table->abi) + ") but this librnnx is rnnx " +
           RNNX_VERSION_STRING + " (ABI " + std::to_string(RNNX_GPU_MODULE_ABI) +
           "): install the " + kModuleFile + " built with this librnnx";
  }
  if (!gpu::same_gpu_layout(table->layout, gpu::current_gpu_layout())) {
    return std::string("it was built for rnnx ") + RNNX_VERSION_STRING +
           " but with other sizes of rnnx's types (another compiler or other sources): install "
           "the " +
           kModuleFile + " built with this librnnx";
  }
  return "";
}

Loaded opened(const rnnx_gpu_module_open_fn open, const std::string& where) {
  Loaded loaded;
  const rnnx_gpu_module* table = open(&host_table());
  const std::string wrong = mismatch(table);
  if (!wrong.empty()) {
    loaded.problem = where + " is refused: " + wrong;
    return loaded;
  }
  loaded.table = table;
  loaded.path = where;
  return loaded;
}

// Loads the module at `path` (a file name alone: the dynamic loader's search). The handle is
// never closed: engines made by the module live as long as the caller keeps them.
Loaded open_file(const std::string& path) {
  Loaded loaded;
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    loaded.problem = dl_error();
    return loaded;
  }
  (void)dlerror();  // clears any earlier message, so that dlsym's is the one read below
  void* entry = dlsym(handle, RNNX_GPU_MODULE_ENTRY);
  std::string file = path;
  if (Dl_info info{}; entry != nullptr && dladdr(entry, &info) != 0 && info.dli_fname != nullptr) {
    file = real_path(info.dli_fname);
  }
  if (entry == nullptr) {
    loaded.problem = path + " is not an rnnx GPU module of ABI " +
                     std::to_string(RNNX_GPU_MODULE_ABI) + ": " + dl_error();
    dlclose(handle);
    return loaded;
  }
  rnnx_gpu_module_open_fn open = nullptr;
  static_assert(sizeof(open) == sizeof(entry));
  std::memcpy(&open, &entry, sizeof(open));  // dlsym's object pointer to the function's
  return opened(open, file);
}

Loaded load() {
  if (!RNNX_WITH_CUDA) {
    return {nullptr, "", "this rnnx was built without CUDA (RNNX_CUDA=OFF)"};
  }
  if (rnnx_gpu_module_open_v2 != nullptr) {
    return opened(&rnnx_gpu_module_open_v2, "linked into " + real_path("/proc/self/exe"));
  }
  // An explicit file wins, and nothing else is tried.
  if (const char* env = std::getenv("RNNX_GPU_MODULE"); env != nullptr && env[0] != '\0') {
    Loaded loaded = open_file(env);
    if (loaded.table == nullptr) {
      loaded.problem = std::string("RNNX_GPU_MODULE=") + env + ": " + loaded.problem;
    }
    return loaded;
  }
  // Next to librnnx (the program when librnnx.a is linked in), and in ../lib from there (an
  // installed program in <prefix>/bin); a file found there is the answer, loadable or not.
  const std::string home = parent(this_object_file());
  const std::string beside = home + "/" + kModuleFile;
  const std::string in_lib = parent(home) + "/" RNNX_INSTALL_LIBDIR "/" + kModuleFile;
  for (const std::string& path : {beside, in_lib}) {
    if (file_exists(path)) return open_file(path);
  }
  // The dynamic loader's search: LD_LIBRARY_PATH, the program's RUNPATH (the build tree's
  // programs; a find_package(rnnx) consumer's), ld.so.cache, the system folders.
  Loaded searched = open_file(kModuleFile);
  const std::string not_found = std::string(kModuleFile) + ": cannot open shared object file";
  if (searched.table != nullptr || searched.problem.rfind(not_found, 0) != 0) return searched;
  // Last, the folder this librnnx was configured to be installed into.
  const std::string installed = RNNX_INSTALL_FULL_LIBDIR "/" + std::string(kModuleFile);
  if (file_exists(installed)) return open_file(installed);
  Loaded missing;
  missing.problem = std::string(kModuleFile) + " was not found: looked in " + beside + ", " +
                    in_lib + ", the dynamic loader's search path (" + searched.problem + "), " +
                    installed + "; set RNNX_GPU_MODULE to the file";
  return missing;
}

struct Failure {
  bool set = false;
  int status = 0;
  std::string message;
};

void record_failure(void* context, int status, const char* message) {
  Failure& f = *static_cast<Failure*>(context);
  if (f.set) return;  // the first report is the one
  f.set = true;
  f.status = status;
  f.message = message != nullptr ? message : "";
}

[[noreturn]] void rethrow(const Failure& f) {
  if (f.status == RNNX_GPU_MODULE_BAD_ALLOC) throw std::bad_alloc();
  if (f.status == RNNX_GPU_MODULE_STD_EXCEPTION) throw std::runtime_error(f.message);
  switch (static_cast<Status>(f.status)) {
    case Status::invalid_argument:
    case Status::unsupported:
    case Status::not_implemented:
    case Status::not_built:
    case Status::no_device:
    case Status::backend_error:
    case Status::io_error:
      throw Error(static_cast<Status>(f.status), f.message);
  }
  throw Error(Status::backend_error,
              "the GPU module reported status " + std::to_string(f.status) + ": " + f.message);
}

int phdr_visit(dl_phdr_info* info, std::size_t, void* data) {
  if (info->dlpi_name == nullptr || info->dlpi_name[0] == '\0') return 0;
  const std::string path = info->dlpi_name;
  const std::string base = path.substr(path.rfind('/') + 1);
  const std::string name = base.substr(0, base.find('.'));
  static const char* const kPrefixes[] = {"librnnx_gpu", "libcudart", "libcublas", "libcudnn"};
  for (const char* prefix : kPrefixes) {
    if (name.rfind(prefix, 0) == 0) {
      static_cast<std::vector<GpuLibrary>*>(data)->push_back({name, real_path(path)});
      break;
    }
  }
  return 0;
}

}  // namespace

const Loaded& module() {
  static const Loaded loaded = [] {
    try {
      return load();
    } catch (const std::exception& e) {  // an allocation
      Loaded failed;
      failed.problem = std::string("loading the GPU module failed: ") + e.what();
      return failed;
    }
  }();
  return loaded;
}

std::unique_ptr<EngineImpl> make_engine(const Model& model, Engine engine, const Options& options) {
  const Loaded& m = module();
  if (m.table == nullptr) {
    throw Error(Status::not_built, std::string("engine ") + to_string(engine) +
                                       " cannot run: rnnx's GPU module could not be loaded: " +
                                       m.problem + "; use cpu");
  }
  Failure failure;
  EngineImpl* impl = m.table->make_engine(&model, engine, &options, &record_failure, &failure);
  if (impl != nullptr) return std::unique_ptr<EngineImpl>(impl);
  if (!failure.set) {
    failure.status = static_cast<int>(Status::backend_error);
    failure.message = std::string("engine ") + to_string(engine) +
                      ": the GPU module returned no engine and no error";
  }
  rethrow(failure);
}

std::vector<GpuLibrary> mapped_gpu_libraries() {
  std::vector<GpuLibrary> found;
  dl_iterate_phdr(&phdr_visit, &found);
  // The loaded module first, then in the order they were mapped.
  const std::string& first = module().path;
  std::vector<GpuLibrary> sorted;
  for (const GpuLibrary& l : found) {
    if (l.path == first) sorted.push_back(l);
  }
  for (const GpuLibrary& l : found) {
    if (l.path != first) sorted.push_back(l);
  }
  return sorted;
}

}  // namespace rnnx::gpu_loader
