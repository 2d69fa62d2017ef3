/* requantize_to_code (../../requant.h) for the Cortex-M kernels without a 64-bit shift by a
 * variable count, which the M4 lacks (GCC emits about 20 instructions for it). With
 * P = acc * m (one SMULL) and t = shift - 1:
 *
 *     (P + 2^t) >> (t + 1) = ((P >> t) + 1) >> 1        (flooring shifts)
 *
 * and P >> t is taken from P's two words: its high word alone when t >= 32, else the low word
 * of the shifted pair, which is exact when the shifted high word is its sign extension; when it
 * is not, |P >> t| >= 2^31 and the code is the clamp bound of that sign. */
#ifndef DMC_KERNELS_ARM_REQUANT_DSP_H
#define DMC_KERNELS_ARM_REQUANT_DSP_H

#include "../../requant.h"

DMC_OPTIMIZE_BEGIN

namespace dmc {
namespace arm {

DMC_INLINE uint8_t requantize_code(int32_t acc, int16_t m, uint8_t shift, uint8_t zero_point, uint8_t lo,
                                   uint8_t hi) {
  const int64_t p = (int64_t)acc * m;
  const int32_t ph = (int32_t)(p >> 32);
  const uint32_t pl = (uint32_t)p;
  const uint32_t t = (uint32_t)shift - 1;  // 0 .. 61
  int32_t q;
  if (t >= 32) {
    q = ph >> (t - 32);
  } else if (t == 0) {
    if (ph != ((int32_t)pl >> 31)) return ph < 0 ? lo : hi;
    q = (int32_t)pl;
  } else {
    q = (int32_t)((pl >> t) | ((uint32_t)ph << (32 - t)));
    if ((ph >> t) != (q >> 31)) return ph < 0 ? lo : hi;
  }
  const int32_t v = zero_point + (q >> 1) + (q & 1);  // zero_point + ((q + 1) >> 1), no overflow
  return v < lo ? lo : v > hi ? hi : (uint8_t)v;
}

}  // namespace arm
}  // namespace dmc

DMC_OPTIMIZE_END

#endif  // DMC_KERNELS_ARM_REQUANT_DSP_H
