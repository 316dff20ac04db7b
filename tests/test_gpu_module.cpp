// The GPU module (docs/GPU_LIBRARIES.md): librnnx maps the CUDA libraries only when a GPU is
// needed; it finds librnnx_gpu.so where the document says; and a missing module, one built for
// another rnnx, one without the entry point, or one whose libraries are missing, is refused with
// an Error that names the file and the loader's message. The stand-in modules
// (support/fake_gpu_module.cpp) run without a GPU: through them the engines, the exceptions they
// throw and the shared capture gate are checked here too.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "support/test_support.h"

namespace rnnx {
namespace {

namespace fs = std::filesystem;

using test::slurp;

// The lines of /proc/self/maps that name `library` (e.g. "libcublas.so").
std::vector<std::string> mapped(const std::string& library) {
  std::vector<std::string> lines;
  std::istringstream maps(slurp("/proc/self/maps"));
  for (std::string line; std::getline(maps, line);) {
    if (line.find("/" + library) != std::string::npos) lines.push_back(line);
  }
  return lines;
}

const char* const kGpuLibraries[] = {"librnnx_gpu.so", "libcublas.so", "libcublasLt.so",
                                     "libcudnn.so", "libcudart.so"};

#define RNNX_EXPECT_HAS(text, part) \
  EXPECT_NE((text).find(part), std::string::npos) << "no '" << (part) << "' in:\n" << (text)
#define RNNX_EXPECT_LACKS(text, part) \
  EXPECT_EQ((text).find(part), std::string::npos) << "'" << (part) << "' in:\n" << (text)

// Everything in one test, in one process: the first checks need a process that has not loaded
// the module yet (the other tests here run programs, so they do not load it in this one).
TEST(GpuModule, LoadedAtTheFirstGpuNeedOnly) {
  if (std::getenv("RNNX_GPU_MODULE") != nullptr) {
    GTEST_SKIP() << "RNNX_GPU_MODULE is set; this test checks the default search";
  }
  for (const char* library : kGpuLibraries) EXPECT_EQ(mapped(library), std::vector<std::string>());

  // CPU work, and questions about CPU engines, leave the GPU libraries alone.
  const test::MatrixCase c = test::gradient_matrix()[7];
  const test::Problem p = test::random_problem(c.model, c.steps, c.batch, c.lengths, 11);
  const test::Result ref = test::run(p, Engine::cpu_reference, true);
  const test::Result cpu = test::run(p, Engine::cpu, true);
  EXPECT_LT(test::compare_results(cpu, ref, true).worst(), 1e-12);
  EXPECT_TRUE(engine_available(Engine::cpu));
  EXPECT_EQ(to_string(parse_engine("gpu_static")), std::string("gpu_static"));
  for (const char* library : kGpuLibraries) {
    EXPECT_EQ(mapped(library), std::vector<std::string>()) << "after CPU work";
  }

  const BuildInfo info = build_info();
  if (!RNNX_WITH_CUDA) {
    EXPECT_EQ(info.gpu_module, "");
    EXPECT_EQ(info.gpu_module_problem, "");
    EXPECT_TRUE(info.gpu_libraries.empty());
    for (const char* library : kGpuLibraries)
      EXPECT_EQ(mapped(library), std::vector<std::string>());
    return;
  }
#ifdef RNNX_GPU_MODULE_PATH
  // build_info() loads the module, found by this program's run path in the build tree.
  ASSERT_EQ(info.gpu_module_problem, "");
  EXPECT_EQ(info.gpu_module, fs::canonical(RNNX_GPU_MODULE_PATH).string());
  EXPECT_EQ(mapped("librnnx_gpu.so").empty(), false);
  EXPECT_EQ(mapped("libcublas.so").empty(), false);
  EXPECT_EQ(mapped("libcublasLt.so").empty(), false);
  EXPECT_EQ(mapped("libcudnn.so").empty(), false);
  ASSERT_FALSE(info.gpu_libraries.empty());
  EXPECT_EQ(info.gpu_libraries.front().name, "librnnx_gpu");
  EXPECT_EQ(info.gpu_libraries.front().path, info.gpu_module);
  std::vector<std::string> names;
  for (const GpuLibrary& l : info.gpu_libraries) {
    names.push_back(l.name);
    EXPECT_TRUE(fs::exists(l.path)) << l.path;
    EXPECT_EQ(fs::canonical(l.path).string(), l.path);
  }
  for (const char* name : {"libcublas", "libcublasLt", "libcudnn"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
  }
  EXPECT_GE(info.cudnn_version, 90000);
  EXPECT_GE(info.cublas_version, 120000);
  EXPECT_GE(info.cuda_runtime_version, 12000);
  const GpuReport report = gpus();
  EXPECT_TRUE(!report.devices.empty() || !report.why_none.empty());
#endif
}

// --- programs run with a chosen module ----------------------------------------------------------

class GpuModuleFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!RNNX_WITH_CUDA) GTEST_SKIP() << "built with RNNX_CUDA=OFF: there is no GPU module";
#ifndef RNNX_CLI_PATH
    GTEST_SKIP() << "the CLI is not built";
#endif
    fs::remove_all(scratch);
    fs::create_directories(dir);
  }
  void TearDown() override {
    fs::remove_all(scratch);
  }

