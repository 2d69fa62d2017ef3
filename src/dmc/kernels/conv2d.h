/* conv2d: integer 2-D convolution (groups = 1), optionally fused with the max pool after it.
 *
 * Layout: input C x H x W, output OC x OH x OW, both CHW, packed per packing.h. Weights
 * OC x C x KH x KW, signed WB-bit, one flat stream in flash.
 *
 *   acc(oc, y, x) = bias[oc] + sum_{c,ky,kx} (in(c, y*sh - pt + ky*dh, x*sw - pl + kx*dw) - zin) * w
 *
 * where positions outside the input hold zin (padding with the zero point is padding with real
 * 0). The exporter stores the bias with the zero point folded in, b' = bias - zin * sum(w), so
 * the inner loop is a plain unsigned-by-signed multiply-accumulate, sum(in * w), and a padded
 * position reads zin. Both forms give the same integer; the exporter proves that neither can
 * leave int32 (|b'| + qmax_in * sum|w| < 2^31). Each product fits int16 (255 * 127 < 2^15).
 *
 * Output positions whose window lies inside the input take a path without bounds checks.
 *
 * Fused max pool (pool_k > 1): output (oc, py, px) is the max over the pool window of conv
 * outputs. requantize_to_code is non-decreasing in acc (m > 0), so the max is taken over the
 * accumulators and requantized once: bit-identical to pooling the codes, and the full conv
 * output never exists in SRAM. pool_k = pool_s = 1 is a plain conv.
 */
#ifndef DMC_KERNELS_CONV2D_H
#define DMC_KERNELS_CONV2D_H

#include "../packing.h"
#include "../requant.h"
#include "avr/conv2d.h"

DMC_OPTIMIZE_BEGIN

