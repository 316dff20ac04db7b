#include "kernels/persistent_kernels.h"

#include <cooperative_groups.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <mma.h>

#include <algorithm>

#include "kernels/cell_math.h"

namespace rnnx::gpu {

namespace {

namespace cg = cooperative_groups;

// Every block arrives, the last one releases the others. Writes before the barrier (h_t) are
// visible to every block after it: a device fence before arriving, another after leaving.
__device__ void flag_barrier(unsigned* words, unsigned blocks) {
  __syncthreads();
  if (threadIdx.x == 0) {
    volatile unsigned* generation = words + 1;
    const unsigned seen = *generation;  // before arriving, or the release could be missed
    __threadfence();
    if (atomicAdd(words, 1u) == blocks - 1) {
      atomicExch(words, 0u);
      __threadfence();
      atomicAdd(words + 1, 1u);
    } else {
      while (*generation == seen) {
      }
    }
    __threadfence();
  }
  __syncthreads();
}

template <GridBarrier kBarrier>
__device__ void grid_sync(unsigned* words) {
  if constexpr (kBarrier == GridBarrier::cooperative) {
    cg::this_grid().sync();
  } else {
    flag_barrier(words, gridDim.x);
  }
}

// The storage types: weights, inputs and outputs; arithmetic is float32.
__device__ __forceinline__ float widen(float v) {
  return v;
}
__device__ __forceinline__ float widen(__nv_bfloat16 v) {
  return __bfloat162float(v);
}
__device__ __forceinline__ float widen(__half v) {
  return __half2float(v);
}

template <class TW>
__device__ __forceinline__ TW narrow(float v);
template <>
__device__ __forceinline__ float narrow<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ __nv_bfloat16 narrow<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}
template <>
__device__ __forceinline__ __half narrow<__half>(float v) {
  return __float2half_rn(v);
}

__host__ __device__ inline std::size_t align128(std::size_t bytes) {
  return (bytes + 127) / 128 * 128;
}

// What the kernel and its shared memory need of a kind, on the host and the device (cell_traits is
// host-only without --expt-relaxed-constexpr; the static_asserts below keep the two equal).
struct KindShape {
  int gates;        // G
  bool unit_state;  // a float per owned unit and sequence kept across the step: LSTM c, GRU r
};
__host__ __device__ constexpr KindShape kind_shape(CellKind kind) {
  switch (kind) {
    case CellKind::lstm:
      return KindShape{4, true};
    case CellKind::gru_reset_after:
      return KindShape{3, false};
    case CellKind::gru_reset_before:
      return KindShape{3, true};
    case CellKind::rnn_tanh:
    case CellKind::rnn_relu:
      return KindShape{1, false};
  }
  return KindShape{0, false};
}
static_assert(kind_shape(CellKind::lstm).gates == cell_traits(CellKind::lstm).gates);
static_assert(kind_shape(CellKind::gru_reset_after).gates ==
              cell_traits(CellKind::gru_reset_after).gates);
static_assert(kind_shape(CellKind::gru_reset_before).gates ==
              cell_traits(CellKind::gru_reset_before).gates);
static_assert(kind_shape(CellKind::rnn_tanh).gates == cell_traits(CellKind::rnn_tanh).gates);
static_assert(kind_shape(CellKind::rnn_relu).gates == cell_traits(CellKind::rnn_relu).gates);

// The shared-memory layout (PersistentSmem in the header) on the host and the device alike. With
// MMA, ld = H + kPersistentMmaPad. With ld = H (a multiple of 16) a row is 2H bytes, a multiple of
// 32, so the 8 rows that a tile load reads together start in at most 4 of the 8 16-byte groups of
// the 128-byte bank cycle (all in the same one when H is a multiple of 64) and the load
// serialises over them; 2 * (H + 8) = 16 * (H / 8 + 1) is an odd multiple of 16 bytes, which puts
// 8 consecutive rows in 8 different groups. ld stays a multiple of 8 elements and every tile
// starts 32-byte aligned (row offsets 16 * ld * 2 bytes, column offsets 16 * 2 bytes, arrays
// 128-byte aligned), as load_matrix_sync requires.
__host__ __device__ inline PersistentSmem smem_layout(CellKind cell, std::size_t weight_bytes,
                                                      int H, int U, int B, bool mma) {
  const KindShape shape = kind_shape(cell);
  const int G = shape.gates;
  PersistentSmem s;
  s.rows = mma ? (G * U + 15) / 16 * 16 : G * U;
  s.zld = mma ? (B + 15) / 16 * 16 : B;
  s.ld = mma ? H + kPersistentMmaPad : H;
  std::size_t at = 0;
  s.w = at;
  at = align128(at + std::size_t(s.rows) * s.ld * weight_bytes);
  s.hc = at;
  at = align128(at + std::size_t(B) * H * sizeof(float));
  s.h16 = at;
  if (mma) at = align128(at + std::size_t(s.zld) * s.ld * weight_bytes);
  s.z = at;
  at = align128(at + std::size_t(s.rows) * s.zld * sizeof(float));
  s.state = at;
  if (shape.unit_state) at = align128(at + std::size_t(U) * B * sizeof(float));
  s.total = at;
  return s;
}

__device__ float warp_sum(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
  return v;
}

// z[r][b] = W[r] . h[b] for local rows [row_begin, row_end): one warp per output, lanes over H
// (rows of H elements: the warp path's layout). A fixed order of the sum: run-to-run identical.
template <class TW>
__device__ void resident_dots(const TW* W, int row_begin, int row_end, int H, int B, const float* h,
                              float* z, int zld) {
  const int lane = threadIdx.x % 32, warps = blockDim.x / 32;
  const int outputs = (row_end - row_begin) * B;
  for (int o = threadIdx.x / 32; o < outputs; o += warps) {
    const int r = row_begin + o / B, b = o % B;
    const TW* w = W + std::size_t(r) * H;
    const float* x = h + std::size_t(b) * H;
    float acc = 0.0f;
    for (int k = lane; k < H; k += 32) acc += widen(w[k]) * x[k];
    acc = warp_sum(acc);
    if (lane == 0) z[r * zld + b] = acc;
  }
}

// The same sums on tensor cores (bf16/f16 storage): z [rows][zld] = W [rows][ld] . h16^T over
// the first H columns, one warp per 16x16 tile of z, K = H in steps of 16 in a fixed order
// (run-to-run identical). h16 is h rounded to the storage type, [zld][ld]: WMMA's column-major B
// operand.
template <class TW>
__device__ void mma_dots(const TW* W, int rows, int H, int ld, const TW* h16, int zld, float* z) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  namespace wmma = nvcuda::wmma;
  const int warp = threadIdx.x / 32, warps = blockDim.x / 32;
  const int row_tiles = rows / 16, col_tiles = zld / 16;
  for (int tile = warp; tile < row_tiles * col_tiles; tile += warps) {
    const int tm = tile / col_tiles, tn = tile % col_tiles;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> c;
    wmma::fill_fragment(c, 0.0f);
    for (int k = 0; k < H; k += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, TW, wmma::row_major> a;
      wmma::fragment<wmma::matrix_b, 16, 16, 16, TW, wmma::col_major> b;
      wmma::load_matrix_sync(a, W + std::size_t(tm) * 16 * ld + k, ld);
      wmma::load_matrix_sync(b, h16 + std::size_t(tn) * 16 * ld + k, ld);
      wmma::mma_sync(c, a, b, c);
    }
    wmma::store_matrix_sync(z + std::size_t(tm) * 16 * zld + tn * 16, c, zld, wmma::mem_row_major);
  }
#else
  (void)W, (void)rows, (void)H, (void)ld, (void)h16, (void)zld, (void)z;
  __trap();  // the host asks for MMA on sm_80 and later only (persistent_mma_possible)
#endif
}

