/* sparse_conv2d / sparse_depthwise_conv2d: conv2d.h and depthwise_conv2d.h with their filters
 * in nibble-step CSR (sparse_dot.h), the "dcsr" storage of the artifact. Row oc of the stream
 * is filter oc flattened as (channel, ky, kx) -- (ky, kx) for depthwise -- so a code's column
 * step is walked with three counters (no division): kx advances, wrapping into ky, then into
 * the channel. Only nonzero weights are multiplied. Same arithmetic, folded bias, padding with
 * the zero point, overflow argument and fused max pool as conv2d.h; bit-exact with it. */
#ifndef DMC_KERNELS_SPARSE_CONV2D_H
#define DMC_KERNELS_SPARSE_CONV2D_H

#include "../packing.h"
#include "../requant.h"
#include "conv2d.h"
#include "sparse_dot.h"

DMC_OPTIMIZE_BEGIN

namespace dmc {

struct SparseConv2dArgs {
  const uint8_t *stream;      // flash: filters in nibble-step CSR, row after row
  const uint16_t *row_bytes;  // flash: code bytes per filter
  const int32_t *bias;        // flash: out_c int32, zero point folded in (see conv2d.h)
  const int16_t *multiplier;  // flash: out_c (per channel) or 1
  const uint8_t *shift;       // flash: out_c (per channel) or 1
  uint16_t in_c, in_h, in_w;
  uint16_t out_c, out_h, out_w;  // after the fused pool
  uint8_t kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left;
  uint8_t pool_k, pool_s;
  uint8_t in_zero_point, out_zero_point, clamp_lo, clamp_hi;
  uint8_t per_channel;
};

/* One filter (its row of `nbytes` code bytes at `p`) at window origin (y0, x0), channels from c0. */
/* Per-layer constants of the window loop, computed once per call of the kernel. */
struct SparseConvGeometry {
  index_t plane;        // in_h * in_w
  uint16_t y_end, x_end;  // a window is inside the input iff 0 <= y0 < y_end and 0 <= x0 < x_end
};

template <uint8_t WB, uint8_t IB>
DMC_INLINE int32_t sparse_conv_window(const uint8_t *in, const SparseConv2dArgs &a, const SparseConvGeometry &g,
                                      const uint8_t *p, uint16_t nbytes, uint16_t c0, int16_t y0, int16_t x0,
                                      int32_t bias) {
  const index_t plane = g.plane;
  // unsigned compares: a negative origin wraps to a large value and fails them
  const bool inside = (uint16_t)y0 < g.y_end && (uint16_t)x0 < g.x_end;
  SparseAccumulator<WB, IB> acc;
  int16_t kx = -1;  // one before the filter: a code's "+1" lands on its column
  uint8_t ky = 0;
  if (IB == 8 && inside && a.dilation_w == 1) {
    // interior window: a pointer to the current filter row walks the input, no bounds checks
    const index_t row_step = (index_t)a.dilation_h * a.in_w;
    const uint8_t *chan = in + (index_t)c0 * plane + (index_t)y0 * a.in_w + (index_t)x0;
    const uint8_t *rowp = chan;
    const uint8_t kw = a.kernel_w, kh = a.kernel_h;
    uint8_t col = 0xFF;  // kx as a byte: 0xFF + step wraps to the first column
    while (nbytes) {
      --nbytes;
      const uint8_t b = DMC_READ_U8(p++);
      uint8_t fields = 0;
      if (WB != 8 && b != 0xFF) fields = DMC_READ_U8(p++);
      uint8_t c = (uint8_t)(b & 0x0F);
      for (uint8_t half = 0; half < 2; ++half, c = (uint8_t)(b >> 4)) {
        const bool real = c != kSparseEscape;
        col = (uint8_t)(col + c + real);
        while (col >= kw) {
          col = (uint8_t)(col - kw);
          rowp += row_step;
          if (++ky == kh) {
            ky = 0;
            chan += plane;
            rowp = chan;
          }
        }
        if (real) acc.add(mul_u8_s8(rowp[col], sparse_value<WB>(p, fields)));
      }
    }
    return bias + acc.sum();
  }
  index_t chan = (index_t)c0 * plane;  // start of the current input channel
  int16_t iy = y0;                     // input row of ky
  while (nbytes) {
    --nbytes;
    const uint8_t b = DMC_READ_U8(p++);
    uint8_t fields = 0;
    if (WB != 8 && b != 0xFF) fields = DMC_READ_U8(p++);
    for (uint8_t half = 0; half < 2; ++half) {
      const uint8_t c = half ? (uint8_t)(b >> 4) : (uint8_t)(b & 0x0F);
      kx = (int16_t)(kx + c + (c != kSparseEscape));
      while (kx >= (int16_t)a.kernel_w) {  // at most a few turns: a step is 15 columns at most
        kx = (int16_t)(kx - a.kernel_w);
        iy = (int16_t)(iy + a.dilation_h);
        if (++ky == a.kernel_h) {
          ky = 0;
          iy = y0;
          chan += plane;
        }
      }
      if (c == kSparseEscape) continue;
      const int16_t ix = (int16_t)(x0 + kx * a.dilation_w);
      uint8_t v;
      if (inside || (iy >= 0 && iy < (int16_t)a.in_h && ix >= 0 && ix < (int16_t)a.in_w)) {
        v = Packed<IB>::get(in, chan + (index_t)iy * a.in_w + (index_t)ix);
      } else {
        v = a.in_zero_point;  // padding holds the zero point
      }
      acc.add(mul_u8_s8(v, sparse_value<WB>(p, fields)));
    }
  }
  return bias + acc.sum();
}

template <uint8_t WB, uint8_t IB, uint8_t OB, bool DEPTHWISE>
void sparse_conv2d_outputs(const uint8_t *in, uint8_t *out, const SparseConv2dArgs *flash_args) {
  SparseConv2dArgs a;
  DMC_FLASH_COPY(&a, flash_args, sizeof(a));
  const uint8_t *row = a.stream;
  SparseConvGeometry g;
  g.plane = (index_t)a.in_h * a.in_w;
  const int16_t y_end = (int16_t)(a.in_h - (a.kernel_h - 1) * a.dilation_h);
  const int16_t x_end = (int16_t)(a.in_w - (a.kernel_w - 1) * a.dilation_w);
  g.y_end = (uint16_t)(y_end > 0 ? y_end : 0);
  g.x_end = (uint16_t)(x_end > 0 ? x_end : 0);
  index_t o = 0;
  for (uint16_t oc = 0; oc < a.out_c; ++oc) {
    const int32_t bias = DMC_READ_I32(a.bias + oc);
    const uint16_t q = a.per_channel ? oc : 0;
    const int16_t m = DMC_READ_I16(a.multiplier + q);
    const uint8_t sh = DMC_READ_U8(a.shift + q);
    const uint16_t nbytes = (uint16_t)DMC_READ_I16(a.row_bytes + oc);
    for (uint16_t py = 0; py < a.out_h; ++py) {
      for (uint16_t px = 0; px < a.out_w; ++px) {
        int32_t best = kAccMin;
        for (uint8_t dy = 0; dy < a.pool_k; ++dy) {
          const int16_t y0 = (int16_t)((py * a.pool_s + dy) * a.stride_h) - a.pad_top;
          for (uint8_t dx = 0; dx < a.pool_k; ++dx) {
            const int16_t x0 = (int16_t)((px * a.pool_s + dx) * a.stride_w) - a.pad_left;
            const int32_t acc = sparse_conv_window<WB, IB>(in, a, g, row, nbytes, DEPTHWISE ? oc : 0, y0, x0, bias);
            if (acc > best) best = acc;
          }
        }
        Packed<OB>::set(out, o++, requantize_to_code(best, m, sh, a.out_zero_point, a.clamp_lo, a.clamp_hi));
      }
    }
    row = sparse_row_end<WB>(row, nbytes);
  }
}

template <uint8_t WB, uint8_t IB, uint8_t OB>
void sparse_conv2d(const uint8_t *in, uint8_t *out, const SparseConv2dArgs *flash_args) {
  sparse_conv2d_outputs<WB, IB, OB, false>(in, out, flash_args);
}

template <uint8_t WB, uint8_t IB, uint8_t OB>
void sparse_depthwise_conv2d(const uint8_t *in, uint8_t *out, const SparseConv2dArgs *flash_args) {
  sparse_conv2d_outputs<WB, IB, OB, true>(in, out, flash_args);
}

}  // namespace dmc

DMC_OPTIMIZE_END

#endif  // DMC_KERNELS_SPARSE_CONV2D_H
