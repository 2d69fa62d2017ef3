/* linear with the Cortex-M DSP extension: the same arithmetic as ../linear.h (read it first).
 *
 * The activations are unpacked once per call to 16-bit lanes in the scratch region
 * (scratch.h), zero padded to a multiple of 8 elements and in the lane order of the weight
 * loader (lanes.h: kNibble for 4-bit weights, kNatural for 8-bit ones), so that each group of
 * 8 weights costs one load and its unpacking, two LDRDs of activations and four SMLADs, with
 * no tail: weights after a row's end meet zero activations. 4-bit weights carry the +8 offset
 * of lanes.h, removed with 8 * sum(activations) once per call. The groups at the end of the
 * weight array are loaded from a zero-padded copy, so that nothing past the array is read. */
#ifndef DMC_KERNELS_ARM_LINEAR_DSP_H
#define DMC_KERNELS_ARM_LINEAR_DSP_H

#include "lanes.h"
#include "requant_dsp.h"
#include "scratch.h"

DMC_OPTIMIZE_BEGIN

namespace dmc {
namespace arm {

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
  uint32_t *x = scratch(16 * groups);
  if (!x || groups == 0) return false;
  uint16_t *lanes = reinterpret_cast<uint16_t *>(x);
  int32_t sum = 0;
  for (uint32_t i = 0; i < 8 * groups; ++i) {
    const uint8_t v = i < n ? Packed<IB>::get(in, (index_t)i) : 0;
    lanes[(i & ~7u) + lane_slot(order, (uint8_t)(i & 7))] = v;
    sum += v;
  }
  const int32_t offset = WB == 4 ? 8 * sum : 0;  // the +8 of the 4-bit weight lanes
  const uint32_t total_bytes = ((uint32_t)a.out_features * n * WB + 7) / 8;
  for (uint16_t o = 0; o < a.out_features; ++o) {
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

/* Returns false (and does nothing) for 2-bit weights and when the scratch region is missing or
 * too small; the caller then runs the portable kernel. */
template <uint8_t WB, uint8_t IB, uint8_t OB>
bool linear_dsp(const uint8_t *in, uint8_t *out, const LinearArgs *flash_args) {
  return linear_dsp<WB, IB, OB>(in, out, flash_args, Enabled<WB == 8 || WB == 4>());
}

}  // namespace arm
}  // namespace dmc

DMC_OPTIMIZE_END

#endif  // DMC_KERNELS_ARM_LINEAR_DSP_H
