// The cpu engine's threaded paths against cpu_reference, run under ThreadSanitizer by
// scripts/tsan.sh (ctest -R '^CpuEngineThreads\.' selects exactly these): both ways the GEMM path
// shares work, two plans used at once from two threads, the small-batch path and the tiled path on
// every thread count. In the test_cpu_engine binary with tests/test_cpu_engine.cpp.
#include <gtest/gtest.h>

#include <atomic>
#include <exception>
#include <thread>

#include "cpu/packed_gemm.h"
#include "cpu/tiled_recurrence.h"
#include "cpu_engine_checks.h"

namespace rnnx {
namespace {

using test::expect_matches;
using test::threads_option;

// Two layers (the first bidirectional, hidden 32; the second hidden 20, not a multiple of 8),
// input 16, T = 8, B = 48, every length from 0 to 8. B = 48 puts the work on both of the
// engine's threaded paths (src/cpu/backend.h, over_sequence_blocks): with 2 threads each takes a
// block of 24 sequences (48 >= 16 * 2), with 4 threads the passes run on all 48 rows in parallel
// and the GEMMs get 4 threads (48 < 16 * 4). In float32 the second layer's input projection and
// weight gradients (384 rows x G * 20 x 64, at least 4.9e5 multiply-adds) and the first layer's
// for LSTM and GRU are above 64^3, so oneDNN's sgemm and its OpenMP threads run too
// (cpu/blas.cpp); the smaller products go to OpenBLAS.
constexpr int kThreadsSteps = 8, kThreadsBatch = 48;

Model threads_model(CellKind kind, DType dtype) {
  Model m;
  m.input_size = 16;
  m.dtype = dtype;
  Layer layer = test::layer_of(kind, 32, 0.5);
  layer.bidirectional = true;
  m.layers.push_back(layer);
  layer.hidden = 20;
  layer.bidirectional = false;
  m.layers.push_back(layer);
  return m;
}

test::Problem threads_problem(CellKind kind, DType dtype, int batch, std::uint64_t seed) {
  std::vector<std::int32_t> lengths(batch);
  for (int b = 0; b < batch; ++b) lengths[b] = (b * 5) % (kThreadsSteps + 1);
  return test::random_problem(threads_model(kind, dtype), kThreadsSteps, batch, lengths, seed);
}

// Inference and training (forward_train + backward) with 1, 2 and 4 threads against
// cpu_reference, and a second plan's training results bitwise equal to the first's.
void expect_threads_match_reference(CellKind kind) {
  for (DType dtype : {DType::f64, DType::f32}) {
    const test::Problem p = threads_problem(kind, dtype, kThreadsBatch, 70);
    const test::Result ref = test::run(p, Engine::cpu_reference, true);
    const double bound = dtype == DType::f64 ? 1e-12 : 1e-5;
    for (int threads : {1, 2, 4}) {
      SCOPED_TRACE(std::string(to_string(kind)) + ", " + to_string(dtype) + ", " +
                   std::to_string(threads) + " threads");
      const Options o = threads_option(threads);
      const test::Result got = expect_matches(p, ref, bound, o);
      const test::Result again = test::run(p, Engine::cpu, true, o);
      EXPECT_EQ(again.y, got.y) << "not repeatable";
      EXPECT_EQ(again.final_state, got.final_state) << "not repeatable";
      EXPECT_EQ(again.dx, got.dx) << "not repeatable";
      EXPECT_EQ(again.dinit, got.dinit) << "not repeatable";
      EXPECT_EQ(again.dweights, got.dweights) << "not repeatable";
    }
  }
}

TEST(CpuEngineThreads, LstmMatchesReference) {
  expect_threads_match_reference(CellKind::lstm);
}
TEST(CpuEngineThreads, GruResetAfterMatchesReference) {
  expect_threads_match_reference(CellKind::gru_reset_after);
}
TEST(CpuEngineThreads, GruResetBeforeMatchesReference) {
  expect_threads_match_reference(CellKind::gru_reset_before);
}
TEST(CpuEngineThreads, RnnTanhMatchesReference) {
  expect_threads_match_reference(CellKind::rnn_tanh);
}
TEST(CpuEngineThreads, RnnReluMatchesReference) {
  expect_threads_match_reference(CellKind::rnn_relu);
}

// Runs `rounds` times inference, then training, on a plan made by the caller, with buffers of
// its own, and returns the first round's training results. Clears `repeatable` when a later round
// differs from the first in any bit, or inference from training's forward by more than float32's
// bound (they may take different paths: cpu/tiled_recurrence.h runs inference at any batch,
// training's forward only up to 16 sequences).
template <class T>
test::Result run_plan(Rnn& rnn, const test::Problem& p, int rounds, bool& repeatable) {
  const std::size_t state = StateLayout(p.model, p.batch).size();
  const std::vector<T> x(p.x.begin(), p.x.end()), w(p.weights.begin(), p.weights.end());
  const std::vector<T> init(p.init.begin(), p.init.end()), dy(p.dy.begin(), p.dy.end());
  const std::vector<T> dfinal(p.dfinal.begin(), p.dfinal.end());
  std::vector<T> y(std::size_t(p.steps) * p.batch * output_size(p.model)), final_state(state);
  std::vector<T> y_train(y.size()), final_train(state), dx(x.size()), dinit(state), dw(w.size());
  std::vector<unsigned char> reserve(rnn.reserve_bytes(p.steps, p.batch));
  Forward f;
  f.steps = p.steps;
  f.batch = p.batch;
  f.x = x;
  f.lengths = p.lengths.empty() ? nullptr : p.lengths.data();
  f.weights = w;
  f.init = init;
  Backward b;
  b.dy = dy;
  b.dfinal = dfinal;
  b.dx = dx;
  b.dinit = dinit;
  b.dweights = dw;
  const Reserve r{reserve.data(), reserve.size()};
  test::Result first;
  std::vector<double> first_inference_y, first_inference_final;
  for (int round = 0; round < rounds; ++round) {
    f.y = y;
    f.final_state = final_state;
    rnn.forward(f);
    f.y = y_train;
    f.final_state = final_train;
    rnn.forward_train(f, r);
    rnn.backward(f, b, r);
    test::Result got;
    got.y.assign(y_train.begin(), y_train.end());
    got.final_state.assign(final_train.begin(), final_train.end());
    got.dx.assign(dx.begin(), dx.end());
    got.dinit.assign(dinit.begin(), dinit.end());
    got.dweights.assign(dw.begin(), dw.end());
    const std::vector<double> inference_y(y.begin(), y.end());
    const std::vector<double> inference_final(final_state.begin(), final_state.end());
    if (round == 0) {
      first = got;
      first_inference_y = inference_y;
      first_inference_final = inference_final;
    } else if (got.y != first.y || got.final_state != first.final_state || got.dx != first.dx ||
               got.dinit != first.dinit || got.dweights != first.dweights ||
               inference_y != first_inference_y || inference_final != first_inference_final) {
      repeatable = false;
    }
    if (test::max_rel_error(inference_y, got.y) > 1e-5 ||
        test::max_rel_error(inference_final, got.final_state) > 1e-5) {
      repeatable = false;
    }
  }
  return first;
}

test::Result run_plan(Rnn& rnn, const test::Problem& p, int rounds, bool& repeatable) {
  return p.model.dtype == DType::f64 ? run_plan<double>(rnn, p, rounds, repeatable)
                                     : run_plan<float>(rnn, p, rounds, repeatable);
}

// Separate plans are safe to call from separate threads at once (include/rnnx/rnn.h): two plans
// of 2 threads each, one on the blocks path (LSTM, B = 48) and one on the threaded passes (GRU
// resetting before the matmul, B = 24 < 16 * 2), run inference and training three times each from
// two std::threads started together, their first calls (workspace growth, OpenMP's teams) at
// once too. Each must give, bitwise, what a plan of the same model and options gave running
// alone beforehand, and that must match cpu_reference.
TEST(CpuEngineThreads, TwoPlansFromTwoThreads) {
  for (DType dtype : {DType::f32, DType::f64}) {
    SCOPED_TRACE(to_string(dtype));
    const double bound = dtype == DType::f64 ? 1e-12 : 1e-5;
    const test::Problem problems[2] = {threads_problem(CellKind::lstm, dtype, kThreadsBatch, 71),
                                       threads_problem(CellKind::gru_reset_before, dtype, 24, 72)};
    test::Result alone[2], together[2];
    bool repeatable[2] = {true, true};
    for (int k = 0; k < 2; ++k) {
      Rnn rnn(problems[k].model, Engine::cpu, threads_option(2));
      alone[k] = run_plan(rnn, problems[k], 1, repeatable[k]);
      const test::Errors e = test::compare_results(
          alone[k], test::run(problems[k], Engine::cpu_reference, true), true);
      EXPECT_LT(e.worst(), bound) << "plan " << k << " alone against cpu_reference";
    }

    Rnn plans[2] = {Rnn(problems[0].model, Engine::cpu, threads_option(2)),
                    Rnn(problems[1].model, Engine::cpu, threads_option(2))};
    std::atomic<int> ready{0};
    std::exception_ptr failure[2];
    auto body = [&](int k) {
      // Start together, so that the two plans' calls overlap.
      ready.fetch_add(1);
      while (ready.load() < 2) std::this_thread::yield();
      try {
        together[k] = run_plan(plans[k], problems[k], 3, repeatable[k]);
      } catch (...) {
        failure[k] = std::current_exception();
      }
    };
    std::thread first(body, 0), second(body, 1);
    first.join();
    second.join();
    for (int k = 0; k < 2; ++k) {
      SCOPED_TRACE("plan " + std::to_string(k));
      if (failure[k]) {
        try {
          std::rethrow_exception(failure[k]);
        } catch (const std::exception& e) {
          ADD_FAILURE() << "threw: " << e.what();
        } catch (...) {
          ADD_FAILURE() << "threw something other than a std::exception";
        }
        continue;
      }
      EXPECT_TRUE(repeatable[k]) << "rounds or inference and training disagree";
      EXPECT_EQ(together[k].y, alone[k].y);
      EXPECT_EQ(together[k].final_state, alone[k].final_state);
      EXPECT_EQ(together[k].dx, alone[k].dx);
      EXPECT_EQ(together[k].dinit, alone[k].dinit);
      EXPECT_EQ(together[k].dweights, alone[k].dweights);
    }
  }
}

// The small-batch path (cpu/small_batch.h: LSTM inference, float32, B <= 4, H % 16 == 0), whose
// threads meet at a spin barrier every step.
// Two LSTM layers (bidirectional 64, then 48), B = 1 to 4 with mixed lengths (0 included), on 1,
// 2 and 4 threads: inference on the small-batch path within float32's bound of cpu_reference,
// bitwise the same on every thread count (a unit's sums are one thread's), and within the bound
// of the GEMM path the training forward takes.
TEST(CpuEngineThreads, SmallBatchLstmInferenceMatchesReferenceOnEveryThreadCount) {
  Model m;
  m.input_size = 24;
  m.dtype = DType::f32;
  Layer bi = test::layer_of(CellKind::lstm, 64, 1.0);
  bi.bidirectional = true;
  m.layers = {bi, test::layer_of(CellKind::lstm, 48, 0.5)};
  const std::vector<std::int32_t> lengths[] = {{9}, {9, 4}, {0, 9, 5}, {3, 9, 0, 7}};
  // H = 192 on one thread reads W_h where it is in short calls (a slice over 512 KiB); on 4
  // threads each slice is packed first (cpu/small_batch.cpp): the same sums in the same order
  // either way.
  Model wide = m;
  wide.layers = {test::layer_of(CellKind::lstm, 192, 1.0)};
  {
    const test::Problem p = test::random_problem(wide, 5, 2, {5, 3}, 79);
    const test::Result ref = test::run(p, Engine::cpu_reference, false);
    const test::Result direct = test::run(p, Engine::cpu, false, threads_option(1));
    const test::Result packed = test::run(p, Engine::cpu, false, threads_option(4));
    EXPECT_LT(test::max_rel_error(direct.y, ref.y), 1e-5);
    EXPECT_EQ(direct.y, packed.y);
    EXPECT_EQ(direct.final_state, packed.final_state);
  }
  {
    // A call of 64 steps or more packs even a slice over 512 KiB, into the copy sized for it.
    // Not compared bitwise across thread counts: at this shape oneDNN's sgemm makes x Wx^T with
    // different last bits on 1 and 4 threads (the recurrence itself would not differ).
    const test::Problem p = test::random_problem(wide, 64, 2, {64, 41}, 78);
    const test::Result ref = test::run(p, Engine::cpu_reference, false);
    for (int threads : {1, 4}) {
      SCOPED_TRACE(std::to_string(threads) + " threads, 64 steps");
      const test::Result got = test::run(p, Engine::cpu, false, threads_option(threads));
      EXPECT_LT(test::max_rel_error(got.y, ref.y), 1e-5);
      EXPECT_LT(test::max_rel_error(got.final_state, ref.final_state), 1e-5);
      EXPECT_EQ(got.y, test::run(p, Engine::cpu, false, threads_option(threads)).y)
          << "not repeatable";
    }
  }
  for (const std::vector<std::int32_t>& len : lengths) {
    const int B = static_cast<int>(len.size());
    SCOPED_TRACE("B = " + std::to_string(B));
    const test::Problem p = test::random_problem(m, 9, B, len, 80 + B);
    const test::Result ref = test::run(p, Engine::cpu_reference, true);
    test::Result first;
    for (int threads : {1, 2, 4}) {
      SCOPED_TRACE(std::to_string(threads) + " threads");
      const test::Result got = test::run(p, Engine::cpu, false, threads_option(threads));
      EXPECT_LT(test::max_rel_error(got.y, ref.y), 1e-5);
      EXPECT_LT(test::max_rel_error(got.final_state, ref.final_state), 1e-5);
      if (threads == 1) {
        first = got;
      } else {
        EXPECT_EQ(got.y, first.y) << "depends on the thread count";
        EXPECT_EQ(got.final_state, first.final_state) << "depends on the thread count";
      }
    }
    // Training's forward pass: the tiled path on AVX-512 machines, else the GEMM path.
    const test::Result train = test::run(p, Engine::cpu, true);
    EXPECT_LT(test::max_rel_error(first.y, train.y), 1e-5);
    EXPECT_NE(first.y, train.y) << "the same sums: did the small-batch path run at all?";
  }
}

// The tiled path (cpu/tiled_recurrence.h: float32 on AVX-512), whose threads either own runs of
// panels of W_h and meet at a spin barrier every step, or, with 16 or more sequences each, own
// sequences and never meet. Every cell it takes, two layers (bidirectional H = 40, which leaves a
// block of 8 units, then H = 64), on 1, 2 and 4 threads, mixed lengths (0 included):
// - B = 12 (panels on every thread count): inference and training's forward within float32's
//   bound of cpu_reference, bitwise the same on every thread count (a unit's sums are one
//   thread's, in one order); backward, which reads what the tiled forward saved, within the
//   bound too.
// - B = 40 (sequences on 2 threads, panels on 4): inference within the bound and bitwise the same
//   on every thread count, so the two ways of sharing give the same sums.
TEST(CpuEngineThreads, TiledRecurrenceMatchesReferenceOnEveryThreadCount) {
  if (!__builtin_cpu_supports("avx512f")) {
    GTEST_SKIP() << "no AVX-512F on this CPU: the tiled path does not run here";
  }
  std::vector<std::int32_t> wide(40);
  for (int b = 0; b < 40; ++b) wide[b] = (b * 7) % 10;  // 0 to 9
  const std::vector<std::int32_t> batches[] = {{9, 4, 0, 9, 5, 1, 9, 7, 3, 9, 2, 8}, wide};
  for (CellKind kind :
       {CellKind::lstm, CellKind::gru_reset_after, CellKind::rnn_tanh, CellKind::rnn_relu}) {
    for (const std::vector<std::int32_t>& len : batches) {
      const int B = static_cast<int>(len.size());
      const bool trains_tiled = B <= 16;
      SCOPED_TRACE(std::string(to_string(kind)) + ", B = " + std::to_string(B));
      Model m;
      m.input_size = 24;
      m.dtype = DType::f32;
      Layer bi = test::layer_of(kind, 40, 1.0);
      bi.bidirectional = true;
      m.layers = {bi, test::layer_of(kind, 64, 0.5)};
      for (const Layer& layer : m.layers) {
        ASSERT_TRUE(cpu::tiled_recurrence_applies(layer, B, false));
        ASSERT_EQ(cpu::tiled_recurrence_applies(layer, B, true), trains_tiled);
      }
      const test::Problem p = test::random_problem(m, 9, B, len, 90 + B + static_cast<int>(kind));
      const test::Result ref = test::run(p, Engine::cpu_reference, trains_tiled);
      test::Result first_inference, first_training;
      for (int threads : {1, 2, 4}) {
        SCOPED_TRACE(std::to_string(threads) + " threads");
        const test::Result inference = test::run(p, Engine::cpu, false, threads_option(threads));
        EXPECT_LT(test::max_rel_error(inference.y, ref.y), 1e-5);
        EXPECT_LT(test::max_rel_error(inference.final_state, ref.final_state), 1e-5);
        test::Result training;
        if (trains_tiled) {
          training = test::run(p, Engine::cpu, true, threads_option(threads));
          EXPECT_LT(test::compare_results(training, ref, true).worst(), 1e-5);
          EXPECT_EQ(inference.y, training.y) << "inference and training's forward differ";
        }
        if (threads == 1) {
          first_inference = inference;
          first_training = training;
        } else {
          EXPECT_EQ(inference.y, first_inference.y) << "depends on the thread count";
          EXPECT_EQ(inference.final_state, first_inference.final_state);
          EXPECT_EQ(training.y, first_training.y) << "depends on the thread count";
        }
      }
    }
  }
}

// Layers that make x Wx^T within each step's product (the cpu backend on AVX2-only CPUs: float32
// LSTM, RNN and GRU that resets before the matmul, whose input is at most a quarter of the hidden
// size; the GRU in two products per step, the second from r * h): both directions, mixed and
// equal lengths, batches whose steps share each product among the threads (5) and that split into
// blocks of sequences (40), on 1, 2 and 4 threads, inference and training; the second layer
// (input 32 > 16 / 4) takes the projection GEMM.
TEST(CpuEngineThreads, StepsThatProjectXMatchTheReference) {
  if (!cpu::packed_step_gemm_applies()) {
    GTEST_SKIP() << "only a CPU whose best vector set is AVX2 projects x within the steps";
  }
  EXPECT_FALSE(
      cpu::steps_project_input(test::layer_of(CellKind::gru_reset_after, 16, 0.5), 4, 40, true))
      << "a GRU that resets after the matmul keeps x's n rows apart from h's";
  for (CellKind kind :
       {CellKind::lstm, CellKind::gru_reset_before, CellKind::rnn_tanh, CellKind::rnn_relu}) {
    SCOPED_TRACE(to_string(kind));
    Model m;
    m.input_size = 4;
    m.dtype = DType::f32;
    Layer layer = test::layer_of(kind, 16, 0.5);
    layer.bidirectional = true;
    m.layers.push_back(layer);
    m.layers.push_back(layer);
    ASSERT_TRUE(cpu::steps_project_input(m.layers[0], 4, 40, true));
    ASSERT_TRUE(cpu::steps_project_input(m.layers[0], 4, 5, false));
    ASSERT_FALSE(cpu::steps_project_input(m.layers[1], 32, 40, true));
    // Equal lengths: each step's rows of x are read where they lie; mixed: gathered first.
    for (bool equal : {false, true}) {
      for (int batch : {5, 40}) {
        std::vector<std::int32_t> lengths(batch);
        for (int b = 0; b < batch; ++b) lengths[b] = equal ? 9 : (b * 5) % 10;
        const test::Problem p = test::random_problem(m, 9, batch, lengths, 90 + batch);
        const test::Result ref = test::run(p, Engine::cpu_reference, true);
        for (int threads : {1, 2, 4}) {
          SCOPED_TRACE(std::to_string(batch) + (equal ? " equal" : " mixed") + " sequences, " +
                       std::to_string(threads) + " threads");
          expect_matches(p, ref, 1e-5, threads_option(threads));
        }
      }
    }
  }
}

// Where the tiled path stays out: a GRU that resets before the matmul, and training past 16
// sequences; inference takes it at any batch.
TEST(CpuTiledRecurrence, TakesOnlyTheBatchesWhereItMeasuredFaster) {
  if (!__builtin_cpu_supports("avx512f")) {
    GTEST_SKIP() << "no AVX-512F on this CPU: the tiled path never applies here";
  }
  const Layer lstm = test::layer_of(CellKind::lstm, 128, 1.0);
  EXPECT_FALSE(cpu::tiled_recurrence_applies(test::layer_of(CellKind::gru_reset_before, 128, 1.0),
                                             8, false));
  EXPECT_TRUE(cpu::tiled_recurrence_applies(lstm, 16, true));
  EXPECT_FALSE(cpu::tiled_recurrence_applies(lstm, 17, true));
  EXPECT_TRUE(cpu::tiled_recurrence_applies(lstm, 4096, false));
  EXPECT_TRUE(cpu::tiled_recurrence_applies(lstm, 128, false));
  EXPECT_FALSE(cpu::tiled_recurrence_applies(lstm, 0, false));
}

}  // namespace
}  // namespace rnnx
