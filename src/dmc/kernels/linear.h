/* linear: out[o] = clamp(zout + rq(bias[o] + sum_i (in[i] - zin) * w[o][i], m, s), lo, hi).
 * Weights OUT x IN, signed WB-bit, one flat stream in flash (rows are not padded, so row o
 * starts at element o * IN). As in conv2d.h the stored bias has the zero point folded in, so
 * the loop is sum(in * w); overflow is excluded by the exporter. */
#ifndef DMC_KERNELS_LINEAR_H
#define DMC_KERNELS_LINEAR_H

#include "../packing.h"
#include "../requant.h"
#include "dot.h"

DMC_OPTIMIZE_BEGIN

namespace dmc {

struct LinearArgs {
  const uint8_t *weight;
  const int32_t *bias;
  const int16_t *multiplier;
  const uint8_t *shift;
  uint16_t in_features, out_features;
  uint8_t in_zero_point, out_zero_point, clamp_lo, clamp_hi;  // in_zero_point: folded into bias
  uint8_t per_channel;
};

}  // namespace dmc

#include "avr/linear.h"
#if DMC_ARM_DSP
#include "arm/linear_dsp.h"
#endif

namespace dmc {

template <uint8_t WB, uint8_t IB, uint8_t OB>
void linear(const uint8_t *in, uint8_t *out, const LinearArgs *flash_args) {
#if DMC_ARM_DSP
  if (arm::linear_dsp<WB, IB, OB>(in, out, flash_args)) return;
#endif
#if defined(__AVR__)  // the one dispatch to the AVR inner loop
  avr::memory_barrier();
  avr::linear_rows<WB, IB, OB>(in, out, flash_args);
  return;
#endif
  LinearArgs a;
  DMC_FLASH_COPY(&a, flash_args, sizeof(a));
  WeightStream<WB> w;
  w.seek(a.weight, 0);  // rows follow each other in the stream
  for (uint16_t o = 0; o < a.out_features; ++o) {
    const int32_t acc = DMC_READ_I32(a.bias + o) + dot<WB, IB>(in, 0, a.in_features, w);
    const uint16_t q = a.per_channel ? o : 0;
    Packed<OB>::set(out, o, requantize_to_code(acc, DMC_READ_I16(a.multiplier + q), DMC_READ_U8(a.shift + q),
                                               a.out_zero_point, a.clamp_lo, a.clamp_hi));
  }
}

}  // namespace dmc

DMC_OPTIMIZE_END

#endif  // DMC_KERNELS_LINEAR_H
