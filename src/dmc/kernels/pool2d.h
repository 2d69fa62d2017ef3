/* Pooling over CHW tensors; the output keeps the input's scale and zero point.
 *
 * max_pool2d: max over the window; padded positions are ignored.
 * avg_pool2d: clamp(z + rq(sum(in - z), m, s), 0, qmax) with m / 2^s ~ 1 / (KH * KW); padded
 *             positions count as zeros (count_include_pad). |sum| <= KH*KW*255: no overflow.
 * global_avg_pool: the same over each whole H x W plane, to C x 1 x 1. */
#ifndef DMC_KERNELS_POOL2D_H
#define DMC_KERNELS_POOL2D_H

#include "../packing.h"
#include "../requant.h"

DMC_OPTIMIZE_BEGIN

namespace dmc {

struct Pool2dArgs {
  uint16_t channels, in_h, in_w, out_h, out_w;
  uint8_t kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left;
  uint8_t zero_point, qmax;
  int16_t multiplier;  // avg only
  uint8_t shift;       // avg only
};

template <uint8_t B, bool AVERAGE>
void pool2d(const uint8_t *in, uint8_t *out, const Pool2dArgs *flash_args) {
  Pool2dArgs a;
  DMC_FLASH_COPY(&a, flash_args, sizeof(a));
  index_t o = 0;
  for (uint16_t c = 0; c < a.channels; ++c) {
    const index_t plane = (index_t)c * a.in_h;
    for (uint16_t py = 0; py < a.out_h; ++py) {
      for (uint16_t px = 0; px < a.out_w; ++px) {
        const int16_t y0 = (int16_t)(py * a.stride_h) - a.pad_top;
        const int16_t x0 = (int16_t)(px * a.stride_w) - a.pad_left;
        int16_t best = -1;
        int32_t sum = 0;
        for (uint8_t ky = 0; ky < a.kernel_h; ++ky) {
          const int16_t iy = (int16_t)(y0 + ky);
          if (iy < 0 || iy >= (int16_t)a.in_h) continue;
          const index_t row = (index_t)(plane + iy) * a.in_w;
          for (uint8_t kx = 0; kx < a.kernel_w; ++kx) {
            const int16_t ix = (int16_t)(x0 + kx);
            if (ix < 0 || ix >= (int16_t)a.in_w) continue;
            const int16_t v = Packed<B>::get(in, row + ix);
            if (AVERAGE) {
              sum += v - a.zero_point;
            } else if (v > best) {
              best = v;
            }
          }
        }
        const uint8_t code = AVERAGE ? requantize_to_code(sum, a.multiplier, a.shift, a.zero_point, 0, a.qmax)
                                     : (uint8_t)best;
        Packed<B>::set(out, o++, code);
      }
    }
  }
}

template <uint8_t B>
void max_pool2d(const uint8_t *in, uint8_t *out, const Pool2dArgs *flash_args) {
  pool2d<B, false>(in, out, flash_args);
}

template <uint8_t B>
void avg_pool2d(const uint8_t *in, uint8_t *out, const Pool2dArgs *flash_args) {
  pool2d<B, true>(in, out, flash_args);
}

template <uint8_t B>
void global_avg_pool(const uint8_t *in, uint8_t *out, const Pool2dArgs *flash_args) {
  Pool2dArgs a;
  DMC_FLASH_COPY(&a, flash_args, sizeof(a));
  const index_t plane = (index_t)a.in_h * a.in_w;
  for (uint16_t c = 0; c < a.channels; ++c) {
    int32_t sum = 0;
    const index_t base = (index_t)c * plane;
    for (index_t i = 0; i < plane; ++i) sum += (int16_t)Packed<B>::get(in, base + i) - a.zero_point;
    Packed<B>::set(out, c, requantize_to_code(sum, a.multiplier, a.shift, a.zero_point, 0, a.qmax));
  }
}

}  // namespace dmc

DMC_OPTIMIZE_END

#endif  // DMC_KERNELS_POOL2D_H
