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

/* requantize() without a 64-bit product, for 3 <= shift <= 47 and m > 0 (every mantissa of the
 * contract): on 8-bit cores a few 16x16 multiplies instead of a 64-bit one. With
 * acc = ah * 2^16 + al (al unsigned), acc * m = H * 2^16 + L where H = ah * m (|H| < 2^30) and
 * L = al * m < 2^31. Adding R = 2^(shift-1) and flooring by 2^shift:
 *   shift >= 17: (H + (L >> 16) + 2^(shift-17)) >> (shift - 16)   (L's dropped low half is
 *                below 2^16 and cannot carry into the kept bits; every sum stays in int32)
 *   shift == 16: H + ((L + 2^15) >> 16)
 *   shift <= 15: H * 2^(16-shift) + ((L + R) >> shift)            (H * 2^16 is a multiple of
 *                2^shift); when |H| > 2^(14+shift) the exact value is beyond +2^30 or below
 *                -2^29, and +-2^30 is returned instead.
 * So the result equals requantize() whenever |requantize()| < 2^29 and otherwise has its sign
 * and a magnitude >= 2^29: the same code after requantize_to_code's clamp to 0..255. */
DMC_INLINE int32_t requantize_narrow(int32_t acc, int16_t m, uint8_t shift) {
  const int32_t h = (int32_t)(int16_t)(acc >> 16) * m;
  const uint32_t l = (uint32_t)(uint16_t)acc * (uint16_t)m;
  if (shift >= 17) return asr_i32(h + (int32_t)(l >> 16) + (int32_t)shl_u32(1, (uint8_t)(shift - 17)),
                                   (uint8_t)(shift - 16));
  if (shift == 16) return h + (int32_t)((l + 0x8000u) >> 16);
  const int32_t lim = (int32_t)shl_u32(1, (uint8_t)(14 + shift));
  if (h > lim) return (int32_t)1 << 30;
  if (h < -lim) return -((int32_t)1 << 30);
  return (int32_t)shl_u32((uint32_t)h, (uint8_t)(16 - shift)) +
         (int32_t)shr_u32(l + shl_u32(1, (uint8_t)(shift - 1)), shift);
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
DMC_INLINE uint8_t requantize_to_code_avr(int32_t acc, int16_t m, uint8_t shift, uint8_t zero_point, uint8_t lo,
                                         uint8_t hi) {
  int32_t ph;
  uint16_t pl;
  mul_32x16(acc, m, ph, pl);
  const uint8_t t = (uint8_t)(shift - 1);
  int32_t q;
  if (t >= 16) {
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

/* The narrow form serves 8-bit cores (and tests that force it with DMC_NARROW_REQUANT); 32-bit
 * cores multiply in 64 bits directly. Shifts outside [3, 47] take the 64-bit path everywhere. */
#if defined(__AVR__)
__attribute__((noinline))  // once per output: one shared copy saves flash
#endif
inline uint8_t requantize_to_code(int32_t acc, int16_t m, uint8_t shift, uint8_t zero_point,
                                  uint8_t lo, uint8_t hi) {
#if defined(__AVR__)
  if (m > 0 && shift <= 47) return requantize_to_code_avr(acc, m, shift, zero_point, lo, hi);
#endif
#if defined(DMC_NARROW_REQUANT)
  if (shift >= 3 && shift <= 47 && m > 0) {
    const int32_t v = zero_point + requantize_narrow(acc, m, shift);
    return v < lo ? lo : v > hi ? hi : (uint8_t)v;
  }
#endif
  const int64_t v = zero_point + requantize(acc, m, shift);
  return v < lo ? lo : v > hi ? hi : (uint8_t)v;
}
}  // namespace dmc

DMC_OPTIMIZE_END

#endif  // DMC_REQUANT_H
