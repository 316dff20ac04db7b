// The engines' options (rnnx/engine_options.h): names and their round trips, values that are not
// values, each engine refusing the others' options, `auto` relaxing them, and the
// inference_only promise held. All on the CPU: the refusals come before any GPU is looked for.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "support/test_support.h"

namespace rnnx {
namespace {

// Runs `call`, which must throw Error with `status` and a message containing every one of
// `needles`.
void expect_error(const std::function<void()>& call, Status status,
                  const std::vector<std::string>& needles) {
  try {
    call();
    ADD_FAILURE() << "no error; expected one mentioning '" << needles.front() << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), status) << e.what();
    for (const std::string& needle : needles) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
          << "message: " << e.what() << "\nexpected to mention: " << needle;
    }
  }
}

// Every value of E goes to its name and back, and the names are `names` in order.
template <class E>
void expect_round_trips(const std::vector<E>& values, const std::vector<std::string>& names,
                        E (*parse)(std::string_view)) {
  ASSERT_EQ(values.size(), names.size());
  for (std::size_t k = 0; k < values.size(); ++k) {
    EXPECT_EQ(to_string(values[k]), names[k]);
    EXPECT_EQ(parse(names[k]), values[k]) << names[k];
  }
}

TEST(EngineOptions, NamesRoundTrip) {
  expect_round_trips<CudnnAlgo>(
      {CudnnAlgo::standard, CudnnAlgo::persist_static, CudnnAlgo::persist_dynamic,
       CudnnAlgo::persist_static_small_h},
      {"standard", "persist_static", "persist_dynamic", "persist_static_small_h"},
      &parse_cudnn_algo);
  expect_round_trips<PersistentBarrier>(
      {PersistentBarrier::automatic, PersistentBarrier::cooperative, PersistentBarrier::flags},
      {"auto", "cooperative", "flags"}, &parse_persistent_barrier);
  expect_round_trips<PersistentTensorCores>(
      {PersistentTensorCores::automatic, PersistentTensorCores::on, PersistentTensorCores::off},
      {"auto", "on", "off"}, &parse_persistent_tensor_cores);
  expect_round_trips<PersistentDirections>(
      {PersistentDirections::paired, PersistentDirections::apart}, {"paired", "apart"},
      &parse_persistent_directions);
  expect_round_trips<Engine>(
      {Engine::cpu_reference, Engine::cpu, Engine::gpu_dynamic, Engine::gpu_static,
       Engine::gpu_persistent, Engine::cudnn, Engine::automatic},
      {"cpu_reference", "cpu", "gpu_dynamic", "gpu_static", "gpu_persistent", "cudnn", "auto"},
      &parse_engine);
  EXPECT_STREQ(to_string(static_cast<CudnnAlgo>(9)), "unknown");
  EXPECT_STREQ(to_string(static_cast<PersistentBarrier>(9)), "unknown");
}

TEST(EngineOptions, UnknownNamesListTheKnownOnes) {
  expect_error([] { parse_cudnn_algo("persist"); }, Status::invalid_argument,
               {"cuDNN algorithm 'persist' is unknown",
                "standard, persist_static, persist_dynamic, persist_static_small_h"});
  expect_error([] { parse_persistent_barrier("automatic"); }, Status::invalid_argument,
               {"'automatic' is unknown", "auto, cooperative, flags"});
  expect_error([] { parse_persistent_tensor_cores("On"); }, Status::invalid_argument,
               {"'On' is unknown", "auto, on, off"});
  expect_error([] { parse_persistent_directions(""); }, Status::invalid_argument,
               {"'' is unknown", "paired, apart"});
}

TEST(EngineOptions, DefaultsAreTheAutomaticChoices) {
  const Options o;
  EXPECT_EQ(o.cpu.threads, 0);
  EXPECT_EQ(o.cudnn.algo, CudnnAlgo::standard);
  EXPECT_EQ(o.persistent.barrier, PersistentBarrier::automatic);
  EXPECT_EQ(o.persistent.tensor_cores, PersistentTensorCores::automatic);
  EXPECT_EQ(o.persistent.directions, PersistentDirections::paired);
  EXPECT_FALSE(o.allow_tf32);
  EXPECT_FALSE(o.inference_only);
}

