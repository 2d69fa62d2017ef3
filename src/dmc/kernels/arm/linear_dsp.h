/* linear with the Cortex-M DSP extension: the same arithmetic as ../linear.h (read it first).
 *
 * The activations are unpacked once per call to 16-bit lanes in the scratch region
 * (scratch.h), zero padded to a multiple of 8 elements and in the lane order of the weight
 * loader (lanes.h: kNibble for 4-bit weights, kNatural for 8-bit ones), so that each group of
 * 8 weights costs one load and its unpacking, two LDRDs of activations and four SMLADs, with
 * no tail: weights after a row's end meet zero activations. 4-bit weights carry the +8 offset
 * of lanes.h, removed with 8 * sum(activations) once per call. The groups at the end of the
 * weight array are loaded from a zero-padded copy, so that nothing past the array is read.
 * Rows shorter than 8 take a plain multiply-accumulate (with the requantization of
 * requant_dsp.h), no scratch. */
#ifndef DMC_KERNELS_ARM_LINEAR_DSP_H
#define DMC_KERNELS_ARM_LINEAR_DSP_H

#include "lanes.h"
#include "requant_dsp.h"
#include "scratch.h"

DMC_OPTIMIZE_BEGIN

namespace dmc {
namespace arm {

/* Two rows of 4-bit weights `row_bytes` apart (rows on whole bytes), `groups` >= 1 groups of 8
 * against the activation lanes x (kNibble order): 24 instructions per 16 multiply-adds. */
DMC_INLINE void dot_two_rows4(const uint8_t *p, uint32_t row_bytes, const uint32_t *x, uint32_t groups, int32_t &r0,
                              int32_t &r1) {
  uint32_t w, v, t, a0, a1;
  const uint32_t m8 = 0x88888888u, mask = 0x000F000Fu;
  __asm__(
      "1:\n\t"
      "ldr %[v], [%[p], %[rs]]\n\t"
      "ldr %[w], [%[p]], #4\n\t"
      "ldrd %[a0], %[a1], [%[x]], #8\n\t"
      "eor %[w], %[w], %[m8]\n\t"
      "eor %[v], %[v], %[m8]\n\t"
      "and %[t], %[mask], %[w]\n\t"
      "smlad %[r0], %[a0], %[t], %[r0]\n\t"
      "and %[t], %[mask], %[v]\n\t"
      "smlad %[r1], %[a0], %[t], %[r1]\n\t"
      "and %[t], %[mask], %[w], lsr #4\n\t"
      "smlad %[r0], %[a1], %[t], %[r0]\n\t"
      "and %[t], %[mask], %[v], lsr #4\n\t"
      "smlad %[r1], %[a1], %[t], %[r1]\n\t"
      "ldrd %[a0], %[a1], [%[x]], #8\n\t"
      "and %[t], %[mask], %[w], lsr #8\n\t"
      "smlad %[r0], %[a0], %[t], %[r0]\n\t"
      "and %[t], %[mask], %[v], lsr #8\n\t"
      "smlad %[r1], %[a0], %[t], %[r1]\n\t"
      "and %[t], %[mask], %[w], lsr #12\n\t"
      "smlad %[r0], %[a1], %[t], %[r0]\n\t"
      "and %[t], %[mask], %[v], lsr #12\n\t"
      "smlad %[r1], %[a1], %[t], %[r1]\n\t"
      "subs %[n], %[n], #1\n\t"
      "bne 1b\n\t"
      : [p] "+r"(p), [x] "+r"(x), [n] "+r"(groups), [r0] "+r"(r0), [r1] "+r"(r1), [w] "=&r"(w), [v] "=&r"(v),
        [t] "=&r"(t), [a0] "=&r"(a0), [a1] "=&r"(a1)
      : [rs] "r"(row_bytes), [m8] "r"(m8), [mask] "r"(mask)
      : "cc", "memory");
}

template <uint8_t WB, uint8_t IB, uint8_t OB>
bool linear_dsp(const uint8_t *, uint8_t *, const LinearArgs *, Enabled<false>) {
  return false;
}

template <uint8_t WB, uint8_t IB, uint8_t OB>
bool linear_dsp(const uint8_t *in, uint8_t *out, const LinearArgs *flash_args, Enabled<true>) {
  const LaneOrder order = WB == 4 ? kNibble : kNatural;
  typedef GroupLoader<WB, true, order> Loader;
  LinearArgs a;
  DMC_FLASH_COPY(&a, flash_args, sizeof(a));
  const uint32_t n = a.in_features, groups = (n + 7) / 8;
  if (n < 8) {  // short rows: a plain multiply-accumulate beats the lane set-up (no scratch)
    WeightStream<WB> ws;
    ws.seek(a.weight, 0);  // rows follow each other in the stream
    for (uint16_t o = 0; o < a.out_features; ++o) {
      int32_t acc = DMC_READ_I32(a.bias + o);
      for (uint32_t i = 0; i < n; ++i) acc += mul_u8_s8(Packed<IB>::get(in, (index_t)i), ws.next());
      const uint16_t qi = a.per_channel ? o : 0;
      Packed<OB>::set(out, o, requantize_code(acc, DMC_READ_I16(a.multiplier + qi), DMC_READ_U8(a.shift + qi),
                                              a.out_zero_point, a.clamp_lo, a.clamp_hi));
    }
    return true;
  }
  uint32_t *x = scratch(16 * groups);
  if (!x) return false;
  uint16_t *lanes = reinterpret_cast<uint16_t *>(x);
  int32_t sum = 0;
  uint32_t i = 0;
  if (IB == 8 || order == kNibble) {  // whole groups with the lane loader (activations are unsigned)
    for (; i + 8 <= n; i += 8) {
      GroupLoader<IB, false, order>::load(in + i * IB / 8, false, x + i / 2);
      for (uint8_t j = 0; j < 4; ++j) sum = __smlad(x[i / 2 + j], 0x00010001u, sum);
    }
  }
  for (; i < 8 * groups; ++i) {
    const uint8_t v = i < n ? Packed<IB>::get(in, (index_t)i) : 0;
    lanes[(i & ~7u) + lane_slot(order, (uint8_t)(i & 7))] = v;
    sum += v;
  }
  const int32_t offset = WB == 4 ? 8 * sum : 0;  // the +8 of the 4-bit weight lanes
  const uint32_t total_bytes = ((uint32_t)a.out_features * n * WB + 7) / 8;
  uint16_t o = 0;
  if (WB == 4 && !(n & 1)) {  // rows on whole bytes: two at a time, sharing the activation loads
    const uint32_t row_bytes = n / 2;
    for (; o + 1 < a.out_features; o = (uint16_t)(o + 2)) {
      const uint32_t second = (uint32_t)(o + 1) * row_bytes;  // the second row's groups must lie inside
      if (second + 4 * groups > total_bytes) break;
      int32_t r0 = DMC_READ_I32(a.bias + o) - offset, r1 = DMC_READ_I32(a.bias + o + 1) - offset;
      dot_two_rows4(a.weight + (uint32_t)o * row_bytes, row_bytes, x, groups, r0, r1);
      const uint16_t q0 = a.per_channel ? o : 0, q1 = a.per_channel ? o + 1 : 0;
      Packed<OB>::set(out, o, requantize_code(r0, DMC_READ_I16(a.multiplier + q0), DMC_READ_U8(a.shift + q0),
                                              a.out_zero_point, a.clamp_lo, a.clamp_hi));
      Packed<OB>::set(out, o + 1, requantize_code(r1, DMC_READ_I16(a.multiplier + q1), DMC_READ_U8(a.shift + q1),
                                                  a.out_zero_point, a.clamp_lo, a.clamp_hi));
    }
  }
  for (; o < a.out_features; ++o) {
    const uint32_t row = (uint32_t)o * n;
    const uint8_t *p = Loader::address(a.weight, row);
    const bool odd = WB == 4 && (row & 1);
    int32_t acc = DMC_READ_I32(a.bias + o) - offset;
    const uint32_t *xa = x;
    // groups whose bytes (one more when a row starts mid-byte) lie inside the weight array
    const uint32_t here = (uint32_t)(p - a.weight) + (odd ? 1 : 0);
    const uint32_t inside = here < total_bytes ? (total_bytes - here) / Loader::kGroupBytes : 0;
    const uint32_t fast = inside < groups ? inside : groups;
    uint32_t g = 0;
    if (odd) {
      for (; g < fast; ++g, p += Loader::kGroupBytes, xa += 4) {
        uint32_t q[4];
        Loader::load(p, true, q);
        acc = dot_group(xa, q, acc);
      }
    } else {
      for (; g < fast; ++g, p += Loader::kGroupBytes, xa += 4) {
        uint32_t q[4];
        Loader::load(p, false, q);
        acc = dot_group(xa, q, acc);
      }
    }
    for (; g < groups; ++g, p += Loader::kGroupBytes, xa += 4) {  // the end of the array: from a zero-padded copy
      uint8_t tail[12] = {0};
      const uint32_t at = (uint32_t)(p - a.weight), left = at < total_bytes ? total_bytes - at : 0;
      memcpy(tail, p, left < sizeof tail ? left : sizeof tail);
      uint32_t q[4];
      Loader::load(tail, odd, q);
      acc = dot_group(xa, q, acc);
    }
    const uint16_t qi = a.per_channel ? o : 0;
    Packed<OB>::set(out, o, requantize_code(acc, DMC_READ_I16(a.multiplier + qi), DMC_READ_U8(a.shift + qi),
                                               a.out_zero_point, a.clamp_lo, a.clamp_hi));
  }
  return true;
}

/* Returns false (and does nothing) for 2-bit weights and, for rows of 8 or more, when the
 * scratch region is missing or too small; the caller then runs the portable kernel. */
template <uint8_t WB, uint8_t IB, uint8_t OB>
bool linear_dsp(const uint8_t *in, uint8_t *out, const LinearArgs *flash_args) {
  return linear_dsp<WB, IB, OB>(in, out, flash_args, Enabled<WB == 8 || WB == 4>());
}

}  // namespace arm
}  // namespace dmc

DMC_OPTIMIZE_END

#endif  // DMC_KERNELS_ARM_LINEAR_DSP_H
