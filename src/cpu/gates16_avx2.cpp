// Compiled with -mavx2 -mfma (src/CMakeLists.txt) and nothing but the cell math on Lanes8 in it:
// see src/cpu/lanes16.h for why nothing else may be instantiated here.
#include "cpu/gates16_math.h"
#include "cpu/lanes8.h"

namespace rnnx::cpu::avx2 {

extern const Gates16 gates16_table;
const Gates16 gates16_table = gates_math::gates16<Lanes8>();

}  // namespace rnnx::cpu::avx2