// Values that are no values of their type (a cast from an int) and thread counts out of range:
// invalid_argument for every engine, `auto` included.
TEST(EngineOptions, ValuesOutOfRangeAreInvalid) {
  const Model m = seed_model("lstm", 4, 8, DType::f32);
  struct Case {
    std::function<void(Options&)> set;
    std::vector<std::string> needles;
  };
  const std::vector<Case> cases = {
      {[](Options& o) { o.cpu.threads = -1; }, {"Options.cpu.threads = -1", "[1, 4096]"}},
      {[](Options& o) { o.cpu.threads = 4097; }, {"Options.cpu.threads = 4097"}},
      {[](Options& o) { o.cudnn.algo = static_cast<CudnnAlgo>(4); },
       {"Options.cudnn.algo = 4", "standard, persist_static"}},
      {[](Options& o) { o.persistent.barrier = static_cast<PersistentBarrier>(-1); },
       {"Options.persistent.barrier = -1", "auto, cooperative, flags"}},
      {[](Options& o) { o.persistent.tensor_cores = static_cast<PersistentTensorCores>(3); },
       {"Options.persistent.tensor_cores = 3", "auto, on, off"}},
      {[](Options& o) { o.persistent.directions = static_cast<PersistentDirections>(2); },
       {"Options.persistent.directions = 2", "paired, apart"}},
  };
  for (const Case& c : cases) {
    Options o;
    c.set(o);
    for (Engine engine : {Engine::cpu, Engine::cpu_reference, Engine::gpu_persistent, Engine::cudnn,
                          Engine::automatic}) {
      SCOPED_TRACE(to_string(engine));
      expect_error([&] { Rnn rnn(m, engine, o); }, Status::invalid_argument, c.needles);
    }
  }
  Options most;
  most.cpu.threads = 4096;
  EXPECT_NO_THROW(Rnn(m, Engine::cpu, most));
}

// One engine's options, away from their defaults, handed to another engine by name: refused with
// Status::unsupported naming the option, its value and its engine, on any machine (before the
// GPU is looked for). Their own engine is not refused for them (it may be unavailable here).
TEST(EngineOptions, EachEngineRefusesTheOthersOptions) {
  const Model m = seed_model("lstm", 4, 8, DType::f32);
  struct Case {
    std::function<void(Options&)> set;
    std::vector<Engine> owners;
    std::string needle;
  };
  const std::vector<Case> cases = {
      {[](Options& o) { o.cpu.threads = 1; },
       {Engine::cpu, Engine::cpu_reference},
       "Options.cpu.threads = 1: an option of the cpu engine"},
      {[](Options& o) { o.cudnn.algo = CudnnAlgo::persist_dynamic; },
       {Engine::cudnn},
       "Options.cudnn.algo = persist_dynamic: an option of the cudnn engine"},
      {[](Options& o) { o.persistent.barrier = PersistentBarrier::flags; },
       {Engine::gpu_persistent},
       "Options.persistent.barrier = flags: an option of the gpu_persistent engine"},
      {[](Options& o) { o.persistent.tensor_cores = PersistentTensorCores::off; },
       {Engine::gpu_persistent},
       "Options.persistent.tensor_cores = off: an option of the gpu_persistent engine"},
      {[](Options& o) { o.persistent.directions = PersistentDirections::apart; },
       {Engine::gpu_persistent},
       "Options.persistent.directions = apart: an option of the gpu_persistent engine"},
  };
  const Engine engines[] = {Engine::cpu_reference,  Engine::cpu,
                            Engine::gpu_dynamic,    Engine::gpu_static,
                            Engine::gpu_persistent, Engine::cudnn};
  for (const Case& c : cases) {
    Options o;
    c.set(o);
    for (Engine engine : engines) {
      bool owner = false;
      for (Engine e : c.owners) owner = owner || e == engine;
      if (owner) continue;
      SCOPED_TRACE(to_string(engine));
      expect_error([&] { Rnn rnn(m, engine, o); }, Status::unsupported,
                   {c.needle, std::string("not of ") + to_string(engine)});
    }
  }
  // Their own CPU engines take them.
  Options threads;
  threads.cpu.threads = 1;
  EXPECT_EQ(Rnn(m, Engine::cpu, threads).engine(), Engine::cpu);
  EXPECT_EQ(Rnn(m, Engine::cpu_reference, threads).engine(), Engine::cpu_reference);
}

