/* Cortex-M DSP extension (M4, M7, M33 with DSP): packed elements as pairs of 16-bit lanes for
 * SMLAD, which adds two 16 x 16 products to a 32-bit accumulator in one instruction.
 *
 * A group is 8 consecutive elements of a packed stream (packing.h). A loader turns it into
 * four 32-bit words, each holding two elements as 16-bit lanes (low lane first), in one of two
 * orders; the dot product of two groups loaded in the same order is four SMLADs:
 *
 *   kNatural:  (e0, e2) (e1, e3) (e4, e6) (e5, e7)   8-bit data: UXTB16 / SXTB16 of a word and
 *                                                     of the word rotated by 8
 *   kNibble:   (e0, e4) (e1, e5) (e2, e6) (e3, e7)   4-bit data: the word shifted by 0, 4, 8, 12
 *                                                     and masked with 0x000F000F; 8-bit data
 *                                                     is first regrouped with PKHBT / PKHTB
 *
 * Signed 4-bit weights are loaded offset by +8 (each nibble XOR 8, so the lanes hold w + 8 in
 * [0, 15] without a sign extension); the caller subtracts 8 * sum(activations) once. All sums
 * are taken modulo 2^32, so the result is the exact integer whenever it fits int32, which the
 * exporter proves for every layer.
 *
 * Loads of 32-bit words from any byte address are single LDRs (the M4 allows unaligned LDR);
 * no loader reads a byte past the group it loads.
 */
#ifndef DMC_KERNELS_ARM_LANES_H
#define DMC_KERNELS_ARM_LANES_H

#include <arm_acle.h>

#include "../../packing.h"

DMC_OPTIMIZE_BEGIN

namespace dmc {
namespace arm {

enum LaneOrder { kNatural = 0, kNibble = 1 };

typedef uint32_t __attribute__((may_alias)) word_alias_t;  // lane words inside uint16_t buffers

DMC_INLINE uint32_t load_word(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);  // one LDR on targets with unaligned access
  return v;
}

/* SXTB16 / UXTB16 of x and of x rotated by 8 (one instruction each: GCC does not fold the
 * rotation into the extend by itself). */
DMC_INLINE uint32_t sxtb16(uint32_t x) { return (uint32_t)__sxtb16(x); }
DMC_INLINE uint32_t uxtb16(uint32_t x) { return (uint32_t)__uxtb16(x); }
DMC_INLINE uint32_t sxtb16_ror8(uint32_t x) {
  uint32_t r;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
  return r;
}
DMC_INLINE uint32_t uxtb16_ror8(uint32_t x) {
  uint32_t r;
  __asm__("uxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
  return r;
}

/* A constant the compiler must keep in a register, so that `(x >> k) & mask` becomes one AND
 * with a shifted operand instead of a shift and an AND with an immediate. */
DMC_INLINE uint32_t in_register(uint32_t v) {
  __asm__("" : "+r"(v));
  return v;
}

/* Where element j (0..7) of a group sits among the group's eight 16-bit lanes. */
DMC_INLINE uint8_t lane_slot(LaneOrder order, uint8_t j) {
  return order == kNibble ? (uint8_t)(((j & 3) << 1) | (j >> 2)) : (uint8_t)((j & 4) | ((j & 1) << 1) | ((j >> 1) & 1));
}

/* The four lane words of the group of 8 elements that starts at element `index` of a packed
 * stream of BITS-bit elements; SIGNED sign-extends (8 bits) or offsets by +8 (4 bits). */
template <uint8_t BITS, bool SIGNED, LaneOrder ORDER>
struct GroupLoader;

template <bool SIGNED, LaneOrder ORDER>
struct GroupLoader<8, SIGNED, ORDER> {
  static DMC_INLINE uint32_t ext(uint32_t x) { return SIGNED ? sxtb16(x) : uxtb16(x); }
  static DMC_INLINE uint32_t ext8(uint32_t x) { return SIGNED ? sxtb16_ror8(x) : uxtb16_ror8(x); }
  /* Group at byte p (8-bit elements are whole bytes: `odd` is unused). */
  static DMC_INLINE void load(const uint8_t *p, bool, uint32_t q[4]) {
    const uint32_t lo = load_word(p), hi = load_word(p + 4);
    if (ORDER == kNatural) {
      q[0] = ext(lo);
      q[1] = ext8(lo);
      q[2] = ext(hi);
      q[3] = ext8(hi);
    } else {
      const uint32_t x04 = (lo & 0xFFFFu) | (hi << 16);          // PKHBT: bytes e0 e1 e4 e5
      const uint32_t x26 = (hi & 0xFFFF0000u) | (lo >> 16);      // PKHTB: bytes e2 e3 e6 e7
      q[0] = ext(x04);
      q[1] = ext8(x04);
      q[2] = ext(x26);
      q[3] = ext8(x26);
    }
  }
  static DMC_INLINE const uint8_t *address(const uint8_t *base, uint32_t index) { return base + index; }
  static const uint8_t kGroupBytes = 8;
};

template <bool SIGNED, LaneOrder ORDER>
struct GroupLoader<4, SIGNED, ORDER> {
  /* Group at byte p, starting at its high nibble when `odd`. */
  static DMC_INLINE void load(const uint8_t *p, bool odd, uint32_t q[4]) {
    uint32_t x = load_word(p);
    if (odd) x = (x >> 4) | ((uint32_t)p[4] << 28);  // the group starts mid-byte
    if (SIGNED) x ^= 0x88888888u;                    // w + 8, see above
    const uint32_t m = in_register(0x000F000Fu);
    q[0] = x & m;
    q[1] = (x >> 4) & m;
    q[2] = (x >> 8) & m;
    q[3] = (x >> 12) & m;
  }
  static DMC_INLINE const uint8_t *address(const uint8_t *base, uint32_t index) { return base + (index >> 1); }
  static const uint8_t kGroupBytes = 4;
};

/* acc + the dot product of two groups loaded in the same order. */
DMC_INLINE int32_t dot_group(const uint32_t a[4], const uint32_t w[4], int32_t acc) {
  acc = __smlad(a[0], w[0], acc);
  acc = __smlad(a[1], w[1], acc);
  acc = __smlad(a[2], w[2], acc);
  return __smlad(a[3], w[3], acc);
}

/* A compile-time condition as a type, to choose an overload with, so that no loader is
 * instantiated for widths it does not have. */
template <bool B>
struct Enabled {};

}  // namespace arm
}  // namespace dmc

DMC_OPTIMIZE_END

#endif  // DMC_KERNELS_ARM_LANES_H
