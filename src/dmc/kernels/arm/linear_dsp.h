/* linear with the Cortex-M DSP extension: the same arithmetic as ../linear.h (read it first),
 * each row's dot product taken 8 elements at a time with four SMLADs (lanes.h), the last
 * in_features % 8 elements with the portable multiply-accumulate.
 *
 * Activations and weights are both read packed, in the lane order that suits the narrower of
 * the two (kNibble when either is 4-bit). For 4-bit weights the offset sum 8 * sum(in) over
 * the grouped elements is the same for every row: it is computed once per call. */
#ifndef DMC_KERNELS_ARM_LINEAR_DSP_H
#define DMC_KERNELS_ARM_LINEAR_DSP_H

#include "lanes.h"

DMC_OPTIMIZE_BEGIN

namespace dmc {
namespace arm {

template <uint8_t WB, uint8_t IB, uint8_t OB>
bool linear_dsp(const uint8_t *, uint8_t *, const LinearArgs *, Enabled<false>) {
  return false;
}

template <uint8_t WB, uint8_t IB, uint8_t OB>
bool linear_dsp(const uint8_t *in, uint8_t *out, const LinearArgs *flash_args, Enabled<true>) {
  const LaneOrder order = (WB == 4 || IB == 4) ? kNibble : kNatural;
  LinearArgs a;
  DMC_FLASH_COPY(&a, flash_args, sizeof(a));
  const uint16_t groups = (uint16_t)(a.in_features >> 3), grouped = (uint16_t)(groups << 3);
  int32_t offset = 0;  // 8 * sum of the grouped activations, for the +8 offset of 4-bit weights
  if (WB == 4) {
    for (uint16_t i = 0; i < grouped; ++i) offset += Packed<IB>::get(in, i);
    offset *= 8;
  }
  WeightStream<WB> tail;
  for (uint16_t o = 0; o < a.out_features; ++o) {
    const uint32_t row = (uint32_t)o * a.in_features;
    int32_t acc = DMC_READ_I32(a.bias + o) - offset;
    const uint8_t *pa = in;  // activations: group g starts at element 8 g, a whole byte
    auto step = [&](uint16_t, const uint32_t *w) {
      uint32_t x[4];
      GroupLoader<IB, false, order>::load(pa, false, x);
      pa += GroupLoader<IB, false, order>::kGroupBytes;
      acc = dot_group(x, w, acc);
    };
    for_each_group<WB, true, order>(a.weight, row, groups, step);
    tail.seek(a.weight, row + grouped);
    for (uint16_t i = grouped; i < a.in_features; ++i) acc += mul_u8_s8(Packed<IB>::get(in, i), tail.next());
    const uint16_t q = a.per_channel ? o : 0;
    Packed<OB>::set(out, o, requantize_to_code(acc, DMC_READ_I16(a.multiplier + q), DMC_READ_U8(a.shift + q),
                                               a.out_zero_point, a.clamp_lo, a.clamp_hi));
  }
  return true;
}

/* Returns false (and does nothing) for the bit widths it has no lanes for. */
template <uint8_t WB, uint8_t IB, uint8_t OB>
bool linear_dsp(const uint8_t *in, uint8_t *out, const LinearArgs *flash_args) {
  return linear_dsp<WB, IB, OB>(in, out, flash_args, HasLanes<WB, IB>());
}

}  // namespace arm
}  // namespace dmc

DMC_OPTIMIZE_END

#endif  // DMC_KERNELS_ARM_LINEAR_DSP_H
