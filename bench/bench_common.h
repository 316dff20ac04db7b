// Shared pieces of rnnx_bench: names, counters, settings, random data, the suites' registration.
// Names: <suite>/<engine>/<cell>/H:<H>/B:<B>/T:<T>/<mode>/<dtype>; each name is registered once
// (add_case refuses a repeat, so `rnnx_bench --benchmark_list_tests` fails on one).
//
// Settings, from the environment (read once, before registration; printed in the output's
// context, console and JSON alike):
//   RNNX_BENCH_MIN_TIME     seconds each repetition of a case runs at least, 0.001 to 60.
//                           Unset: 0.2 for GPU cases, 0.5 for CPU cases.
//   RNNX_BENCH_REPETITIONS  repetitions of each case, an integer 1 to 100; above 1 the median,
//                           mean, spread and cv are reported instead of the runs. Unset: 5 for
//                           GPU cases, 1 for CPU cases.
//   RNNX_BENCH_L2           cold or warm, GPU cases (default cold). cold: before every timed
//                           call, untimed, twice the device's L2 size is written, so the call
//                           finds none of its operands in L2 (inputs, weights, state, reserve,
//                           the engine's own workspace and cuDNN's packed weights alike). warm:
//                           the same inputs and weights call after call, as a loop serving one
//                           model; whatever fits stays in L2. Each GPU case's label says which.
// A value out of range, not a number, or empty is an error naming the variable; so is
// combining --rnnx_quick with RNNX_BENCH_MIN_TIME or RNNX_BENCH_REPETITIONS. Google Benchmark's
// --benchmark_min_time and --benchmark_repetitions are refused: the per-case settings above
// override them (benchmark.h), so they would be ignored without a word.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "rnnx/rnnx.h"
#include "seed_models.h"

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

// Reads the RNNX_BENCH_* settings above; `quick` is --rnnx_quick (one iteration, one
// repetition: the CI smoke run). Throws std::invalid_argument with the message to print.
void load_settings(bool quick);
bool quick();
bool cold_l2();  // RNNX_BENCH_L2

// Registers a case, timed as the settings say (`manual`: it reports its own CUDA event time).
// Throws std::logic_error if the name is already registered: a repeat would run twice and the
// ratios would keep one of the two.
benchmark::internal::Benchmark* add_case(const std::string& name,
                                         std::function<void(benchmark::State&)> run, bool manual);

void register_cpu_suites();  // seed (CPU engines) and cpu
void register_gpu_suites();  // seed (GPU engines), latency, deepbench, unroll, floor

}  // namespace rnnx::bench
