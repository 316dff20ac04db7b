// Checks shared by the cpu engine's test files (tests/test_cpu_engine.cpp, test_cpu_threads.cpp).
#pragma once

#include <gtest/gtest.h>

#include "support/test_support.h"

namespace rnnx::test {

// The cpu engine's inference and training results on `p` within `bound` of cpu_reference's
// `ref`; returns the training results.
inline Result expect_matches(const Problem& p, const Result& ref, double bound,
                             const Options& options) {
  const Result fwd = run(p, Engine::cpu, false, options);
  EXPECT_LT(max_rel_error(fwd.y, ref.y), bound) << "forward (inference) y";
  EXPECT_LT(max_rel_error(fwd.final_state, ref.final_state), bound) << "forward final";
  const Result got = run(p, Engine::cpu, true, options);
  const Errors e = compare_results(got, ref, true);
  EXPECT_LT(e.y, bound) << "y";
  EXPECT_LT(e.final_state, bound) << "final_state";
  EXPECT_LT(e.dx, bound) << "dx";
  EXPECT_LT(e.dinit, bound) << "dinit";
  EXPECT_LT(e.dweights, bound) << "dweights";
  ::testing::Test::RecordProperty("max_rel_error", scientific(e.worst()));
  return got;
}

inline Options threads_option(int threads) {
  Options o;
  o.cpu.threads = threads;
  return o;
}

}  // namespace rnnx::test
