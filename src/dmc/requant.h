/* Integer requantization: the same definition as extras/python/dmc/fixedpoint.py.
 *
 * A real multiplier M is stored as a 15-bit mantissa m in [2^14, 2^15) and a right shift s in
 * [1, 62], M ~= m * 2^-s. Applied to an accumulator:
 *
 *     requantize(acc, m, s) = (acc * m + 2^(s-1)) >> s      (64-bit product, flooring shift:
 *                                                            round half up)
 *
 * and an output code is clamp(zero_point + requantize(acc, m, s), lo, hi), the clamp done
 * before narrowing. GCC's >> on negative signed values is arithmetic, as required. */
#ifndef DMC_REQUANT_H
#define DMC_REQUANT_H

#include "platform.h"

DMC_OPTIMIZE_BEGIN

namespace dmc {

const int32_t kAccMin = -2147483647 - 1;  // INT32_MIN without __STDC_LIMIT_MACROS

/* Unsigned activation code times signed weight, the kernels' multiply-accumulate step: a
 * single MULSU on AVR. |result| <= 255 * 128 fits int16. */
DMC_INLINE int16_t mul_u8_s8(uint8_t x, int8_t w) { return (int16_t)((int16_t)x * w); }

inline int64_t requantize(int32_t acc, int16_t m, uint8_t shift) {
  return ((int64_t)acc * m + ((int64_t)1 << (shift - 1))) >> shift;
}

inline uint8_t requantize_to_code(int32_t acc, int16_t m, uint8_t shift, uint8_t zero_point,
                                  uint8_t lo, uint8_t hi) {
  const int64_t v = zero_point + requantize(acc, m, shift);
  return v < lo ? lo : v > hi ? hi : (uint8_t)v;
}

}  // namespace dmc

DMC_OPTIMIZE_END

#endif  // DMC_REQUANT_H
