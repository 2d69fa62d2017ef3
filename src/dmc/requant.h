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
 * same codes come from a 48-bit product of 8x8 MULs in assembly (requantize_to_code_avr), not a
 * 64-bit one. */
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
/* requantize_to_code without 64-bit arithmetic, in assembly (a naked function on the avr-gcc
 * calling convention: acc r22-r25, m r20-r21, shift r18, zero_point r16, lo r14, hi r12, the
 * code back in r24). With P = acc * m (48 bits: eight 8x8 MULs, MULSU for acc's signed top byte)
 * and t = shift - 1, (P + 2^t) >> (t + 1) == ((P >> t) + 1) >> 1 (floors compose): P is shifted
 * right by t (whole bytes, then bits), plus one, halved, plus the zero point; a negative result
 * is clamped to lo, one above 255 to hi, the rest compared as bytes. Only call-clobbered
 * registers and Y (saved) are used; m must be positive (a contract mantissa). `const`: a call
 * touches no memory, so callers keep values across it (without it the sparse conv loop spilled). */
__attribute__((naked, noinline, const)) inline uint8_t requantize_to_code_avr(int32_t, int16_t, uint8_t, uint8_t,
                                                                              uint8_t, uint8_t) {
  asm volatile(
      "push r28\n\t"
      // an accumulator that fits 24 bits (signed) takes the short path
      "mov r19, r24\n\t" "lsl r19\n\t" "sbc r19, r19\n\t"
      "cp r19, r25\n\t"
      "brne 20f\n\t"
      "rjmp 30f\n\t"
      "20:\n\t"
      "push r29\n\t"
      // P: r26 (low) r27 r28 r29 r30 r31 (high); r19 = 0
      "clr r19\n\t"
      "mul r22, r20\n\t" "movw r26, r0\n\t"     // a0 * m0 at byte 0
      "mul r23, r21\n\t" "movw r28, r0\n\t"     // a1 * m1 at byte 2
      "clr r30\n\t" "clr r31\n\t"
      "mul r22, r21\n\t"                        // a0 * m1 at byte 1
      "add r27, r0\n\t" "adc r28, r1\n\t" "adc r29, r19\n\t" "adc r30, r19\n\t" "adc r31, r19\n\t"
      "mul r23, r20\n\t"                        // a1 * m0 at byte 1
      "add r27, r0\n\t" "adc r28, r1\n\t" "adc r29, r19\n\t" "adc r30, r19\n\t" "adc r31, r19\n\t"
      "mov r22, r25\n\t"                        // a3 where MULSU reaches it (r16-r23)
      "mul r24, r20\n\t"                        // a2 * m0 at byte 2
      "add r28, r0\n\t" "adc r29, r1\n\t" "adc r30, r19\n\t" "adc r31, r19\n\t"
      "mul r24, r21\n\t"                        // a2 * m1 at byte 3
      "add r29, r0\n\t" "adc r30, r1\n\t" "adc r31, r19\n\t"
      "mulsu r22, r21\n\t"                      // a3 * m1 at byte 4, signed: the top (mod 2^48)
      "add r30, r0\n\t" "adc r31, r1\n\t"
      "mulsu r22, r20\n\t"                      // a3 * m0 at byte 3, signed: its sign byte from C
      "sbc r23, r23\n\t"
      "add r29, r0\n\t" "adc r30, r1\n\t" "adc r31, r23\n\t"
      "clr r1\n\t"
      // P >>= t: whole bytes (the top refilled with the sign), then bits
      "subi r18, 1\n\t"
      "1:\n\t"
      "cpi r18, 8\n\t"
      "brlo 2f\n\t"
      "mov r26, r27\n\t" "mov r27, r28\n\t" "mov r28, r29\n\t" "mov r29, r30\n\t" "mov r30, r31\n\t"
      "lsl r31\n\t" "sbc r31, r31\n\t"
      "subi r18, 8\n\t"
      "rjmp 1b\n\t"
      "2:\n\t"
      "tst r18\n\t"
      "breq 4f\n\t"
      "3:\n\t"
      "asr r31\n\t" "ror r30\n\t" "ror r29\n\t" "ror r28\n\t" "ror r27\n\t" "ror r26\n\t"
      "dec r18\n\t"
      "brne 3b\n\t"
      "4:\n\t"
      // + 1, >> 1, + zero_point
      "subi r26, 0xFF\n\t" "sbci r27, 0xFF\n\t" "sbci r28, 0xFF\n\t" "sbci r29, 0xFF\n\t" "sbci r30, 0xFF\n\t"
      "sbci r31, 0xFF\n\t"
      "asr r31\n\t" "ror r30\n\t" "ror r29\n\t" "ror r28\n\t" "ror r27\n\t" "ror r26\n\t"
      "add r26, r16\n\t" "adc r27, r19\n\t" "adc r28, r19\n\t" "adc r29, r19\n\t" "adc r30, r19\n\t"
      "adc r31, r19\n\t"
      // clamp: negative -> lo, above 255 -> hi, else the byte between lo and hi
      "sbrc r31, 7\n\t"
      "rjmp 6f\n\t"
      "or r27, r28\n\t" "or r27, r29\n\t" "or r27, r30\n\t" "or r27, r31\n\t"
      "brne 7f\n\t"
      "cp r26, r14\n\t"
      "brlo 6f\n\t"
      "cp r12, r26\n\t"
      "brlo 7f\n\t"
      "mov r24, r26\n\t"
      "rjmp 9f\n\t"
      "6:\n\t"
      "mov r24, r14\n\t"
      "rjmp 9f\n\t"
      "7:\n\t"
      "mov r24, r12\n\t"
      "9:\n\t"
      "pop r29\n\t"
      "pop r28\n\t"
      "ret\n\t"
      // The short path: P = acc * m in 40 bits (six MULs of the unsigned bytes, then m * 2^24
      // taken off for a negative acc; r19 = its sign fill), r28 = 0. With t = shift - 1,
      // q = t / 8 and r = t % 8, the bytes q..q+2 of P are P >> 8q unless higher bytes say it
      // does not fit 24 bits (then the code saturates by the sign); that is shifted right by r,
      // and + 1, >> 1 and + zero point are done in 32 bits before the clamp.
      "30:\n\t"
      "clr r28\n\t"
      "mul r22, r20\n\t" "movw r26, r0\n\t"   // a0 * m0 at byte 0
      "mul r23, r21\n\t" "movw r30, r0\n\t"   // a1 * m1 at byte 2
      "mul r24, r21\n\t"                        // a2 * m1 at byte 3
      "mov r25, r1\n\t" "add r31, r0\n\t" "adc r25, r28\n\t"
      "mul r22, r21\n\t"                        // a0 * m1 at byte 1
      "add r27, r0\n\t" "adc r30, r1\n\t" "adc r31, r28\n\t" "adc r25, r28\n\t"
      "mul r23, r20\n\t"                        // a1 * m0 at byte 1
      "add r27, r0\n\t" "adc r30, r1\n\t" "adc r31, r28\n\t" "adc r25, r28\n\t"
      "mul r24, r20\n\t"                        // a2 * m0 at byte 2
      "add r30, r0\n\t" "adc r31, r1\n\t" "adc r25, r28\n\t"
      "sbrs r19, 0\n\t"
      "rjmp 31f\n\t"
      "sub r31, r20\n\t" "sbc r25, r21\n\t"  // signed: - m * 2^24
      "31:\n\t"
      "subi r18, 1\n\t"                         // t
      "mov r20, r18\n\t" "andi r20, 7\n\t"   // r
      "lsr r18\n\t" "lsr r18\n\t" "lsr r18\n\t"   // q
      "mov r19, r25\n\t" "lsl r19\n\t" "sbc r19, r19\n\t"   // the sign fill of P
      "cpi r18, 2\n\t"
      "breq 42f\n\t"
      "brlo 40f\n\t"
      "cpi r18, 4\n\t"
      "breq 44f\n\t"
      "brlo 43f\n\t"
      "mov r24, r16\n\t"                        // q >= 5: P >> t is 0 or -1, rounding to 0
      "rjmp 52f\n\t"
      "40:\n\t"
      "tst r18\n\t"
      "brne 41f\n\t"
      "mov r22, r26\n\t" "mov r23, r27\n\t" "mov r24, r30\n\t"   // q = 0
      "mov r21, r30\n\t" "lsl r21\n\t" "sbc r21, r21\n\t"
      "cp r21, r31\n\t" "brne 49f\n\t"
      "cp r21, r25\n\t" "brne 49f\n\t"
      "rjmp 50f\n\t"
      "41:\n\t"
      "mov r22, r27\n\t" "mov r23, r30\n\t" "mov r24, r31\n\t"   // q = 1
      "mov r21, r31\n\t" "lsl r21\n\t" "sbc r21, r21\n\t"
      "cp r21, r25\n\t" "brne 49f\n\t"
      "rjmp 50f\n\t"
      "43:\n\t"
      "mov r22, r31\n\t" "mov r23, r25\n\t" "mov r24, r19\n\t"   // q = 3
      "rjmp 50f\n\t"
      "44:\n\t"
      "mov r22, r25\n\t" "mov r23, r19\n\t" "mov r24, r19\n\t"   // q = 4
      "rjmp 50f\n\t"
      "49:\n\t"                                  // beyond 24 bits: saturated by the sign
      "sbrc r25, 7\n\t"
      "rjmp 56f\n\t"
      "rjmp 57f\n\t"
      "42:\n\t"
      "mov r22, r30\n\t" "mov r23, r31\n\t" "mov r24, r25\n\t"   // q = 2 (the common case: no jump)
      "50:\n\t"
      "tst r20\n\t"
      "breq 51f\n\t"
      "55:\n\t"
      "asr r24\n\t" "ror r23\n\t" "ror r22\n\t"
      "dec r20\n\t"
      "brne 55b\n\t"
      "51:\n\t"
      "mov r21, r24\n\t" "lsl r21\n\t" "sbc r21, r21\n\t"
      "subi r22, 0xFF\n\t" "sbci r23, 0xFF\n\t" "sbci r24, 0xFF\n\t" "sbci r21, 0xFF\n\t"   // + 1
      "asr r21\n\t" "ror r24\n\t" "ror r23\n\t" "ror r22\n\t"                                 // >> 1
      "add r22, r16\n\t" "adc r23, r28\n\t" "adc r24, r28\n\t" "adc r21, r28\n\t"           // + zp
      "sbrc r21, 7\n\t"
      "rjmp 56f\n\t"
      "or r23, r24\n\t" "or r23, r21\n\t"
      "brne 57f\n\t"
      "mov r24, r22\n\t"
      "52:\n\t"                                  // a code 0..255 in r24, clamped to [lo, hi]
      "cp r24, r14\n\t"
      "brlo 56f\n\t"
      "cp r12, r24\n\t"
      "brlo 57f\n\t"
      "rjmp 58f\n\t"
      "56:\n\t"
      "mov r24, r14\n\t"
      "rjmp 58f\n\t"
      "57:\n\t"
      "mov r24, r12\n\t"
      "58:\n\t"
      "clr r1\n\t"
      "pop r28\n\t"
      "ret\n\t");
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