// `auto` hands each candidate only what applies to it: every engine's options at once still
// make a plan, on this machine the one a plan without them gets.
TEST(EngineOptions, AutoDropsWhatItsChoiceCannotUse) {
  const Model m = seed_model("lstm", 4, 8, DType::f32);
  Options every;
  every.cpu.threads = 2;
  every.cudnn.algo = CudnnAlgo::persist_static;
  every.persistent.barrier = PersistentBarrier::cooperative;
  every.persistent.tensor_cores = PersistentTensorCores::on;
  every.persistent.directions = PersistentDirections::apart;
  Rnn chosen(m, Engine::automatic, every);
  EXPECT_EQ(chosen.engine(), Rnn(m, Engine::automatic).engine());
  // With no GPU here the choice is the cpu engine, which keeps its threads option and runs.
  if (!engine_available(Engine::gpu_dynamic)) {
    EXPECT_EQ(chosen.engine(), Engine::cpu);
    const test::Problem p = test::random_problem(m, 3, 2, {3, 1}, 71);
    const test::Result ref = test::run(p, Engine::cpu_reference, false);
    const test::Result got = test::run(p, Engine::automatic, false, every);
    EXPECT_LT(test::max_rel_error(got.y, ref.y), 1e-5);
  }
}

// Options::inference_only is held whichever engine runs the plan: forward runs, forward_train and
// backward are refused before they read anything.
TEST(EngineOptions, InferenceOnlyPlansRefuseTraining) {
  const Model m = seed_model("gru", 4, 8, DType::f64);
  Options promise;
  promise.inference_only = true;
  const test::Problem p = test::random_problem(m, 3, 2, {3, 2}, 72);
  for (Engine engine : {Engine::cpu, Engine::cpu_reference}) {
    SCOPED_TRACE(to_string(engine));
    const test::Result ref = test::run(p, Engine::cpu_reference, false);
    EXPECT_LT(test::max_rel_error(test::run(p, engine, false, promise).y, ref.y), 1e-12);
    expect_error([&] { test::run(p, engine, true, promise); }, Status::invalid_argument,
                 {"forward_train: this plan was made with Options::inference_only = true"});
    Rnn rnn(m, engine, promise);
    expect_error([&] { rnn.backward(Forward{}, Backward{}, Reserve{}); }, Status::invalid_argument,
                 {"backward: this plan was made with Options::inference_only = true"});
    // A plan made without the promise trains.
    EXPECT_NO_THROW(test::run(p, engine, true));
  }
  // Moved, the plan keeps its promise.
  Rnn moved = Rnn(m, Engine::cpu, promise);
  expect_error([&] { moved.backward(Forward{}, Backward{}, Reserve{}); }, Status::invalid_argument,
               {"Options::inference_only"});
  moved = Rnn(m, Engine::cpu);
  expect_error([&] { moved.backward(Forward{}, Backward{}, Reserve{}); }, Status::invalid_argument,
               {"Forward."});
}

// PlanStats groups what belongs to one engine; a CPU plan reports none of it.
TEST(EngineOptions, CpuPlansReportNoEngineGroups) {
  Rnn rnn(seed_model("lstm", 4, 8, DType::f32), Engine::cpu);
  rnn.prepare(3, 2);
  const PlanStats s = rnn.stats();
  EXPECT_GT(s.workspace_bytes, 0u);
  EXPECT_EQ(s.graph.graphs, 0);
  EXPECT_EQ(s.graph.nodes, 0u);
  EXPECT_EQ(s.graph.build_ms, 0.0);
  EXPECT_EQ(s.graph.capture_retries, 0);
  EXPECT_EQ(s.persistent.grid_barrier, PersistentBarrier::automatic);
  EXPECT_EQ(s.persistent.tensor_core_layers, 0);
  EXPECT_EQ(s.persistent.paired_layers, 0);
  EXPECT_EQ(s.persistent.layer_choices, "");
}

}  // namespace
}  // namespace rnnx