__device__ int time_of(const int* lengths, Dir dir, int s, int b) {
  const int len = lengths[b];
  if (s >= len) return -1;
  return dir == Dir::fw ? s : len - 1 - s;
}

// `a` stays in the kernel's parameter space (__grid_constant__): a copy indexed by the block's
// direction would live in local memory (the reset-before GRU spilled 8 to 20 bytes for it). One
// block per multiprocessor is all the grid ever asks for (minimum 1 in the launch bounds), so
// ptxas need not hold registers down for more; without it, it spilled a few bytes around the
// cooperative grid sync on sm_80.
template <CellKind kCell, GridBarrier kBarrier, class TW>
__global__ void __launch_bounds__(kPersistentThreads, 1)
    persistent_layer_kernel(const __grid_constant__ PersistentLayerArgs a) {
  constexpr int G = kind_shape(kCell).gates;
  constexpr bool lstm = kCell == CellKind::lstm;
  constexpr bool before = kCell == CellKind::gru_reset_before;
  const int H = a.H, B = a.B, U = a.units;
  // With both directions in the grid, blocks [0, n) run the forward one and [n, 2n) the backward.
  const int per_direction = (H + U - 1) / U;
  const PersistentDirection& d = a.d[a.directions == 2 ? blockIdx.x / per_direction : 0];
  const int j0 = (blockIdx.x % per_direction) * U;
  const int owned = min(U, H - j0);  // the last block may own fewer units

  // MMA only with 16-bit storage, and never for the reset-before GRU: its two rounds need separate
  // row ranges of z, which tiles of 16 rows would not keep apart.
  constexpr bool kCanMma = !std::is_same<TW, float>::value && !before;
  const bool mma = kCanMma && a.mma;
  const PersistentSmem L = smem_layout(kCell, sizeof(TW), H, U, B, mma);
  extern __shared__ __align__(128) unsigned char shared[];
  TW* W = reinterpret_cast<TW*>(shared + L.w);
  float* hc = reinterpret_cast<float*>(shared + L.hc);
  TW* h16 = reinterpret_cast<TW*>(shared + L.h16);
  float* z = reinterpret_cast<float*>(shared + L.z);
  float* cstate = reinterpret_cast<float*>(shared + L.state);  // LSTM only
  float* reset = cstate;                                       // GRU reset before only
  const int zld = L.zld, ld = L.ld;
  const TW* Wh = static_cast<const TW*>(d.Wh);
  TW* y = static_cast<TW*>(d.y);

  // The block's rows of W_h, once: local row g*U + u is global row g*H + j0 + u; MMA's padding
  // rows past G*U and the units past `owned` are zero. Columns [H, ld) are never read.
  for (std::size_t i = threadIdx.x; i < std::size_t(L.rows) * H; i += blockDim.x) {
    const int r = static_cast<int>(i / H), k = static_cast<int>(i % H);
    const int g = r / U, u = r % U;
    W[std::size_t(r) * ld + k] =
        r < G * U && u < owned ? Wh[(std::size_t(g) * H + j0 + u) * H + k] : narrow<TW>(0.0f);
  }
  if (mma) {  // h16's padding batch columns stay zero
    for (std::size_t i = threadIdx.x; i < std::size_t(zld) * ld; i += blockDim.x) {
      h16[i] = narrow<TW>(0.0f);
    }
    __syncthreads();  // before the first step's writes of h16 by other threads
  }
  if constexpr (lstm) {
    for (int i = threadIdx.x; i < U * B; i += blockDim.x) {
      const int u = i / B, b = i % B;
      cstate[i] = u < owned ? d.c0[std::size_t(b) * H + j0 + u] : 0.0f;
    }
  }

  const float* hp = d.h[0];
  float* hnext = d.h[1];
  for (int s = 0; s < a.steps; ++s) {
    // Element i = b * H + k of h also goes to h16[b * ld + k]; b and k follow i without a
    // division per element (B * H fits an int: it is in shared memory).
    int hb = static_cast<int>(threadIdx.x) / H, hk = static_cast<int>(threadIdx.x) % H;
    for (int i = threadIdx.x; i < B * H; i += blockDim.x) {
      const float v = __ldcg(hp + i);  // written by other blocks: past L1
      hc[i] = v;
      if (mma) {
        h16[hb * ld + hk] = narrow<TW>(v);
        for (hk += static_cast<int>(blockDim.x); hk >= H; hk -= H) ++hb;
      }
    }
    __syncthreads();
    if constexpr (kCanMma) {
      if (mma) {
        mma_dots(W, L.rows, H, ld, h16, zld, z);
      } else {
        resident_dots(W, 0, G * U, H, B, hc, z, zld);
      }
    } else {
      resident_dots(W, 0, before ? 2 * U : G * U, H, B, hc, z, zld);
    }
    __syncthreads();
    if constexpr (before) {
      // r first, then n's recurrent term from r * h of every unit: a second round across blocks.
      for (int i = threadIdx.x; i < owned * B; i += blockDim.x) {
        const int u = i / B, b = i % B, j = j0 + u, t = time_of(a.len, d.dir, s, b);
        float r = 0.0f;
        if (t >= 0) {
          const float* p = d.proj + (std::size_t(t) * B + b) * G * H;
          r = cell::sigmoid(z[u * zld + b] + p[j] + d.bias[j]);
        }
        reset[u * B + b] = r;
        d.rh[std::size_t(b) * H + j] = r * hc[std::size_t(b) * H + j];
      }
      grid_sync<kBarrier>(a.barrier);
      for (std::size_t i = threadIdx.x; i < std::size_t(B) * H; i += blockDim.x) {
        hc[i] = __ldcg(d.rh + i);
      }
      __syncthreads();
      resident_dots(W, 2 * U, 3 * U, H, B, hc, z, zld);
      __syncthreads();
    }
    for (int i = threadIdx.x; i < owned * B; i += blockDim.x) {
      const int u = i / B, b = i % B, j = j0 + u, t = time_of(a.len, d.dir, s, b);
      const std::size_t at = std::size_t(b) * H + j;
      // The reset-before round overwrote the h cache with r * h; h_{t-1} is still in hp.
      const float h_prev = before ? __ldcg(hp + at) : hc[at];
      if (t < 0) {
        hnext[at] = h_prev;  // an ended sequence carries its state
        continue;
      }
      const std::size_t row = std::size_t(t) * B + b;
      const float* p = d.proj + row * G * H;
      float h = 0.0f;
      // kCell is a constant: each instantiation keeps its own case.
      switch (kCell) {
        case CellKind::lstm: {
          const cell::LstmUnit<float> unit =
              cell::lstm_forward(z[(0 * U + u) * zld + b] + p[j] + d.bias[j],
                                 z[(1 * U + u) * zld + b] + p[H + j] + d.bias[H + j],
                                 z[(2 * U + u) * zld + b] + p[2 * H + j] + d.bias[2 * H + j],
                                 z[(3 * U + u) * zld + b] + p[3 * H + j] + d.bias[3 * H + j],
                                 cstate[u * B + b], a.forget_bias);
          cstate[u * B + b] = unit.c;
          h = unit.h;
          break;
        }
        case CellKind::gru_reset_after: {
          const float r = cell::sigmoid(z[u * zld + b] + p[j] + d.bias[j]);
          const float update = cell::sigmoid(z[(U + u) * zld + b] + p[H + j] + d.bias[H + j]);
          const float hn = z[(2 * U + u) * zld + b] + d.bhn[j];
          const float n = cell::gru_candidate(p[2 * H + j] + d.bias[2 * H + j], hn, r, true);
          h = cell::gru_output(update, n, h_prev);
          break;
        }
        case CellKind::gru_reset_before: {
          const float update = cell::sigmoid(z[(U + u) * zld + b] + p[H + j] + d.bias[H + j]);
          const float n = cell::gru_candidate(p[2 * H + j] + d.bias[2 * H + j],
                                              z[(2 * U + u) * zld + b], reset[u * B + b], false);
          h = cell::gru_output(update, n, h_prev);
          break;
        }
        // The vanilla RNN: one gate, bias = bx + bh (projection_bias), act of the sum.
        case CellKind::rnn_tanh:
          h = cell::rnn_forward<false>(z[u * zld + b] + p[j] + d.bias[j]);
          break;
        case CellKind::rnn_relu:
          h = cell::rnn_forward<true>(z[u * zld + b] + p[j] + d.bias[j]);
          break;
      }
      hnext[at] = h;
      y[row * a.y_ld + j] = narrow<TW>(h);
    }
    grid_sync<kBarrier>(a.barrier);  // h_t complete before any block reads it
    const float* done = hnext;
    hnext = const_cast<float*>(hp);
    hp = done;
  }
  for (int i = threadIdx.x; i < owned * B; i += blockDim.x) {
    const int u = i / B, b = i % B;
    const std::size_t at = std::size_t(b) * H + j0 + u;
    d.hn[at] = __ldcg(hp + at);
    if constexpr (lstm) d.cn[at] = cstate[u * B + b];
  }
}

