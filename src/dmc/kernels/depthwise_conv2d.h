/* depthwise_conv2d: one KH x KW filter per channel (groups == in_c == out_c), optionally
 * fused with a following max pool. Same arithmetic, padding and overflow argument as
 * conv2d.h with the channel sum reduced to one channel; weights C x 1 x KH x KW. */
#ifndef DMC_KERNELS_DEPTHWISE_CONV2D_H
#define DMC_KERNELS_DEPTHWISE_CONV2D_H

#include "conv2d.h"

namespace dmc {

template <uint8_t WB, uint8_t IB, uint8_t OB>
void depthwise_conv2d(const uint8_t *in, uint8_t *out, const Conv2dArgs *flash_args) {
  Conv2dArgs a;
  DMC_FLASH_COPY(&a, flash_args, sizeof(a));
  const uint16_t filter_size = (uint16_t)a.kernel_h * a.kernel_w;
  const int16_t zin = a.in_zero_point;
  WeightStream<WB> w;
  index_t o = 0;
  for (uint16_t c = 0; c < a.out_c; ++c) {
    const int32_t bias = DMC_READ_I32(a.bias + c);
    const uint16_t q = a.per_channel ? c : 0;
    const int16_t m = DMC_READ_I16(a.multiplier + q);
    const uint8_t sh = DMC_READ_U8(a.shift + q);
    const index_t plane = (index_t)c * a.in_h;
    for (uint16_t py = 0; py < a.out_h; ++py) {
      for (uint16_t px = 0; px < a.out_w; ++px) {
        int32_t best = kAccMin;
        for (uint8_t dy = 0; dy < a.pool_k; ++dy) {
          for (uint8_t dx = 0; dx < a.pool_k; ++dx) {
            const int16_t y0 = (int16_t)((py * a.pool_s + dy) * a.stride_h) - a.pad_top;
            const int16_t x0 = (int16_t)((px * a.pool_s + dx) * a.stride_w) - a.pad_left;
            int32_t acc = bias;
            w.seek(a.weight, (uint32_t)c * filter_size);
            for (uint8_t ky = 0; ky < a.kernel_h; ++ky) {
              const int16_t iy = (int16_t)(y0 + ky * a.dilation_h);
              const bool row_ok = iy >= 0 && iy < (int16_t)a.in_h;
              const index_t row = (index_t)(plane + (row_ok ? iy : 0)) * a.in_w;
              for (uint8_t kx = 0; kx < a.kernel_w; ++kx) {
                const int8_t wv = w.next();
                const int16_t ix = (int16_t)(x0 + kx * a.dilation_w);
                if (row_ok && ix >= 0 && ix < (int16_t)a.in_w) {
                  acc += (int16_t)((int16_t)Packed<IB>::get(in, row + ix) - zin) * wv;
                }
              }
            }
            if (acc > best) best = acc;
          }
        }
        Packed<OB>::set(out, o++, requantize_to_code(best, m, sh, a.out_zero_point, a.clamp_lo, a.clamp_hi));
      }
    }
  }
}

}  // namespace dmc

#endif  // DMC_KERNELS_DEPTHWISE_CONV2D_H
