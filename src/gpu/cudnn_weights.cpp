#include "gpu/cudnn_weights.h"

#include <string>

#include "rnnx/error.h"
#include "rnnx/layout.h"

namespace rnnx::gpu {

namespace {

std::size_t byte_offset(const Segment& s, const void* p) {
  return static_cast<std::size_t>(static_cast<const char*>(p) -
                                  static_cast<const char*>(s.weights));
}

void expect_elements(cudnnTensorDescriptor_t desc, std::size_t expect, const char* what,
                     const CudnnContext& context) {
  cudnnDataType_t type;
  int dims[8] = {}, strides[8] = {}, nb = 0;
  check(cudnnGetTensorNdDescriptor(desc, 8, &type, &nb, dims, strides),
        "cudnnGetTensorNdDescriptor", CudnnCall::plumbing, context);
  std::size_t n = 1;
  for (int k = 0; k < nb; ++k) n *= static_cast<std::size_t>(dims[k]);
  if (n != expect) {
    throw Error(Status::backend_error,
                std::string("cudnnGetRNNWeightParams: a ") + what + " of " + std::to_string(n) +
                    " elements where rnnx's layout has " + std::to_string(expect));
  }
}

// The two tensor descriptors cudnnGetRNNWeightParams describes a block with.
class BlockDescriptors {
 public:
  explicit BlockDescriptors(const CudnnContext& context) {
    check(cudnnCreateTensorDescriptor(&matrix), "cudnnCreateTensorDescriptor", CudnnCall::plumbing,
          context);
    const cudnnStatus_t status = cudnnCreateTensorDescriptor(&bias);
    if (status != CUDNN_STATUS_SUCCESS) cudnnDestroyTensorDescriptor(matrix);
    check(status, "cudnnCreateTensorDescriptor", CudnnCall::plumbing, context);
  }
  ~BlockDescriptors() {
    cudnnDestroyTensorDescriptor(matrix);
    cudnnDestroyTensorDescriptor(bias);
  }
  BlockDescriptors(const BlockDescriptors&) = delete;
  BlockDescriptors& operator=(const BlockDescriptors&) = delete;

  cudnnTensorDescriptor_t matrix = nullptr, bias = nullptr;
};

}  // namespace

void CudnnWeightMap::map(cudnnHandle_t handle, const Model& model,
                         const std::vector<Segment>& segments, const CudnnContext& context) {
  const WeightLayout wl(model);
  const BlockDescriptors desc(context);
  copies_.clear();
  for (std::size_t k = 0; k < segments.size(); ++k) {
    const Segment& s = segments[k];
    const int segment = static_cast<int>(k);
    for (int l = 0; l < s.layers; ++l) {
      const int layer = s.first + l;
      const int in = layer_input_size(model, layer);
      for (int d = 0; d < s.dirs; ++d) {
        const Dir dir = d == 0 ? Dir::fw : Dir::bw;
        for (int id = 0; id < 2 * s.gates; ++id) {
          const LinearLayer linear = linear_layer(s.kind, id);
          void* m = nullptr;
          void* b = nullptr;
          check(cudnnGetRNNWeightParams(handle, s.rnn, l * s.dirs + d, s.weight_bytes, s.weights,
                                        id, desc.matrix, &m, desc.bias, &b),
                "cudnnGetRNNWeightParams", CudnnCall::configure, context);
          const std::size_t expect_m = std::size_t(s.hidden) * (linear.recurrent ? s.hidden : in);
          expect_elements(desc.matrix, expect_m, "matrix", context);
          expect_elements(desc.bias, s.hidden, "bias", context);
          const Param wp = linear.recurrent ? Param::Wh : Param::Wx;
          const Param bp = linear.recurrent ? Param::bh : Param::bx;
          const double add = packed_bias_add(s.kind, model.layers[layer], linear);
          copies_.push_back(
              {segment, wl.offset(layer, dir, wp, linear.gate), byte_offset(s, m), expect_m, 0.0});
          copies_.push_back({segment, wl.offset(layer, dir, bp, linear.gate), byte_offset(s, b),
                             std::size_t(s.hidden), add});
        }
      }
    }
  }
}

}  // namespace rnnx::gpu