template <GridBarrier kBarrier>
__global__ void __launch_bounds__(kPersistentThreads)
    barrier_only_kernel(int steps, unsigned* words) {
  for (int s = 0; s < steps; ++s) grid_sync<kBarrier>(words);
}

__global__ void empty_kernel() {}

template <CellKind kCell, GridBarrier kBarrier>
const void* kernel_of(DType storage) {
  switch (storage) {
    case DType::bf16:
      return reinterpret_cast<const void*>(
          &persistent_layer_kernel<kCell, kBarrier, __nv_bfloat16>);
    case DType::f16:
      return reinterpret_cast<const void*>(&persistent_layer_kernel<kCell, kBarrier, __half>);
    default:
      return reinterpret_cast<const void*>(&persistent_layer_kernel<kCell, kBarrier, float>);
  }
}

template <CellKind kCell>
const void* kernel_of(GridBarrier barrier, DType storage) {
  return barrier == GridBarrier::flags ? kernel_of<kCell, GridBarrier::flags>(storage)
                                       : kernel_of<kCell, GridBarrier::cooperative>(storage);
}

const void* kernel_for(CellKind cell, GridBarrier barrier, DType storage) {
  switch (cell) {
    case CellKind::lstm:
      return kernel_of<CellKind::lstm>(barrier, storage);
    case CellKind::gru_reset_after:
      return kernel_of<CellKind::gru_reset_after>(barrier, storage);
    case CellKind::gru_reset_before:
      return kernel_of<CellKind::gru_reset_before>(barrier, storage);
    case CellKind::rnn_tanh:
      return kernel_of<CellKind::rnn_tanh>(barrier, storage);
    case CellKind::rnn_relu:
      return kernel_of<CellKind::rnn_relu>(barrier, storage);
  }
  return nullptr;  // not a CellKind: the CUDA calls given it fail (invalid device function)
}

