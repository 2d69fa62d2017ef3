/* Integer requantization: the same definition as extras/python/dmc/fixedpoint.py.
 *
 * A real multiplier M is stored as a 15-bit mantissa m in [2^14, 2^15) and a right shift s in
 * [1, 62], M ~= m * 2^-s. Applied to an accumulator:
 *
 *     requantize(acc, m, s) = (acc * m + 2^(s-1)) >> s      (64-bit product, flooring shift:
 *                                                            round half up)
 *
 * and an output code is clamp(zero_point + requantize(acc, m, s), lo, hi), the clamp done
 * before narrowing. GCC's >> on negative signed values is arithmetic, as required. On AVR the
 * same codes come from a 32x16 product of 8x8 MULs (requantize_to_code_avr), not a 64-bit one. */
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

/* Variable shifts by constant steps: 8-bit cores shift one bit per loop turn otherwise. */
DMC_INLINE uint32_t shr_u32(uint32_t v, uint8_t n) {
  if (n & 16) v >>= 16;
  if (n & 8) v >>= 8;
  if (n & 4) v >>= 4;
  if (n & 2) v >>= 2;
  if (n & 1) v >>= 1;
  return v;
}
DMC_INLINE int32_t asr_i32(int32_t v, uint8_t n) {  // arithmetic (flooring) shift, n < 32
  if (n & 16) v >>= 16;
  if (n & 8) v >>= 8;
  if (n & 4) v >>= 4;
  if (n & 2) v >>= 2;
  if (n & 1) v >>= 1;
  return v;
}
DMC_INLINE uint32_t shl_u32(uint32_t v, uint8_t n) {
  if (n & 16) v <<= 16;
  if (n & 8) v <<= 8;
  if (n & 4) v <<= 4;
  if (n & 2) v <<= 2;
  if (n & 1) v <<= 1;
  return v;
}

#if defined(__AVR__)
/* acc * m as a 48-bit product: (hi32 << 16) + lo16, eight 8x8 MULs (MULSU for acc's signed top
 * byte, whose sign MULSU leaves in the carry). m must be positive (a contract mantissa). */
DMC_INLINE void mul_32x16(int32_t acc, int16_t m, int32_t &hi, uint16_t &lo) {
  uint8_t zero, sx;
  asm("clr %[z]\n\t"
      "mul %A[a], %A[m]\n\t" "movw %A[lo], r0\n\t"
      "mul %B[a], %B[m]\n\t" "movw %A[hi], r0\n\t"
      "mulsu %D[a], %B[m]\n\t" "movw %C[hi], r0\n\t"
      "mul %A[a], %B[m]\n\t" "add %B[lo], r0\n\t" "adc %A[hi], r1\n\t" "adc %B[hi], %[z]\n\t"
      "adc %C[hi], %[z]\n\t" "adc %D[hi], %[z]\n\t"
      "mul %B[a], %A[m]\n\t" "add %B[lo], r0\n\t" "adc %A[hi], r1\n\t" "adc %B[hi], %[z]\n\t"
      "adc %C[hi], %[z]\n\t" "adc %D[hi], %[z]\n\t"
      "mul %C[a], %A[m]\n\t" "add %A[hi], r0\n\t" "adc %B[hi], r1\n\t" "adc %C[hi], %[z]\n\t"
      "adc %D[hi], %[z]\n\t"
      "mul %C[a], %B[m]\n\t" "add %B[hi], r0\n\t" "adc %C[hi], r1\n\t" "adc %D[hi], %[z]\n\t"
      "mulsu %D[a], %A[m]\n\t" "sbc %[sx], %[sx]\n\t" "add %B[hi], r0\n\t" "adc %C[hi], r1\n\t"
      "adc %D[hi], %[sx]\n\t"
      "clr __zero_reg__"
      : [hi] "=&r"(hi), [lo] "=&r"(lo), [z] "=&r"(zero), [sx] "=&r"(sx)
      : [a] "a"(acc), [m] "a"(m));
}

/* requantize_to_code without 64-bit arithmetic: with P = acc * m (48 bits) and t = shift - 1,
 * (P + 2^t) >> (t + 1) == ((P >> t) + 1) >> 1 (floors compose), so only P >> t is needed:
 * P's high 32 bits shifted when t >= 16; when t < 16 the bits of both halves, which fit int32
 * unless |hi| >= 2^15, and then the code is clamped to lo or hi whatever the rest. */
__attribute__((noinline)) inline uint8_t requantize_to_code_avr(int32_t acc, int16_t m, uint8_t shift,
                                                                uint8_t zero_point, uint8_t lo, uint8_t hi) {
  int32_t ph;
  uint16_t pl;
  mul_32x16(acc, m, ph, pl);
  const uint8_t t = (uint8_t)(shift - 1);
  int32_t q;
  if (t >= 47) {
    q = ph < 0 ? -1 : 0;  // |acc * m| < 2^46: only the sign is left, and (q + 1) >> 1 == 0
  } else if (t >= 16) {
    q = asr_i32(ph, (uint8_t)(t - 16));
  } else if (ph >= 32768) {
    return hi;
  } else if (ph < -32768) {
    return lo;
  } else {
    q = (int32_t)shl_u32((uint32_t)ph, (uint8_t)(16 - t)) + (int32_t)shr_u32(pl, t);
  }
  const int32_t v = zero_point + ((q + 1) >> 1);
  return v < lo ? lo : v > hi ? hi : (uint8_t)v;
}
#endif

/* The code with the 64-bit product (32-bit cores). */
inline uint8_t requantize_to_code_wide(int32_t acc, int16_t m, uint8_t shift, uint8_t zero_point, uint8_t lo,
                                       uint8_t hi);

/* On AVR the 32x16 form, out of line (one shared copy saves flash; it keeps few registers live,
 * so that its calls stay cheap); it needs m > 0, as every mantissa of the contract (and the add
 * kernel's 1) is. */
#if defined(__AVR__)
DMC_INLINE
#else
inline
#endif
uint8_t requantize_to_code(int32_t acc, int16_t m, uint8_t shift, uint8_t zero_point, uint8_t lo, uint8_t hi) {
#if defined(__AVR__)
  return requantize_to_code_avr(acc, m, shift, zero_point, lo, hi);  // m > 0: every contract mantissa
#else
  return requantize_to_code_wide(acc, m, shift, zero_point, lo, hi);
#endif
}

inline uint8_t requantize_to_code_wide(int32_t acc, int16_t m, uint8_t shift, uint8_t zero_point, uint8_t lo,
                                       uint8_t hi) {
  const int64_t v = zero_point + requantize(acc, m, shift);
  return v < lo ? lo : v > hi ? hi : (uint8_t)v;
}
}  // namespace dmc

DMC_OPTIMIZE_END

#endif  // DMC_REQUANT_H
