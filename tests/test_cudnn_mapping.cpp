// What cuDNN's answers and cell modes mean to the cudnn engine, on the CPU (no GPU needed): which
// cuDNN statuses are refusals and which errors, what their messages name, and how each kind of cell
// maps onto cuDNN's modes, linear layers and biases.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gpu/cudnn_support.h"
#include "support/test_support.h"

namespace rnnx {
namespace {

// ---- CPU: what each cuDNN status means --------------------------------------------------------

using gpu::classify;
using gpu::CudnnCall;
using gpu::CudnnFailure;

constexpr CudnnAlgo kPersistent[] = {CudnnAlgo::persist_static, CudnnAlgo::persist_dynamic,
                                     CudnnAlgo::persist_static_small_h};

constexpr CudnnFailure X = CudnnFailure::error;
constexpr CudnnFailure R = CudnnFailure::refusal;
constexpr CudnnFailure E = CudnnFailure::environment;

// One status and what it must mean from each kind of call, for standard and for every
// persistent algorithm. Written out by hand from the rules in gpu/cudnn_support.h, not computed.
struct StatusRow {
  int code;
  const char* name;
  CudnnFailure plumbing, standard_configure, standard_execute, persist_configure, persist_execute;
};

// Every cudnnStatus_t of cuDNN 9's cudnn_graph.h but SUCCESS (deprecated names by their values),
// and codes a later cuDNN might add to each category.
const StatusRow kStatusTable[] = {
    {1001, "NOT_INITIALIZED", X, X, X, X, X},
    {1002, "SUBLIBRARY_VERSION_MISMATCH", X, X, X, X, X},
    {1003, "SERIALIZATION_VERSION_MISMATCH", X, X, X, X, X},
    {1004, "DEPRECATED", X, X, X, X, X},
    {1005, "LICENSE_ERROR", X, X, X, X, X},
    {1006, "RUNTIME_IN_PROGRESS", X, X, X, X, X},
    {1007, "RUNTIME_FP_OVERFLOW", X, X, X, X, X},
    {1008, "SUBLIBRARY_LOADING_FAILED", X, X, X, X, X},
    {2000, "BAD_PARAM", X, X, X, R, R},
    {2001, "INVALID_VALUE (deprecated)", X, X, X, R, R},
    {2002, "BAD_PARAM_NULL_POINTER", X, X, X, X, X},
    {2003, "BAD_PARAM_MISALIGNED_POINTER", X, X, X, X, X},
    {2004, "BAD_PARAM_NOT_FINALIZED", X, X, X, X, X},
    {2005, "BAD_PARAM_OUT_OF_BOUND", X, X, X, R, R},
    {2006, "BAD_PARAM_SIZE_INSUFFICIENT", X, X, X, X, X},
    {2007, "BAD_PARAM_STREAM_MISMATCH", X, X, X, X, X},
    {2008, "BAD_PARAM_SHAPE_MISMATCH", X, X, X, X, X},
    {2009, "BAD_PARAM_DUPLICATED_ENTRIES", X, X, X, X, X},
    {2010, "BAD_PARAM_ATTRIBUTE_TYPE", X, X, X, X, X},
    {2011, "BAD_PARAM_CUDA_GRAPH_MISMATCH", X, X, X, X, X},
    {2012, "BAD_PARAM_DESCRIPTOR_TYPE", X, X, X, X, X},
    {2099, "a later BAD_PARAM sub-code", X, X, X, X, X},
    {3000, "NOT_SUPPORTED", X, R, X, R, R},
    {3001, "NOT_SUPPORTED_GRAPH_PATTERN", X, R, X, R, R},
    {3002, "NOT_SUPPORTED_SHAPE", X, R, X, R, R},
    {3003, "NOT_SUPPORTED_DATA_TYPE", X, R, X, R, R},
    {3004, "NOT_SUPPORTED_LAYOUT", X, R, X, R, R},
    {3005, "NOT_SUPPORTED_INCOMPATIBLE_CUDA_DRIVER", E, E, E, E, E},
    {3006, "NOT_SUPPORTED_INCOMPATIBLE_CUDART", E, E, E, E, E},
    {3007, "NOT_SUPPORTED_ARCH_MISMATCH", E, E, E, E, E},
    {3008, "NOT_SUPPORTED_RUNTIME_PREREQUISITE_MISSING", E, E, E, E, E},
    {3009, "NOT_SUPPORTED_SUBLIBRARY_UNAVAILABLE", E, E, E, E, E},
    {3010, "NOT_SUPPORTED_SHARED_MEMORY_INSUFFICIENT", X, R, X, R, R},
    {3011, "NOT_SUPPORTED_PADDING", X, R, X, R, R},
    {3012, "NOT_SUPPORTED_BAD_LAUNCH_PARAM", X, R, X, R, R},
    {3013, "NOT_SUPPORTED_CUDA_GRAPH_NATIVE_API", X, R, X, R, R},
    {3014, "NOT_SUPPORTED_INVALID_DYNAMIC_SHAPE", X, R, X, R, R},
    {3099, "a later NOT_SUPPORTED sub-code", X, R, X, R, R},
    {4000, "INTERNAL_ERROR", X, X, X, X, X},
    {4001, "INTERNAL_ERROR_COMPILATION_FAILED", X, X, X, R, X},
    {4002, "INTERNAL_ERROR_UNEXPECTED_VALUE", X, X, X, X, X},
    {4003, "INTERNAL_ERROR_HOST_ALLOCATION_FAILED (ALLOC_FAILED)", X, X, X, X, X},
    {4004, "INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED", X, X, X, X, X},
    {4005, "INTERNAL_ERROR_BAD_LAUNCH_PARAM", X, X, X, X, X},
    {4006, "INTERNAL_ERROR_TEXTURE_CREATION_FAILED (MAPPING_ERROR)", X, X, X, X, X},
    {4099, "a later INTERNAL_ERROR sub-code", X, X, X, X, X},
    {5000, "EXECUTION_FAILED", X, X, X, X, X},
    {5001, "EXECUTION_FAILED_CUDA_DRIVER", X, X, X, X, X},
    {5002, "EXECUTION_FAILED_CUBLAS", X, X, X, X, X},
    {5003, "EXECUTION_FAILED_CUDART", X, X, X, X, X},
    {5004, "EXECUTION_FAILED_CURAND", X, X, X, X, X},
    {6000, "a later category", X, X, X, X, X},
};

const char* name(CudnnFailure f) {
  switch (f) {
    case CudnnFailure::refusal:
      return "refusal";
    case CudnnFailure::environment:
      return "environment";
    case CudnnFailure::error:
      return "error";
  }
  return "?";
}

// The table's numbers are cuDNN's: a renumbered header would make every row test something else.
TEST(CudnnStatus, TableUsesTheHeadersNumbers) {
  EXPECT_EQ(CUDNN_STATUS_NOT_INITIALIZED, 1001);
  EXPECT_EQ(CUDNN_STATUS_BAD_PARAM, 2000);
  EXPECT_EQ(CUDNN_STATUS_BAD_PARAM_OUT_OF_BOUND, 2005);
  EXPECT_EQ(CUDNN_STATUS_BAD_PARAM_DESCRIPTOR_TYPE, 2012);
  EXPECT_EQ(CUDNN_STATUS_NOT_SUPPORTED, 3000);
  EXPECT_EQ(CUDNN_STATUS_NOT_SUPPORTED_ARCH_MISMATCH, 3007);
  EXPECT_EQ(CUDNN_STATUS_NOT_SUPPORTED_INVALID_DYNAMIC_SHAPE, 3014);
  EXPECT_EQ(CUDNN_STATUS_INTERNAL_ERROR, 4000);
  EXPECT_EQ(CUDNN_STATUS_INTERNAL_ERROR_COMPILATION_FAILED, 4001);
  EXPECT_EQ(CUDNN_STATUS_INTERNAL_ERROR_TEXTURE_CREATION_FAILED, 4006);
  EXPECT_EQ(CUDNN_STATUS_EXECUTION_FAILED, 5000);
  EXPECT_EQ(CUDNN_STATUS_EXECUTION_FAILED_CURAND, 5004);
}

TEST(CudnnStatus, EveryStatusMapsAsDocumented) {
  for (const StatusRow& row : kStatusTable) {
    const auto status = static_cast<cudnnStatus_t>(row.code);
    SCOPED_TRACE(std::to_string(row.code) + " " + row.name);
    for (CudnnAlgo algo : test::kCudnnAlgorithms) {
      EXPECT_EQ(name(classify(status, CudnnCall::plumbing, algo)), std::string(name(row.plumbing)))
          << "plumbing, " << to_string(algo);
    }
    EXPECT_EQ(name(classify(status, CudnnCall::configure, CudnnAlgo::standard)),
              std::string(name(row.standard_configure)))
        << "configure, standard";
    EXPECT_EQ(name(classify(status, CudnnCall::execute, CudnnAlgo::standard)),
              std::string(name(row.standard_execute)))
        << "execute, standard";
    for (CudnnAlgo algo : kPersistent) {
      EXPECT_EQ(name(classify(status, CudnnCall::configure, algo)),
                std::string(name(row.persist_configure)))
          << "configure, " << to_string(algo);
      EXPECT_EQ(name(classify(status, CudnnCall::execute, algo)),
                std::string(name(row.persist_execute)))
          << "execute, " << to_string(algo);
    }
  }
}

gpu::CudnnContext shape_context(CudnnAlgo algo, bool varied, bool training) {
  gpu::CudnnContext c;
  c.algo = algo;
  c.dtype = DType::f32;
  c.steps = 5;
  c.batch = 3;
  c.varied_lengths = varied;
  c.training = training;
  return c;
}

TEST(CudnnStatus, RefusalsNameTheAlgorithmTheCallAndTheReason) {
  const Error e =
      gpu::cudnn_error(CUDNN_STATUS_NOT_SUPPORTED, "cudnnRNNForward", CudnnCall::execute,
                       shape_context(CudnnAlgo::persist_static, true, true));
  EXPECT_EQ(e.status(), Status::unsupported);
  const std::string what = e.what();
  for (const char* part :
       {"Options.cudnn.algo = persist_static", "CUDNN_RNN_ALGO_PERSIST_STATIC", "cudnnRNNForward",
        "steps = 5, batch = 3, float32", "lengths that differ", "training", "Likely reason",
        "persistent algorithms typically do not take", "Options.cudnn.algo = standard",
        "gpu_dynamic"}) {
    EXPECT_TRUE(test::contains(what, part)) << "missing '" << part << "' in: " << what;
  }
  EXPECT_TRUE(test::contains(what, "returned CUDNN_STATUS_NOT_SUPPORTED")) << what;

  const Error build = gpu::cudnn_error(CUDNN_STATUS_INTERNAL_ERROR_COMPILATION_FAILED,
                                       "cudnnBuildRNNDynamic", CudnnCall::configure,
                                       shape_context(CudnnAlgo::persist_dynamic, false, false));
  EXPECT_EQ(build.status(), Status::unsupported);
  const std::string build_what = build.what();
  for (const char* part : {"persist_dynamic", "cudnnBuildRNNDynamic", "could not compile"}) {
    EXPECT_TRUE(test::contains(build_what, part)) << "missing '" << part << "' in: " << build_what;
  }
  EXPECT_FALSE(test::contains(build_what, "lengths that differ")) << build_what;

  // The plan's own descriptors, before any shape: the model is what was refused.
  gpu::CudnnContext plan;
  plan.algo = CudnnAlgo::persist_static_small_h;
  plan.dtype = DType::f64;
  const Error at_plan = gpu::cudnn_error(CUDNN_STATUS_BAD_PARAM, "cudnnSetRNNDescriptor_v8",
                                         CudnnCall::configure, plan);
  EXPECT_EQ(at_plan.status(), Status::unsupported);
  EXPECT_TRUE(test::contains(at_plan.what(), "refuses this model (float64)")) << at_plan.what();
  EXPECT_TRUE(test::contains(at_plan.what(), "persist_static_small_h")) << at_plan.what();

  // standard's refusal has no other algorithm to offer.
  const Error standard =
      gpu::cudnn_error(CUDNN_STATUS_NOT_SUPPORTED_SHAPE, "cudnnGetRNNTempSpaceSizes",
                       CudnnCall::configure, shape_context(CudnnAlgo::standard, false, false));
  EXPECT_EQ(standard.status(), Status::unsupported);
  EXPECT_TRUE(test::contains(standard.what(), "gpu_dynamic")) << standard.what();
  EXPECT_FALSE(test::contains(standard.what(), "Options.cudnn.algo = standard runs"))
      << standard.what();
}

TEST(CudnnStatus, ErrorsNameTheCallAndStatus) {
  const Error e =
      gpu::cudnn_error(CUDNN_STATUS_EXECUTION_FAILED, "cudnnRNNBackwardData_v8", CudnnCall::execute,
                       shape_context(CudnnAlgo::persist_static, true, true));
  EXPECT_EQ(e.status(), Status::backend_error);
  EXPECT_TRUE(test::contains(e.what(), "cudnnRNNBackwardData_v8 failed: ")) << e.what();
  EXPECT_TRUE(test::contains(e.what(), "CUDNN_STATUS_EXECUTION_FAILED")) << e.what();
  EXPECT_TRUE(test::contains(e.what(), "persist_static")) << e.what();
  EXPECT_FALSE(test::contains(e.what(), "refuses")) << e.what();

  // standard accepted the configuration a moment before: a refusal now is an error.
  EXPECT_EQ(gpu::cudnn_error(CUDNN_STATUS_NOT_SUPPORTED, "cudnnRNNForward", CudnnCall::execute,
                             shape_context(CudnnAlgo::standard, true, false))
                .status(),
            Status::backend_error);
  // BAD_PARAM from standard is rnnx's mistake.
  EXPECT_EQ(gpu::cudnn_error(CUDNN_STATUS_BAD_PARAM, "cudnnGetRNNTempSpaceSizes",
                             CudnnCall::configure, shape_context(CudnnAlgo::standard, false, false))
                .status(),
            Status::backend_error);
  // A sequence-data descriptor knows no algorithm: its BAD_PARAM is rnnx's mistake for any.
  EXPECT_EQ(
      gpu::cudnn_error(CUDNN_STATUS_BAD_PARAM, "cudnnSetRNNDataDescriptor", CudnnCall::plumbing,
                       shape_context(CudnnAlgo::persist_dynamic, true, false))
          .status(),
      Status::backend_error);

  const Error machine = gpu::cudnn_error(CUDNN_STATUS_NOT_SUPPORTED_ARCH_MISMATCH, "cudnnCreate",
                                         CudnnCall::plumbing, gpu::CudnnContext());
  EXPECT_EQ(machine.status(), Status::unsupported);
  EXPECT_TRUE(test::contains(machine.what(), "cannot run on this machine")) << machine.what();
  EXPECT_TRUE(test::contains(machine.what(), "cudnnCreate")) << machine.what();
}

TEST(CudnnStatus, CheckThrowsOnlyOnFailure) {
  const gpu::CudnnContext c = shape_context(CudnnAlgo::persist_static, false, false);
  EXPECT_NO_THROW(gpu::check(CUDNN_STATUS_SUCCESS, "cudnnRNNForward", CudnnCall::execute, c));
  try {
    gpu::check(CUDNN_STATUS_NOT_SUPPORTED, "cudnnGetRNNTempSpaceSizes", CudnnCall::configure, c);
    ADD_FAILURE() << "no throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), Status::unsupported) << e.what();
  }
}

// ---- CPU: how each kind of cell maps onto cuDNN ------------------------------------------------

TEST(CudnnCells, EveryKindHasItsModeOrIsRefused) {
  EXPECT_EQ(gpu::cudnn_cell_mode(CellKind::lstm), CUDNN_LSTM);
  EXPECT_EQ(gpu::cudnn_cell_mode(CellKind::gru_reset_after), CUDNN_GRU);
  EXPECT_EQ(gpu::cudnn_cell_mode(CellKind::rnn_tanh), CUDNN_RNN_TANH);
  EXPECT_EQ(gpu::cudnn_cell_mode(CellKind::rnn_relu), CUDNN_RNN_RELU);
  try {
    (void)gpu::cudnn_cell_mode(CellKind::gru_reset_before);
    ADD_FAILURE() << "a GRU resetting before the matmul was given a cuDNN mode";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), Status::unsupported);
    for (const char* part : {"engine cudnn", "resets after the matmul", "gpu_dynamic"}) {
      EXPECT_TRUE(test::contains(e.what(), part)) << "missing '" << part << "' in: " << e.what();
    }
  }
}