template <class TW>
__global__ void widen_kernel(const TW* in, std::size_t n, float* out) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x) {
    out[i] = widen(in[i]);
  }
}

}  // namespace

PersistentSmem persistent_smem(CellKind cell, DType storage, int H, int units, int B, bool mma) {
  const std::size_t weight_bytes = storage == DType::f32 ? sizeof(float) : 2;
  return smem_layout(cell, weight_bytes, H, units, B, mma);
}

std::size_t persistent_shared_bytes(CellKind cell, DType storage, int H, int units, int B,
                                    bool mma) {
  return persistent_smem(cell, storage, H, units, B, mma).total;
}

namespace {

// A launch that failed leaves its error as the thread's last error; clear it, so that the next
// launch's check does not report it again.
cudaError_t forget(cudaError_t status) {
  if (status != cudaSuccess) (void)cudaGetLastError();
  return status;
}

}  // namespace

cudaError_t prepare_persistent_kernel(CellKind cell, GridBarrier barrier, DType storage,
                                      std::size_t shared_optin) {
  // The device's ceiling, not one call's size: every plan sets the same value, so plans on
  // several threads cannot race each other into a smaller one.
  return forget(cudaFuncSetAttribute(kernel_for(cell, barrier, storage),
                                     cudaFuncAttributeMaxDynamicSharedMemorySize,
                                     static_cast<int>(shared_optin)));
}

