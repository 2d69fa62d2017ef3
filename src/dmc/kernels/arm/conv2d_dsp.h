/* conv2d with the Cortex-M DSP extension: the same arithmetic as ../conv2d.h (read it first:
 * folded bias, padding with the zero point, fused max pool over accumulators).
 *
 * The loops are turned around so that unpacking is shared:
 * - per (pooled) output position, the activations of up to kWindows windows of the pool (the
 *   zero point where a window leaves the input) are unpacked once, for all output channels,
 *   into a small column of 16-bit values on the stack: col[k * kStride + e] is element e of
 *   window k (a compile-time stride, so that the windows need no pointer registers);
 * - per output channel, each group of 8 weights is unpacked once from flash (lanes.h, kPlain
 *   order) and multiplied into the NW windows with four SMLADs each.
 * The last filter_size % 8 elements use the portable multiply-accumulate; 4-bit weights carry
 * the +8 offset of lanes.h, removed with the sum of each window's grouped activations. The
 * column holds kWindows windows, never a tensor: filters longer than kMaxColumn elements take
 * the portable kernel. Input and output may have interleaved rows (LAYOUT, ../conv2d.h); a conv
 * written over its own input (kOverlapping) must finish each output row before the next, so it
 * takes these loops only when all its channels fit one pass (out_c <= kChannels). */
#ifndef DMC_KERNELS_ARM_CONV2D_DSP_H
#define DMC_KERNELS_ARM_CONV2D_DSP_H

#include "lanes.h"

DMC_OPTIMIZE_BEGIN

