/* Scratch memory of the Cortex-M DSP kernels: activations and weights unpacked to 16-bit lanes
 * for SMLAD. It is a static part of the model's arena: the planner adds the largest need of
 * any step to the arena of DSP builds (dmc.core.planner.arm_dsp_scratch_bytes, which mirrors
 * the sizes below), and the generated predict() hands the region to the kernels with
 * set_scratch() before its first step. A kernel whose need exceeds the region (or that runs
 * without one) returns false and the portable kernel runs instead: slower, the same result.
 *
 * Needs, in bytes (P = the filter length rounded up to a multiple of 4):
 *   conv2d:  4 * column_stride(P) (the columns of 4 windows) + 2 * P * min(out_c, kChannels)
 *   linear:  2 * in_features rounded up to a multiple of 8
 * plus 3 bytes to align the region to 4 bytes (the arena itself is a byte array). */
#ifndef DMC_KERNELS_ARM_SCRATCH_H
#define DMC_KERNELS_ARM_SCRATCH_H

#include "../../platform.h"

namespace dmc {
namespace arm {

const uint8_t kWindows = 4;    // conv2d windows per pass over the weights (a 2x2 pool: all of them)
const uint8_t kChannels = 16;  // conv2d output channels whose weights are unpacked at once

/* Bytes between the columns of two windows: a compile-time offset of the LDRDs in the inner
 * loop (at most 340, so that 3 strides fit LDRD's 8-bit word offset); 0 when P is too long. */
inline uint16_t column_stride(uint32_t padded_filter) {
  const uint32_t b = 2 * padded_filter;
  return b <= 64 ? 64 : b <= 128 ? 128 : b <= 256 ? 256 : b <= 336 ? 336 : 0;
}

struct ScratchRegion {
  uint8_t *begin;
  uint32_t bytes;
};

template <int>
struct ScratchHolder {
  static ScratchRegion region;
};
template <int I>
ScratchRegion ScratchHolder<I>::region = {0, 0};

/* The region [p, p + bytes) of the arena, aligned here to 4 bytes. */
inline void set_scratch(uint8_t *p, uint32_t bytes) {
  const uint32_t skip = (uint32_t)(-(uintptr_t)p) & 3u;
  ScratchRegion &r = ScratchHolder<0>::region;
  r.begin = bytes > skip ? p + skip : 0;
  r.bytes = bytes > skip ? bytes - skip : 0;
}

/* The region as 32-bit words when it holds `bytes`, else null. */
DMC_INLINE uint32_t *scratch(uint32_t bytes) {
  const ScratchRegion &r = ScratchHolder<0>::region;
  return bytes <= r.bytes ? reinterpret_cast<uint32_t *>(r.begin) : 0;
}

}  // namespace arm
}  // namespace dmc

#endif  // DMC_KERNELS_ARM_SCRATCH_H