// linLayerID: the input side's G ids first, then the recurrent side's, gates in rnnx's order; the
// vanilla RNN has one of each (0: W_x and b_x, 1: W_h and b_h).
TEST(CudnnCells, LinearLayersAndTheForgetBias) {
  for (CellKind rnn : {CellKind::rnn_tanh, CellKind::rnn_relu}) {
    EXPECT_FALSE(gpu::linear_layer(rnn, 0).recurrent);
    EXPECT_EQ(gpu::linear_layer(rnn, 0).gate, 0);
    EXPECT_TRUE(gpu::linear_layer(rnn, 1).recurrent);
    EXPECT_EQ(gpu::linear_layer(rnn, 1).gate, 0);
  }
  EXPECT_FALSE(gpu::linear_layer(CellKind::lstm, 3).recurrent);
  EXPECT_EQ(gpu::linear_layer(CellKind::lstm, 3).gate, lstm_o);
  EXPECT_TRUE(gpu::linear_layer(CellKind::lstm, 5).recurrent);
  EXPECT_EQ(gpu::linear_layer(CellKind::lstm, 5).gate, lstm_f);
  EXPECT_FALSE(gpu::linear_layer(CellKind::gru_reset_after, 2).recurrent);
  EXPECT_EQ(gpu::linear_layer(CellKind::gru_reset_after, 2).gate, gru_n);
  EXPECT_TRUE(gpu::linear_layer(CellKind::gru_reset_after, 3).recurrent);
  EXPECT_EQ(gpu::linear_layer(CellKind::gru_reset_after, 3).gate, gru_r);

  Layer layer;
  layer.forget_bias = 0.75;
  EXPECT_EQ(gpu::packed_bias_add(CellKind::lstm, layer, {false, lstm_f}), 0.75);
  EXPECT_EQ(gpu::packed_bias_add(CellKind::lstm, layer, {true, lstm_f}), 0.0);
  EXPECT_EQ(gpu::packed_bias_add(CellKind::lstm, layer, {false, lstm_i}), 0.0);
  for (CellKind kind : {CellKind::gru_reset_after, CellKind::rnn_tanh, CellKind::rnn_relu}) {
    EXPECT_EQ(gpu::packed_bias_add(kind, layer, {false, 0}), 0.0) << to_string(kind);
    EXPECT_EQ(gpu::packed_bias_add(kind, layer, {false, 1}), 0.0) << to_string(kind);
  }
}

}  // namespace
}  // namespace rnnx