namespace dmc {

struct Conv2dArgs {
  const uint8_t *weight;      // flash: packed signed weights
  const int32_t *bias;        // flash: out_c int32, zero point folded in (see above)
  const int16_t *multiplier;  // flash: out_c (per channel) or 1
  const uint8_t *shift;       // flash: out_c (per channel) or 1
  uint16_t in_c, in_h, in_w;
  uint16_t out_c, out_h, out_w;  // after the fused pool
  uint8_t kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left;
  uint8_t pool_k, pool_s;
  uint8_t in_zero_point, out_zero_point, clamp_lo, clamp_hi;
  uint8_t per_channel;
};

/* Accumulates one filter (channels [c0, c0 + n_c)) at window origin (y0, x0). */
template <uint8_t WB, uint8_t IB>
DMC_INLINE int32_t conv_window(const uint8_t *in, const Conv2dArgs &a, uint32_t filter, uint16_t c0, uint16_t n_c,
                               int16_t y0, int16_t x0, int32_t acc) {
  const index_t plane = (index_t)a.in_h * a.in_w;
  const bool inside = y0 >= 0 && x0 >= 0 && y0 + (int16_t)((a.kernel_h - 1) * a.dilation_h) < (int16_t)a.in_h &&
                      x0 + (int16_t)((a.kernel_w - 1) * a.dilation_w) < (int16_t)a.in_w;
  WeightStream<WB> w;
  w.seek(a.weight, filter);
  if (inside) {
    index_t base = (index_t)c0 * plane + (index_t)y0 * a.in_w + (index_t)x0;
    const index_t row_step = (index_t)a.dilation_h * a.in_w;
    for (uint16_t c = 0; c < n_c; ++c, base += plane) {
      index_t row = base;
      for (uint8_t ky = 0; ky < a.kernel_h; ++ky, row += row_step) {
        index_t i = row;
        for (uint8_t kx = 0; kx < a.kernel_w; ++kx, i += a.dilation_w) {
          acc += mul_u8_s8(Packed<IB>::get(in, i), w.next());
        }
      }
    }
    return acc;
  }
  const uint8_t zin = a.in_zero_point;
  for (uint16_t c = 0; c < n_c; ++c) {
    const index_t plane_base = (index_t)(c0 + c) * plane;
    for (uint8_t ky = 0; ky < a.kernel_h; ++ky) {
      const int16_t iy = (int16_t)(y0 + ky * a.dilation_h);
      const bool row_ok = iy >= 0 && iy < (int16_t)a.in_h;
      const index_t row = plane_base + (index_t)(row_ok ? iy : 0) * a.in_w;
      for (uint8_t kx = 0; kx < a.kernel_w; ++kx) {
        const int16_t ix = (int16_t)(x0 + kx * a.dilation_w);
        const uint8_t v = (row_ok && ix >= 0 && ix < (int16_t)a.in_w) ? Packed<IB>::get(in, row + ix) : zin;
        acc += mul_u8_s8(v, w.next());
      }
    }
  }
  return acc;
}

/* The output loops shared by conv2d and depthwise_conv2d: per output channel its bias and
 * requantization constants, per (pooled) output position the max over the pool window. */
#ifndef DMC_AVR_COLD
#define DMC_AVR_COLD  // (avr/mac.h: compiled for size on AVR)
#endif

template <uint8_t WB, uint8_t IB, uint8_t OB, bool DEPTHWISE, uint8_t KW, bool PAIRS = false>
DMC_AVR_COLD void conv2d_outputs(const uint8_t *in, uint8_t *out, const Conv2dArgs *flash_args) {
  Conv2dArgs a;
  DMC_FLASH_COPY(&a, flash_args, sizeof(a));
  const uint32_t filter_size = (uint32_t)(DEPTHWISE ? 1 : a.in_c) * a.kernel_h * a.kernel_w;
  index_t o = 0;
#if defined(__AVR__)  // the one dispatch to the AVR inner loops
  // the generated code passes KW only for layers these loops take, PAIRS only for layers with
  // stride_w 1 and an even fused pool (see conv2d)
  if (KW != 0) {
    avr::memory_barrier();
    avr::Window g = {in, a.weight, (index_t)((index_t)a.in_h * a.in_w), a.in_h, a.in_w,
                     (index_t)((index_t)a.dilation_h * a.in_w), a.kernel_h, a.dilation_h, a.in_zero_point,
                     a.pool_k, a.stride_h, a.stride_w, {0, 0}, {0, 0}, 0, 0, 0};
    avr::finish_window<IB>(g, KW);
    for (uint16_t oc = 0; oc < a.out_c; ++oc) {
      const int32_t bias = DMC_READ_I32(a.bias + oc);
      const uint16_t q = a.per_channel ? oc : 0;
      const int16_t m = DMC_READ_I16(a.multiplier + q);
      const uint8_t sh = DMC_READ_U8(a.shift + q);
      const uint32_t filter = (uint32_t)oc * filter_size;
      const uint16_t c0 = DEPTHWISE ? oc : 0, n_c = DEPTHWISE ? 1 : a.in_c;
      // PAIRS with a 2 x 2 pool: the groups of a pooled row that lie inside the input, [px_lo,
      // px_lo + run), go in one call (pair_pool_row); the nibble phase must be the same for each
      avr::PairRow row = {{0, 0, 0}, 0, 0, a.kernel_h, (uint8_t)n_c, 0, 0, g.chan_skip, 0, 0, 0, bias, m, sh,
                          a.out_zero_point, a.clamp_lo, a.clamp_hi, out, 0};
      uint16_t px_lo = 0, run = 0;
      if (PAIRS && a.pool_k == 2 && n_c <= g.per_loop && (IB == 8 || !(a.pool_s & 1))) {
        px_lo = (uint16_t)((a.pad_left + a.pool_s - 1) / a.pool_s);
        const int16_t x_max = (int16_t)(a.in_w - KW - 1 + a.pad_left);  // pool_s * px at the last pair inside
        if (x_max >= 0) {
          const uint16_t px_end = (uint16_t)(x_max / a.pool_s + 1);
          run = px_end > a.out_w ? a.out_w : px_end;
          run = run > px_lo ? (uint16_t)(run - px_lo) : 0;
          if (run > 255) run = 0;
        }
        row.ws.w = a.weight;
        row.ws.wph = avr::seek_weights<WB>(a.weight, filter, row.ws.w, row.ws.wbyte);
        row.count = (uint8_t)run;
        row.dy_bytes = (uint16_t)(IB == 4 ? (g.dy_step >> 1) : g.dy_step);
        row.px_bytes = IB == 4 ? (uint16_t)(a.pool_s >> 1) : a.pool_s;
        row.terms = (uint16_t)(n_c * KW * a.kernel_h);
      }
      const int16_t y_last = (int16_t)(a.in_h - (a.kernel_h - 1) * a.dilation_h);
      int16_t y0 = (int16_t)-a.pad_top;
      for (uint16_t py = 0; py < a.out_h; ++py, y0 = (int16_t)(y0 + a.pool_s * a.stride_h)) {
        int16_t x0 = (int16_t)-a.pad_left;
        const bool row_in = run && y0 >= 0 && y0 + a.stride_h < y_last;
        for (uint16_t px = 0; px < a.out_w; ++px, x0 = (int16_t)(x0 + a.pool_s * a.stride_w)) {
          if (PAIRS && row_in && px == px_lo) {
            const index_t first = (index_t)(c0 * g.plane + (index_t)y0 * a.in_w + (index_t)x0);
            row.xph = IB == 4 ? (uint8_t)(first & 1) : 0;
            row.x = in + (IB == 4 ? (first >> 1) : first);
            row.skip = g.pair_skip[row.xph];
            row.o = o;
            avr::pair_pool_row<WB, IB, OB, KW == 0 ? 1 : KW>(row);
            o = (index_t)(o + run);
            px = (uint16_t)(px + run - 1);
            x0 = (int16_t)(x0 + (run - 1) * a.pool_s);
            continue;
          }
          const int32_t best =
              bias + (PAIRS ? avr::conv_pooled_pairs<WB, IB, KW == 0 ? 1 : KW>(g, filter, c0, n_c, y0, x0)
                            : avr::conv_pooled<WB, IB, KW == 0 ? 1 : KW>(g, filter, c0, n_c, y0, x0));
          Packed<OB>::set(out, o++, requantize_to_code(best, m, sh, a.out_zero_point, a.clamp_lo, a.clamp_hi));
        }
      }
    }
    return;
  }
#endif
  for (uint16_t oc = 0; oc < a.out_c; ++oc) {
    const int32_t bias = DMC_READ_I32(a.bias + oc);
    const uint16_t q = a.per_channel ? oc : 0;
    const int16_t m = DMC_READ_I16(a.multiplier + q);
    const uint8_t sh = DMC_READ_U8(a.shift + q);
    const uint32_t filter = (uint32_t)oc * filter_size;
    const uint16_t c0 = DEPTHWISE ? oc : 0, n_c = DEPTHWISE ? 1 : a.in_c;
    for (uint16_t py = 0; py < a.out_h; ++py) {
      for (uint16_t px = 0; px < a.out_w; ++px) {
        int32_t best = kAccMin;
        for (uint8_t dy = 0; dy < a.pool_k; ++dy) {
          const int16_t y0 = (int16_t)((py * a.pool_s + dy) * a.stride_h) - a.pad_top;
          for (uint8_t dx = 0; dx < a.pool_k; ++dx) {
            const int16_t x0 = (int16_t)((px * a.pool_s + dx) * a.stride_w) - a.pad_left;
            const int32_t acc = conv_window<WB, IB>(in, a, filter, c0, n_c, y0, x0, bias);
            if (acc > best) best = acc;
          }
        }
        Packed<OB>::set(out, o++, requantize_to_code(best, m, sh, a.out_zero_point, a.clamp_lo, a.clamp_hi));
      }
    }
  }
}

}  // namespace dmc

