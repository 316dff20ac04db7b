// Which of the gate maths built for several instruction sets this CPU runs. Built with the
// library's default flags: it runs on every CPU.
#include "cpu/gates16.h"

#include "rnnx/error.h"

namespace rnnx::cpu {

#if defined(__x86_64__)

namespace avx512 {
extern const Gates16 gates16_table;
}
namespace avx2 {
extern const Gates16 gates16_table;
}

VectorIsa vector_isa() {
  // Asked at the first call, not in a static initializer, which may run before the CPU's
  // features are read.
  static const VectorIsa isa = [] {
    // Every path that asks also uses AVX2 and FMA (the small-batch path's code is AVX2's).
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return VectorIsa::none;
    return __builtin_cpu_supports("avx512f") ? VectorIsa::avx512 : VectorIsa::avx2;
  }();
  return isa;
}

const Gates16& gates16(VectorIsa isa) {
  switch (isa) {
    case VectorIsa::avx512:
      return avx512::gates16_table;
    case VectorIsa::avx2:
      return avx2::gates16_table;
    case VectorIsa::none:
      break;
  }
  throw Error(Status::unsupported,
              "cpu engine: no vector gate math for this processor (it needs AVX2 with FMA)");
}

#else

VectorIsa vector_isa() {
  return VectorIsa::none;
}

const Gates16& gates16(VectorIsa) {
  throw Error(Status::unsupported,
              "cpu engine: no vector gate math for this processor (it needs x86-64 with AVX2)");
}

#endif

}  // namespace rnnx::cpu
