/* depthwise_conv2d: one KH x KW filter per channel (groups == in_c == out_c), optionally
 * fused with a following max pool. Same arithmetic, folded bias, padding and overflow argument
 * as conv2d.h with the channel sum reduced to the channel itself; weights C x 1 x KH x KW. */
#ifndef DMC_KERNELS_DEPTHWISE_CONV2D_H
#define DMC_KERNELS_DEPTHWISE_CONV2D_H

#include "conv2d.h"

DMC_OPTIMIZE_BEGIN

namespace dmc {

template <uint8_t WB, uint8_t IB, uint8_t OB>
void depthwise_conv2d(const uint8_t *in, uint8_t *out, const Conv2dArgs *flash_args) {
  Conv2dArgs a;
  DMC_FLASH_COPY(&a, flash_args, sizeof(a));
  const uint16_t filter_size = (uint16_t)a.kernel_h * a.kernel_w;
  WeightStream<WB> w;
  index_t o = 0;
  for (uint16_t c = 0; c < a.out_c; ++c) {
    const int32_t bias = DMC_READ_I32(a.bias + c);
    const uint16_t q = a.per_channel ? c : 0;
    const int16_t m = DMC_READ_I16(a.multiplier + q);
    const uint8_t sh = DMC_READ_U8(a.shift + q);
    const uint32_t filter = (uint32_t)c * filter_size;
    for (uint16_t py = 0; py < a.out_h; ++py) {
      for (uint16_t px = 0; px < a.out_w; ++px) {
        int32_t best = kAccMin;
        for (uint8_t dy = 0; dy < a.pool_k; ++dy) {
          const int16_t y0 = (int16_t)((py * a.pool_s + dy) * a.stride_h) - a.pad_top;
          for (uint8_t dx = 0; dx < a.pool_k; ++dx) {
            const int16_t x0 = (int16_t)((px * a.pool_s + dx) * a.stride_w) - a.pad_left;
            w.seek(a.weight, filter);
            const int32_t acc = conv_window<WB, IB>(in, a, w, c, 1, y0, x0, bias);
            if (acc > best) best = acc;
          }
        }
        Packed<OB>::set(out, o++, requantize_to_code(best, m, sh, a.out_zero_point, a.clamp_lo, a.clamp_hi));
      }
    }
  }
}

}  // namespace dmc

DMC_OPTIMIZE_END

#endif  // DMC_KERNELS_DEPTHWISE_CONV2D_H
