// GPU tests (suite names start with "Gpu": scripts/gpu-check.sh runs them under
// compute-sanitizer). They skip without a usable GPU and fail instead under RNNX_REQUIRE_GPU=1.
#include <gtest/gtest.h>

#include "support/test_support.h"

namespace rnnx {
namespace {

TEST(GpuDevice, ProbeKernelRanOnEveryListedDevice) {
  if (!build_info().cuda) {
    if (test::gpu_required()) FAIL() << "RNNX_REQUIRE_GPU=1 but rnnx was built with RNNX_CUDA=OFF";
    GTEST_SKIP() << "built with RNNX_CUDA=OFF";
  }
  RNNX_GPU_TEST_OR_SKIP();
  const GpuReport report = gpus();
  for (const DeviceInfo& d : report.devices) {
    // rnnx is built for sm_80 and newer; a listed device has run the probe kernel.
    EXPECT_GE(d.major, 8) << d.name;
    EXPECT_GT(d.memory_bytes, std::size_t(1) << 30) << d.name;
    EXPECT_GT(d.multiprocessors, 0) << d.name;
    EXPECT_FALSE(d.name.empty());
  }
  for (const std::string& problem : report.problems) ADD_FAILURE() << problem;
}

}  // namespace
}  // namespace rnnx