  // `rnnx ARGS` with RNNX_GPU_MODULE=module (unset when empty).
  test::ProgramOutcome cli(const std::string& module, const std::string& arguments) {
#ifdef RNNX_CLI_PATH
    const std::string env =
        module.empty() ? "env -u RNNX_GPU_MODULE " : "env RNNX_GPU_MODULE=" + module + " ";
    return test::run_program(env + RNNX_CLI_PATH + " " + arguments, scratch);
#else
    (void)module, (void)arguments;
    return {};
#endif
  }

  // A small LSTM's model and inputs in dir, written by `rnnx init` (no GPU needed).
  void init_model() {
    const test::ProgramOutcome o = cli("", "init --seed-model lstm --dir " + dir.string() +
                                               " --steps 3 --batch 2 --dtype float32");
    ASSERT_EQ(o.code, 0) << o.err;
  }

  test::ProgramOutcome run(const std::string& module, const std::string& engine) {
    return cli(module, "run --model " + (dir / "model.json").string() + " --dir " + dir.string() +
                           " --engine " + engine);
  }

  static std::string fake(const std::string& variant) {
#ifdef RNNX_FAKE_MODULE_DIR
    return std::string(RNNX_FAKE_MODULE_DIR) + "/lib" + variant + ".so";
#else
    return variant;
#endif
  }

  const fs::path scratch = fs::path(RNNX_TEST_BINARY_DIR) / "gpu_module_scratch" /
                           ::testing::UnitTest::GetInstance()->current_test_info()->name();
  const fs::path dir = scratch / "in";
};

TEST_F(GpuModuleFiles, CpuRunMapsNoGpuLibraryButInfoDoes) {
  init_model();
  // LD_DEBUG=files: the dynamic loader lists each file it maps, on stderr.
  const test::ProgramOutcome cpu = run("", "cpu");
  ASSERT_EQ(cpu.code, 0) << cpu.err;
  const test::ProgramOutcome traced = test::run_program(
      "env -u RNNX_GPU_MODULE LD_DEBUG=files " + std::string(RNNX_CLI_PATH) + " run --model " +
          (dir / "model.json").string() + " --dir " + dir.string() + " --engine cpu",
      scratch);
  ASSERT_EQ(traced.code, 0) << traced.err;
  RNNX_EXPECT_HAS(traced.err, "libdnnl.so");  // the trace works
  for (const char* library : kGpuLibraries) RNNX_EXPECT_LACKS(traced.err, library);

  const test::ProgramOutcome info = test::run_program(
      "env -u RNNX_GPU_MODULE LD_DEBUG=files " + std::string(RNNX_CLI_PATH) + " info", scratch);
  ASSERT_EQ(info.code, 0) << info.err;
  RNNX_EXPECT_HAS(info.err, "librnnx_gpu.so");
  RNNX_EXPECT_HAS(info.err, "libcublas.so");
  RNNX_EXPECT_HAS(info.err, "libcudnn.so");
  RNNX_EXPECT_HAS(info.out, "GPU module: /");
  RNNX_EXPECT_HAS(info.out, "  libcublas ");
  RNNX_EXPECT_HAS(info.out, "  libcudnn ");
}