bool persistent_mma_possible(CellKind cell, GridBarrier barrier, DType storage, int H) {
  if (storage == DType::f32 || H % 16 != 0) return false;
  switch (cell) {
    case CellKind::lstm:
    case CellKind::gru_reset_after:
    case CellKind::rnn_tanh:
    case CellKind::rnn_relu:
      break;
    case CellKind::gru_reset_before:
      return false;  // its two rounds need separate row ranges of z (persistent_layer_kernel)
  }
  cudaFuncAttributes attributes{};
  if (forget(cudaFuncGetAttributes(&attributes, kernel_for(cell, barrier, storage))) !=
      cudaSuccess) {
    return false;
  }
  return attributes.ptxVersion >= 80;
}

cudaError_t persistent_blocks_per_sm(CellKind cell, GridBarrier barrier, DType storage,
                                     std::size_t shared, int* blocks) {
  return forget(cudaOccupancyMaxActiveBlocksPerMultiprocessor(
      blocks, kernel_for(cell, barrier, storage), kPersistentThreads, shared));
}

cudaError_t launch_persistent_layer(CellKind cell, GridBarrier barrier, DType storage,
                                    const PersistentLayerArgs& args, cudaStream_t stream) {
  const void* kernel = kernel_for(cell, barrier, storage);
  const std::size_t shared =
      persistent_shared_bytes(cell, storage, args.H, args.units, args.B, args.mma);
  const unsigned blocks =
      static_cast<unsigned>(args.directions * ((args.H + args.units - 1) / args.units));
  PersistentLayerArgs copy = args;
  void* params[] = {&copy};
  return forget(cudaLaunchCooperativeKernel(kernel, dim3(blocks), dim3(kPersistentThreads), params,
                                            shared, stream));
}

