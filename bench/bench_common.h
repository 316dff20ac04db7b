// Shared pieces of rnnx_bench: names, counters, settings, random data, the suites' registration.
// Names: <suite>/<engine>/<cell>/H:<H>/B:<B>/T:<T>/<mode>/<dtype>.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "rnnx/rnnx.h"

namespace rnnx::bench {

// fwd: inference; train_fwd: forward_train alone; bwd: backward alone (after a forward_train
// that is not timed); train: forward_train + backward.
enum class Mode { fwd, train_fwd, bwd, train };
const char* to_string(Mode mode);

// 2*G*H*(I+H)*B*T per layer and direction: the FLOPs of a forward pass (DeepBench counts only
// the recurrent half, 2*G*H*H*B*T; rnnx counts both GEMMs).
double forward_flops(const Model& model, int steps, int batch);
// fwd and train_fwd: 1x, bwd: 2x, train: 3x the forward's.
double mode_flops(Mode mode, double forward);

// FLOP/s and the time per step, from the (real or manual) time per iteration.
void set_counters(benchmark::State& state, double flops, int steps);

std::string case_name(const std::string& suite, const std::string& engine, const std::string& cell,
                      int H, int B, int T, const std::string& mode,
                      const std::string& dtype = "f32");

std::vector<float> random_floats(std::size_t n, std::uint64_t seed, float scale);

// --rnnx_quick (set before registration): one iteration, one repetition; the CI smoke run.
void set_quick(bool quick);
bool quick();

// Time unit, minimum time and repetitions as the settings say; `manual`: the case reports its
// own (CUDA event) time.
benchmark::internal::Benchmark* configure(benchmark::internal::Benchmark* b, bool manual);

void register_cpu_suites();  // seed (CPU engines) and cpu
void register_gpu_suites();  // seed (GPU engines), latency, deepbench, unroll, floor

}  // namespace rnnx::bench