TEST_F(GpuModuleFiles, MissingModuleMakesGpuEnginesNotBuilt) {
  init_model();
  const std::string missing = (scratch / "librnnx_gpu_renamed.so").string();
  const test::ProgramOutcome o = run(missing, "gpu_dynamic");
  EXPECT_EQ(o.code, 3) << o.err;  // not_built
  RNNX_EXPECT_HAS(o.err,
                  "engine gpu_dynamic cannot run: rnnx's GPU module could not be loaded: "
                  "RNNX_GPU_MODULE=" +
                      missing + ": " + missing +
                      ": cannot open shared object file: No such file or directory; use "
                      "cpu");
  EXPECT_FALSE(fs::exists(dir / "y.npy"));

  const test::ProgramOutcome info = cli(missing, "info");
  ASSERT_EQ(info.code, 0) << info.err;
  RNNX_EXPECT_HAS(info.out, "GPU module: not loaded: RNNX_GPU_MODULE=" + missing + ": " + missing +
                                ": cannot open shared object file");
  RNNX_EXPECT_HAS(info.out, "gpu_dynamic     engine gpu_dynamic cannot run: rnnx's GPU module");
  RNNX_EXPECT_HAS(info.out, "cpu             available");
  RNNX_EXPECT_HAS(info.out, "auto            picks cpu ");
  RNNX_EXPECT_HAS(info.out, "GPUs: none (rnnx's GPU module could not be loaded: ");
}

TEST_F(GpuModuleFiles, RenamedModuleLoadsFromTheVariable) {
#ifdef RNNX_GPU_MODULE_PATH
  const fs::path renamed = scratch / "renamed_gpu_module.so";
  fs::copy_file(RNNX_GPU_MODULE_PATH, renamed);
  const test::ProgramOutcome info = cli(renamed.string(), "info");
  ASSERT_EQ(info.code, 0) << info.err;
  RNNX_EXPECT_HAS(info.out, "GPU module: " + fs::canonical(renamed).string());
  RNNX_EXPECT_HAS(info.out, "  libcublas ");
#endif
}

TEST_F(GpuModuleFiles, FakeModuleRunsEnginesUnderLibrnnxsGate) {
  init_model();
  const std::string module = fake("fake_gpu_module");
  const test::ProgramOutcome info = cli(module, "info");
  ASSERT_EQ(info.code, 0) << info.err;
  RNNX_EXPECT_HAS(info.out, "CUDA runtime 99.0.0, cuBLAS 97.0.0, cuDNN 9.60.0");
  RNNX_EXPECT_HAS(info.out,
                  "GPU module: " + fs::canonical(module).string() + " (CUDA driver 98.0)");
  RNNX_EXPECT_HAS(info.out,
                  "0: rnnx fake GPU, compute capability 9.0, 80.0 GiB, 132 multiprocessors");
  RNNX_EXPECT_HAS(info.out, "gpu_dynamic     available");

  // An Error thrown by the module's engine reaches the CLI as an rnnx::Error (exit 3 for
  // unsupported; any other exception would exit 1), outside the gate.
  test::ProgramOutcome o = run(module, "gpu_dynamic");
  EXPECT_EQ(o.code, 3) << o.err;
  RNNX_EXPECT_HAS(o.err, "fake GPU module: gpu_dynamic forward ran (sync depth 0, gate free)");
  // Made inside Rnn's constructor, which holds librnnx's gate: the module sees it held, by this
  // thread, once: one gate for the process.
  o = run(module, "cudnn");
  EXPECT_EQ(o.code, 3) << o.err;
  RNNX_EXPECT_HAS(o.err,
                  "fake GPU module: cudnn refused inside librnnx's gate (sync depth 1, "
                  "gate held)");
  // Another exception comes back as a std::exception: exit 1.
  o = run(module, "gpu_persistent");
  EXPECT_EQ(o.code, 1) << o.err;
  RNNX_EXPECT_HAS(o.err, "fake GPU module: gpu_persistent raised a std::runtime_error");
}

