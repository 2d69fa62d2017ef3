/* channel_mul: a C x H x W tensor times a per-channel C x 1 x 1 gate (squeeze-excitation):
 *
 *   out(c, i) = clamp(zout + rq((in(c, i) - zin) * (gate(c) - zg), m, s), 0, qmax)
 *
 * with m / 2^s ~ s_in * s_gate / s_out; |product| <= 255 * 255 fits int32 easily. Element i
 * is read before it is written, so `out` may be `in` (same bit width), never `gate`. */
#ifndef DMC_KERNELS_CHANNEL_MUL_H
#define DMC_KERNELS_CHANNEL_MUL_H

#include "../packing.h"
#include "../requant.h"

DMC_OPTIMIZE_BEGIN

namespace dmc {

struct ChannelMulArgs {
  uint16_t channels;
  index_t plane;
  int16_t multiplier;
  uint8_t shift, in_zero_point, gate_zero_point, out_zero_point, qmax;
};

template <uint8_t IB, uint8_t GB, uint8_t OB>
void channel_mul(const uint8_t *in, const uint8_t *gate, uint8_t *out, const ChannelMulArgs *flash_args) {
  ChannelMulArgs a;
  DMC_FLASH_COPY(&a, flash_args, sizeof(a));
  index_t i = 0;
  for (uint16_t c = 0; c < a.channels; ++c) {
    const int16_t g = (int16_t)Packed<GB>::get(gate, c) - a.gate_zero_point;
    for (index_t p = 0; p < a.plane; ++p, ++i) {
      const int32_t acc = (int32_t)((int16_t)Packed<IB>::get(in, i) - a.in_zero_point) * g;
      Packed<OB>::set(out, i, requantize_to_code(acc, a.multiplier, a.shift, a.out_zero_point, 0, a.qmax));
    }
  }
}

}  // namespace dmc

DMC_OPTIMIZE_END

#endif  // DMC_KERNELS_CHANNEL_MUL_H
