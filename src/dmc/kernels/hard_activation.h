/* hard_sigmoid and hard_swish, element-wise with requantization to the output's scale:
 *
 *   xi  = in - zin
 *   t   = clamp(xi * 2^F + offset, 0, 2 * offset)   F = frac_bits, offset ~ 3 * 2^F / s_in:
 *                                                   relu6(x + 3) in steps of s_in / 2^F
 *   acc = t (hard_sigmoid)  or  xi * t (hard_swish)
 *   out = clamp(zout + rq(acc, m, s), 0, qmax)      m / 2^s ~ s_in / (6 s_out 2^F) (sigmoid)
 *                                                   or s_in^2 / (6 s_out 2^F) (swish)
 *
 * The exporter bounds 2 * offset * max|xi| below 2^31. Element i is read before it is
 * written, so `out` may be `in` when both have the same bit width. */
#ifndef DMC_KERNELS_HARD_ACTIVATION_H
#define DMC_KERNELS_HARD_ACTIVATION_H

#include "../packing.h"
#include "../requant.h"

DMC_OPTIMIZE_BEGIN

namespace dmc {

struct HardActivationArgs {
  index_t size;
  int32_t offset;
  int16_t multiplier;
  uint8_t shift, frac_bits, in_zero_point, out_zero_point, qmax;
};

template <uint8_t IB, uint8_t OB, bool SWISH>
void hard_activation(const uint8_t *in, uint8_t *out, const HardActivationArgs *flash_args) {
  HardActivationArgs a;
  DMC_FLASH_COPY(&a, flash_args, sizeof(a));
  const int32_t top = 2 * a.offset;
  for (index_t i = 0; i < a.size; ++i) {
    const int16_t xi = (int16_t)Packed<IB>::get(in, i) - a.in_zero_point;
    int32_t t = (int32_t)xi * ((int32_t)1 << a.frac_bits) + a.offset;
    t = t < 0 ? 0 : t > top ? top : t;
    const int32_t acc = SWISH ? (int32_t)xi * t : t;
    Packed<OB>::set(out, i, requantize_to_code(acc, a.multiplier, a.shift, a.out_zero_point, 0, a.qmax));
  }
}

template <uint8_t IB, uint8_t OB>
void hard_sigmoid(const uint8_t *in, uint8_t *out, const HardActivationArgs *flash_args) {
  hard_activation<IB, OB, false>(in, out, flash_args);
}

template <uint8_t IB, uint8_t OB>
void hard_swish(const uint8_t *in, uint8_t *out, const HardActivationArgs *flash_args) {
  hard_activation<IB, OB, true>(in, out, flash_args);
}

}  // namespace dmc

DMC_OPTIMIZE_END

#endif  // DMC_KERNELS_HARD_ACTIVATION_H