TEST_F(GpuModuleFiles, ModuleOfAnotherVersionIsRefused) {
  init_model();
  const std::string module = fake("fake_gpu_module_old");
  const test::ProgramOutcome o = run(module, "gpu_static");
  EXPECT_EQ(o.code, 3) << o.err;
  RNNX_EXPECT_HAS(o.err, fs::canonical(module).string() +
                             " is refused: it was built for rnnx 0.0.1-old (GPU module ABI 2) but "
                             "this librnnx is rnnx " RNNX_VERSION_STRING);
}

TEST_F(GpuModuleFiles, FileWithoutTheEntryPointIsRefused) {
  init_model();
  const std::string module = fake("fake_gpu_module_no_entry");
  const test::ProgramOutcome o = run(module, "gpu_static");
  EXPECT_EQ(o.code, 3) << o.err;
  RNNX_EXPECT_HAS(o.err, module + " is not an rnnx GPU module of ABI 2: ");
  RNNX_EXPECT_HAS(o.err, "undefined symbol: rnnx_gpu_module_open_v2");
}

TEST_F(GpuModuleFiles, MissingLibraryIsNamed) {
  init_model();
  const std::string module = fake("fake_gpu_module_needs_missing");
  const test::ProgramOutcome o = run(module, "gpu_dynamic");
  EXPECT_EQ(o.code, 3) << o.err;
  RNNX_EXPECT_HAS(o.err, "RNNX_GPU_MODULE=" + module +
                             ": librnnx_test_missing_dependency.so: cannot open shared object "
                             "file: No such file or directory");
}

// A program with librnnx.a inside and no run path: the module is looked for beside it, then in
// ../lib, then by the dynamic loader, then in the install folder; the message lists them all.
TEST_F(GpuModuleFiles, SearchBesideTheProgramAndItsMessage) {
#if defined(RNNX_GPU_MODULE_PROBE) && defined(RNNX_GPU_MODULE_PATH)
  const fs::path bin = scratch / "bin";
  fs::create_directories(bin);
  fs::copy_file(RNNX_GPU_MODULE_PROBE, bin / "probe");
  fs::permissions(bin / "probe", fs::perms::owner_exec, fs::perm_options::add);
  const std::string probe = "env -u RNNX_GPU_MODULE -u LD_LIBRARY_PATH " + (bin / "probe").string();
  const std::string home = fs::canonical(bin).string();
  test::ProgramOutcome o = test::run_program(probe, scratch);
  ASSERT_EQ(o.code, 0) << o.err;
  const std::string lib = fs::canonical(scratch).string() + "/lib/" RNNX_GPU_MODULE_FILE;
  if (o.out.find("module: \n") == std::string::npos) {
    GTEST_SKIP() << "a module is installed where the search finds it:\n" << o.out;
  }
  RNNX_EXPECT_HAS(o.out, "problem: " RNNX_GPU_MODULE_FILE " was not found: looked in " + home +
                             "/" RNNX_GPU_MODULE_FILE ", " + lib +
                             ", the dynamic loader's search path (" RNNX_GPU_MODULE_FILE
                             ": cannot open shared object file: No such file or directory), ");
  RNNX_EXPECT_HAS(o.out, "; set RNNX_GPU_MODULE to the file\n");
  RNNX_EXPECT_HAS(o.out,
                  "gpu_dynamic: engine gpu_dynamic cannot run: rnnx's GPU module could not "
                  "be loaded: " RNNX_GPU_MODULE_FILE " was not found");
  RNNX_EXPECT_HAS(o.out, "gpu_static plan: not built: engine gpu_static cannot run");

  // In ../lib from the program (an installed bin/ and lib/), then beside it, which comes first.
  fs::create_directories(scratch / "lib");
  fs::copy_file(RNNX_GPU_MODULE_PATH, lib);
  o = test::run_program(probe, scratch);
  RNNX_EXPECT_HAS(o.out, "module: " + lib + "\nproblem: \n");
  fs::copy_file(fake("fake_gpu_module"), bin / RNNX_GPU_MODULE_FILE);
  o = test::run_program(probe, scratch);
  RNNX_EXPECT_HAS(o.out, "module: " + home + "/" RNNX_GPU_MODULE_FILE "\nproblem: \n");
  RNNX_EXPECT_HAS(o.out, "gpu_dynamic: available");
  RNNX_EXPECT_HAS(o.out, "gpu_static plan: made");
#endif
}

}  // namespace
}  // namespace rnnx