namespace dmc {
namespace arm {

const uint16_t kMaxColumn = 256;  // elements per window: the column takes at most 2 KB of stack
const uint16_t kStride = kMaxColumn;
const uint8_t kWindows = 4;       // pool windows unpacked together (a 2x2 pool: all of them)

/* Unpacks the window at origin (y0, x0) into `d` (one window's column); returns the sum of
 * its first `grouped` activations. */
template <uint8_t IB, bool INTERLEAVED>
DMC_INLINE int32_t fill_column(const uint8_t *in, const Conv2dArgs &a, int16_t y0, int16_t x0, uint32_t grouped,
                               uint16_t *d) {
  const TensorStrides st = tensor_strides(INTERLEAVED, a.in_c, a.in_h, a.in_w);
  const bool inside = y0 >= 0 && x0 >= 0 && y0 + (int16_t)((a.kernel_h - 1) * a.dilation_h) < (int16_t)a.in_h &&
                      x0 + (int16_t)((a.kernel_w - 1) * a.dilation_w) < (int16_t)a.in_w;
  uint32_t sum = 0;
  uint16_t *const start = d;
  const unsigned kw = a.kernel_w;
  auto put = [&](uint8_t v) {
    *d++ = v;
    sum += v;
  };
  if (inside) {  // no bounds to check
    const index_t row_step = (index_t)a.dilation_h * st.row;
    index_t base = (index_t)y0 * st.row + (index_t)x0;
    for (unsigned c = 0; c < a.in_c; ++c, base += st.chan) {
      index_t row = base;
      for (unsigned ky = 0; ky < a.kernel_h; ++ky, row += row_step) {
        if (IB == 8 && a.dilation_w == 1) {
          const uint8_t *p = in + row;
          for (unsigned kx = 0; kx < kw; ++kx) put(p[kx]);
        } else {
          index_t i = row;
          for (unsigned kx = 0; kx < kw; ++kx, i += a.dilation_w) put(Packed<IB>::get(in, i));
        }
      }
    }
  } else {
    for (unsigned c = 0; c < a.in_c; ++c) {
      for (unsigned ky = 0; ky < a.kernel_h; ++ky) {
        const int16_t iy = (int16_t)(y0 + ky * a.dilation_h);
        const bool row_ok = iy >= 0 && iy < (int16_t)a.in_h;
        const index_t row = (index_t)c * st.chan + (index_t)(row_ok ? iy : 0) * st.row;
        for (unsigned kx = 0; kx < kw; ++kx) {
          const int16_t ix = (int16_t)(x0 + kx * a.dilation_w);
          put((row_ok && ix >= 0 && ix < (int16_t)a.in_w) ? Packed<IB>::get(in, row + ix) : a.in_zero_point);
        }
      }
    }
  }
  for (const uint16_t *t = start + grouped; t < d; ++t) sum -= *t;  // the tail is not grouped
  return (int32_t)sum;
}

/* Accumulates filter `filter` (element index of its first weight) into the NW windows of the
 * column: acc[k] += sum_e col(k, e) * w(e). */
template <uint8_t WB, uint8_t NW>  // NW: 1 to 4
DMC_INLINE void dot_windows(const uint8_t *weight, uint32_t filter, uint32_t filter_size, const uint16_t *col,
                            int32_t acc[NW]) {
  const uint16_t groups = (uint16_t)(filter_size >> 3);
  const word_alias_t *x = reinterpret_cast<const word_alias_t *>(col);
  const unsigned kWordStride = kStride / 2;
  // four named accumulators: GCC keeps them in registers (an array it spills per group)
  int32_t r0 = acc[0], r1 = NW > 1 ? acc[1] : 0, r2 = NW > 2 ? acc[2] : 0, r3 = NW > 3 ? acc[3] : 0;
  auto step = [&](uint16_t, const uint32_t *w) {
    const uint32_t w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];
    r0 = __smlad(x[0], w0, __smlad(x[1], w1, __smlad(x[2], w2, __smlad(x[3], w3, r0))));
    if (NW > 1) {
      const word_alias_t *y = x + kWordStride;
      r1 = __smlad(y[0], w0, __smlad(y[1], w1, __smlad(y[2], w2, __smlad(y[3], w3, r1))));
    }
    if (NW > 2) {
      const word_alias_t *y = x + 2 * kWordStride;
      r2 = __smlad(y[0], w0, __smlad(y[1], w1, __smlad(y[2], w2, __smlad(y[3], w3, r2))));
    }
    if (NW > 3) {
      const word_alias_t *y = x + 3 * kWordStride;
      r3 = __smlad(y[0], w0, __smlad(y[1], w1, __smlad(y[2], w2, __smlad(y[3], w3, r3))));
    }
    x += 4;
  };
  for_each_group<WB, true, kPlain>(weight, filter, groups, step);
  const uint32_t grouped = (uint32_t)groups << 3;
  if (grouped < filter_size) {
    WeightStream<WB> ws;
    ws.seek(weight, filter + grouped);
    for (uint32_t e = grouped; e < filter_size; ++e) {
      const int8_t w = ws.next();
      r0 += mul_u8_s8((uint8_t)col[e], w);
      if (NW > 1) r1 += mul_u8_s8((uint8_t)col[kStride + e], w);
      if (NW > 2) r2 += mul_u8_s8((uint8_t)col[2 * kStride + e], w);
      if (NW > 3) r3 += mul_u8_s8((uint8_t)col[3 * kStride + e], w);
    }
  }
  acc[0] = r0;
  if (NW > 1) acc[1] = r1;
  if (NW > 2) acc[2] = r2;
  if (NW > 3) acc[3] = r3;
}

/* One pass over the output positions for windows [w0, w0 + NW) of each pool window set,
 * keeping each output channel's running max in `best` (out_c entries). */
template <uint8_t WB, uint8_t IB, uint8_t NW, bool INTERLEAVED>
DMC_INLINE void pool_windows(const uint8_t *in, const Conv2dArgs &a, uint16_t py, uint16_t px, uint8_t w0,
                             uint16_t *col, int32_t *best, uint16_t oc0, uint8_t n_oc) {
  const uint32_t filter_size = (uint32_t)a.in_c * a.kernel_h * a.kernel_w;
  const uint32_t grouped = filter_size & ~7u;
  int32_t offset[NW];
  for (uint8_t k = 0; k < NW; ++k) {
    const uint8_t wi = (uint8_t)(w0 + k), dy = (uint8_t)(wi / a.pool_k), dx = (uint8_t)(wi % a.pool_k);
    const int16_t y0 = (int16_t)((py * a.pool_s + dy) * a.stride_h) - a.pad_top;
    const int16_t x0 = (int16_t)((px * a.pool_s + dx) * a.stride_w) - a.pad_left;
    const int32_t sum = fill_column<IB, INTERLEAVED>(in, a, y0, x0, grouped, col + k * kStride);
    offset[k] = WB == 4 ? 8 * sum : 0;  // the +8 of the 4-bit weight lanes
  }
  for (uint8_t i = 0; i < n_oc; ++i) {
    const uint16_t oc = (uint16_t)(oc0 + i);
    const int32_t bias = DMC_READ_I32(a.bias + oc);
    int32_t acc[NW];
    for (uint8_t k = 0; k < NW; ++k) acc[k] = bias - offset[k];
    dot_windows<WB, NW>(a.weight, (uint32_t)oc * filter_size, filter_size, col, acc);
    for (uint8_t k = 0; k < NW; ++k) {
      if (acc[k] > best[i]) best[i] = acc[k];
    }
  }
}

const uint8_t kChannels = 32;  // output channels per pass over the output positions

template <uint8_t WB, uint8_t IB, uint8_t OB, uint8_t LAYOUT>
bool conv2d_dsp(const uint8_t *, uint8_t *, const Conv2dArgs *, Enabled<false>) {
  return false;
}

template <uint8_t WB, uint8_t IB, uint8_t OB, uint8_t LAYOUT>
bool conv2d_dsp(const uint8_t *in, uint8_t *out, const Conv2dArgs *flash_args, Enabled<true>) {
  const bool interleaved = (LAYOUT & kInterleavedIn) != 0;
  Conv2dArgs a;
  DMC_FLASH_COPY(&a, flash_args, sizeof(a));
  const uint32_t filter_size = (uint32_t)a.in_c * a.kernel_h * a.kernel_w;
  if (filter_size > kMaxColumn) return false;
  if ((LAYOUT & kOverlapping) && a.out_c > kChannels) return false;  // rows must finish in order
  uint16_t col[kStride * kWindows] __attribute__((aligned(4)));
  int32_t best[kChannels];
  const TensorStrides os = tensor_strides((LAYOUT & kInterleavedOut) != 0, a.out_c, a.out_h, a.out_w);
  const uint8_t windows = (uint8_t)(a.pool_k * a.pool_k);
  for (uint16_t oc0 = 0; oc0 < a.out_c; oc0 = (uint16_t)(oc0 + kChannels)) {
    const uint8_t n_oc = (uint8_t)(a.out_c - oc0 < kChannels ? a.out_c - oc0 : kChannels);
    for (uint16_t py = 0; py < a.out_h; ++py) {
      for (uint16_t px = 0; px < a.out_w; ++px) {
        for (uint8_t i = 0; i < n_oc; ++i) best[i] = kAccMin;
        uint8_t w0 = 0;
        for (; w0 + kWindows <= windows; w0 = (uint8_t)(w0 + kWindows))
          pool_windows<WB, IB, kWindows, interleaved>(in, a, py, px, w0, col, best, oc0, n_oc);
        for (; w0 < windows; ++w0) pool_windows<WB, IB, 1, interleaved>(in, a, py, px, w0, col, best, oc0, n_oc);
        for (uint8_t i = 0; i < n_oc; ++i) {
          const uint16_t oc = (uint16_t)(oc0 + i);
          const uint16_t q = a.per_channel ? oc : 0;
          Packed<OB>::set(out, (index_t)oc * os.chan + (index_t)py * os.row + px,
                          requantize_to_code(best[i], DMC_READ_I16(a.multiplier + q), DMC_READ_U8(a.shift + q),
                                             a.out_zero_point, a.clamp_lo, a.clamp_hi));
        }
      }
    }
  }
  return true;
}

/* Returns false (and does nothing) for the bit widths it has no lanes for, for filters longer
 * than kMaxColumn and for a conv over its input with more than kChannels output channels. */
template <uint8_t WB, uint8_t IB, uint8_t OB, uint8_t LAYOUT = kPlainLayout>
bool conv2d_dsp(const uint8_t *in, uint8_t *out, const Conv2dArgs *flash_args) {
  return conv2d_dsp<WB, IB, OB, LAYOUT>(in, out, flash_args, HasLanes<WB, IB>());
}

}  // namespace arm
}  // namespace dmc

DMC_OPTIMIZE_END

#endif  // DMC_KERNELS_ARM_CONV2D_DSP_H