#if DMC_ARM_DSP
#include "arm/conv2d_dsp.h"
#endif

namespace dmc {

/* PAIRS: the AVR loops take the windows of each fused pool row in side-by-side pairs, one weight
 * and activation load for two windows (dmc.deploy.codegen.avr_window_pairs: stride_w 1, an even
 * pool width); other targets ignore it.
 *
 * KW: 0, or the layer's kernel width when the layer suits the AVR loops (8- or 4-bit weights, no
 * horizontal dilation, 8-bit input or an even input width, KH * KW <= 256): the generated code
 * passes it so (dmc.deploy.codegen.avr_kernel_width), and an AVR build then compiles the loops
 * for that width only. Other targets ignore it. */
template <uint8_t WB, uint8_t IB, uint8_t OB, uint8_t KW = 0, bool PAIRS = false>
void conv2d(const uint8_t *in, uint8_t *out, const Conv2dArgs *flash_args) {
#if DMC_ARM_DSP
  if (arm::conv2d_dsp<WB, IB, OB, KW>(in, out, flash_args)) return;
#endif
  conv2d_outputs<WB, IB, OB, false, KW, PAIRS>(in, out, flash_args);
}

}  // namespace dmc

DMC_OPTIMIZE_END

#endif  // DMC_KERNELS_CONV2D_H
