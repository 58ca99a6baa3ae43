// The fused row kernels compiled for avx2 (flags set in CMakeLists.txt).
#define SLUICE_ISA_AVX2 1
// System headers first: ops_impl.h is included inside a namespace below.
#include <cstdint>
#include <cstring>
#include <immintrin.h>

#include "kernels/cpu/kernel_table.h"

namespace sluice::cpu {
namespace isa_avx2 {  // own namespace: see simd_vec.h on ODR
#include "kernels/cpu/ops_impl.h"
}  // namespace isa_avx2

const KernelTable kAvx2Kernels = isa_avx2::make_table("avx2");

}  // namespace sluice::cpu
