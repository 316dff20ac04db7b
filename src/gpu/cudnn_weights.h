// rnnx's weights and cuDNN's weight spaces (DESIGN.md, "The cudnn engine"): where each block of
// rnnx's layout (a gate's W_x, W_h, b_x or b_h of a layer and direction) lives in the weight space
// of the segment (cuDNN RNN) that holds its layer, as cudnnGetRNNWeightParams says, never from
// assumed offsets; and the copies that pack rnnx's weights in and bring cuDNN's gradients back.
#pragma once

#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <cstddef>
#include <vector>

#include "gpu/cuda_check.h"
#include "gpu/cudnn_support.h"
#include "kernels/sequence_kernels.h"
#include "rnnx/model.h"

namespace rnnx::gpu {

class CudnnWeightMap {
 public:
  // Asks cuDNN where every block of the segments' layers lives; the segments' descriptors and
  // weight spaces must be set. Checks each block's size against rnnx's layout (backend_error).
  void map(cudnnHandle_t handle, const Model& model, const std::vector<Segment>& segments,
           const CudnnContext& context);

  // rnnx's weights into the segments' weight spaces, forget_bias added (on `stream`).
  template <class T>
  void pack(const std::vector<Segment>& segments, const T* canonical, cudaStream_t stream) const {
    for (const Copy& c : copies_) {
      char* space = static_cast<char*>(segments[c.segment].weights) + c.space;
      RNNX_CUDA_CHECK(cudaMemcpyAsync(space, canonical + c.canonical, c.count * sizeof(T),
                                      cudaMemcpyDeviceToDevice, stream));
      if (c.add != 0.0) {
        RNNX_CUDA_CHECK(add_scalar<T>(stream, reinterpret_cast<T*>(space), c.count, T(c.add)));
      }
    }
  }

  // The segments' weight gradients back into rnnx's layout (on `stream`).
  template <class T>
  void unpack_gradients(const std::vector<Segment>& segments, T* canonical,
                        cudaStream_t stream) const {
    for (const Copy& c : copies_) {
      const char* space = static_cast<const char*>(segments[c.segment].dweights) + c.space;
      RNNX_CUDA_CHECK(cudaMemcpyAsync(canonical + c.canonical, space, c.count * sizeof(T),
                                      cudaMemcpyDeviceToDevice, stream));
    }
  }

 private:
  // One block copied between rnnx's canonical weights and a cuDNN weight space.
  struct Copy {
    int segment;            // whose weight space
    std::size_t canonical;  // element offset in rnnx's buffer
    std::size_t space;      // byte offset in the segment's weight space
    std::size_t count;      // elements
    double add;             // added after packing (forget_bias), 0 for most
  };
  std::vector<Copy> copies_;
};

}  // namespace rnnx::gpu