cudaError_t launch_barrier_only(GridBarrier barrier, int blocks, int steps, unsigned* words,
                                cudaStream_t stream) {
  const void* kernel =
      barrier == GridBarrier::flags
          ? reinterpret_cast<const void*>(&barrier_only_kernel<GridBarrier::flags>)
          : reinterpret_cast<const void*>(&barrier_only_kernel<GridBarrier::cooperative>);
  void* params[] = {&steps, &words};
  return forget(cudaLaunchCooperativeKernel(kernel, dim3(blocks), dim3(kPersistentThreads), params,
                                            0, stream));
}

cudaError_t widen_to_float(cudaStream_t stream, DType storage, const void* in, std::size_t n,
                           float* out) {
  const unsigned blocks = static_cast<unsigned>(std::min<std::size_t>((n + 255) / 256, 4096));
  if (n == 0) return cudaSuccess;
  if (storage == DType::bf16) {
    widen_kernel<<<blocks, 256, 0, stream>>>(static_cast<const __nv_bfloat16*>(in), n, out);
  } else {
    widen_kernel<<<blocks, 256, 0, stream>>>(static_cast<const __half*>(in), n, out);
  }
  return cudaGetLastError();
}

cudaError_t launch_empty(cudaStream_t stream) {
  empty_kernel<<<1, 32, 0, stream>>>();
  return cudaGetLastError();
}

}  // namespace rnnx::gpu
