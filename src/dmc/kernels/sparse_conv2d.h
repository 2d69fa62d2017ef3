/* sparse_conv2d / sparse_depthwise_conv2d: conv2d.h and depthwise_conv2d.h with their filters
 * in offset CSR (the artifact's "dcsr" storage of a conv2d, extras/python/dmc/core/FORMAT.md).
 *
 * Every tap (c, ky, kx) of a filter has a fixed input offset from its window's first input,
 * c * in_h * in_w + ky * dh * in_w + kx * dw (when the dilated kernel fits the input; otherwise
 * no window lies inside it and the offset is the tap's index, see SparseTaps). A filter's row
 * is a list of entries, each the step from the previous entry's offset (one byte; wider gaps
 * are bridged by entries of value 0) and a value; entries come in groups of 8 / WB: the
 * group's value byte (fields from the least-significant bit), then one step byte per entry.
 *
 * A window inside the input adds each step to one input pointer and multiplies: no column
 * arithmetic, no bounds checks (kernels/avr/sparse_conv2d.h does this in assembly). A window
 * that overlaps the padding walks its taps' rows to find (ky, kx) and reads the zero point
 * outside the input. The loader (dmc.core.weights) proves every entry stays within the filter's
 * last tap and every nonzero lies on a tap. Same arithmetic, folded bias, overflow argument and
 * fused max pool as conv2d.h; bit-exact with it. */
#ifndef DMC_KERNELS_SPARSE_CONV2D_H
#define DMC_KERNELS_SPARSE_CONV2D_H

#include "../packing.h"
#include "../requant.h"
#include "conv2d.h"
#include "sparse_dot.h"

DMC_OPTIMIZE_BEGIN

namespace dmc {

struct SparseConv2dArgs {
  const uint8_t *stream;        // flash: filters in offset CSR, row after row
  const uint16_t *row_entries;  // flash: entries per filter, padding included
  const int32_t *bias;          // flash: out_c int32, zero point folded in (see conv2d.h)
  const int16_t *multiplier;    // flash: out_c (per channel) or 1
  const uint8_t *shift;         // flash: out_c (per channel) or 1
  uint16_t in_c, in_h, in_w;
  uint16_t out_c, out_h, out_w;  // after the fused pool
  uint8_t kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left;
  uint8_t pool_k, pool_s;
  uint8_t in_zero_point, out_zero_point, clamp_lo, clamp_hi;
  uint8_t per_channel;
};

/* The tap offsets of a layer (dmc.core.weights.conv_tap_offsets): tap (c, ky, kx) lies at
 * c * plane + ky * row + kx * col. */
struct SparseTaps {
  index_t plane, row;
  uint8_t col;
  DMC_INLINE explicit SparseTaps(const SparseConv2dArgs &a) {
    if ((uint16_t)(a.kernel_h - 1) * a.dilation_h < a.in_h && (uint16_t)(a.kernel_w - 1) * a.dilation_w < a.in_w) {
      plane = (index_t)a.in_h * a.in_w;
      row = (index_t)a.dilation_h * a.in_w;
      col = a.dilation_w;
    } else {
      plane = (index_t)a.kernel_h * a.kernel_w;
      row = a.kernel_w;
      col = 1;
    }
  }
};

/* The value in the low WB bits of `fields` (sign-extended), which then shifts down. */
template <uint8_t WB>
DMC_INLINE int8_t sparse_next_field(uint8_t &fields) {
  if (WB == 8) return (int8_t)fields;
  const uint8_t sign = (uint8_t)(1u << (WB - 1));
  const uint8_t v = (uint8_t)(fields & ((1u << WB) - 1u));
  fields = (uint8_t)(fields >> WB);
  return (int8_t)((int8_t)(v ^ sign) - (int8_t)sign);
}

/* Bytes of a row of `n` entries. */
template <uint8_t WB>
DMC_INLINE uint16_t sparse_taps_row_bytes(uint16_t n) {
  return (uint16_t)(n + (n + (8 / WB) - 1) / (8 / WB));
}

/* sum(in[origin + offset] * w) over a row of `n` entries at `p`: a window inside the input. */
template <uint8_t WB, uint8_t IB>
DMC_INLINE int32_t sparse_taps_dot_portable(const uint8_t *in, index_t origin, const uint8_t *p, uint16_t n) {
  SparseAccumulator<WB, IB> acc;
  index_t pos = origin;
  while (n) {
    uint8_t fields = DMC_READ_U8(p++);
    uint8_t k = n < 8 / WB ? (uint8_t)n : (uint8_t)(8 / WB);
    n = (uint16_t)(n - k);
    do {
      pos = (index_t)(pos + DMC_READ_U8(p++));
      acc.add(mul_u8_s8(Packed<IB>::get(in, pos), sparse_next_field<WB>(fields)));
    } while (--k);
  }
  return acc.sum();
}

/* One filter's row, set up once per output channel: window() is bias + the sum over a window
 * inside the input (kernels/avr/sparse_conv2d.h specializes it). */
template <uint8_t WB, uint8_t IB>
struct SparseTapsRow {
  const uint8_t *p;
  uint16_t n;
  int32_t bias;
  DMC_INLINE SparseTapsRow(const uint8_t *p_, uint16_t n_, int32_t bias_) : p(p_), n(n_), bias(bias_) {}
  DMC_INLINE int32_t window(const uint8_t *in, index_t origin) const {
    return bias + sparse_taps_dot_portable<WB, IB>(in, origin, p, n);
  }
  /* The larger of the windows at origin and origin + 1 (both inside the input). */
  DMC_INLINE int32_t pair_max(const uint8_t *in, index_t origin) const {
    const int32_t a = window(in, origin), b = window(in, (index_t)(origin + 1));
    return a > b ? a : b;
  }
};

}  // namespace dmc

#if defined(__AVR__) && !defined(DMC_PORTABLE_KERNELS)
#include "avr/sparse_conv2d.h"
#endif

namespace dmc {

/* Per-layer constants of the window loop, computed once per call of the kernel. */
struct SparseConvGeometry {
  index_t plane;          // in_h * in_w
  uint16_t y_end, x_end;  // a window is inside the input iff 0 <= y0 < y_end and 0 <= x0 < x_end
};

/* A window overlapping the padding: each nonzero's offset is walked back to its tap. Not
 * inlined: the window loop keeps its registers. */
template <uint8_t WB, uint8_t IB>
__attribute__((noinline)) int32_t sparse_taps_border(const uint8_t *in, const SparseConv2dArgs &a,
                                                     const SparseConvGeometry &g, const SparseTaps &t, const uint8_t *p, uint16_t n, uint16_t c0, int16_t y0, int16_t x0) {
  SparseAccumulator<WB, IB> acc;
  const index_t last_col = (index_t)(a.kernel_w - 1) * t.col;
  index_t pos = 0;
  index_t chan_base = 0, row_base = 0;  // offsets of taps (c, 0, 0) and (c, ky, 0)
  index_t chan = (index_t)c0 * g.plane;  // the input channel of c
  uint8_t ky = 0;
  int16_t iy = y0;
  while (n) {
    uint8_t fields = DMC_READ_U8(p++);
    uint8_t k = n < 8 / WB ? (uint8_t)n : (uint8_t)(8 / WB);
    n = (uint16_t)(n - k);
    do {
      pos = (index_t)(pos + DMC_READ_U8(p++));
      const int8_t w = sparse_next_field<WB>(fields);
      if (!w) continue;  // padding entries (and zeros) add nothing
      while (pos > (index_t)(row_base + last_col)) {  // the loader put every nonzero on a tap
        if (++ky == a.kernel_h) {
          ky = 0;
          iy = y0;
          chan_base = (index_t)(chan_base + t.plane);
          chan = (index_t)(chan + g.plane);
          row_base = chan_base;
        } else {
          iy = (int16_t)(iy + a.dilation_h);
          row_base = (index_t)(row_base + t.row);
        }
      }
      const index_t kx = t.col == 1 ? (index_t)(pos - row_base) : (index_t)((pos - row_base) / t.col);
      const int16_t ix = (int16_t)(x0 + (int16_t)kx * a.dilation_w);
      uint8_t v = a.in_zero_point;  // padding holds the zero point
      if (iy >= 0 && iy < (int16_t)a.in_h && ix >= 0 && ix < (int16_t)a.in_w) {
        v = Packed<IB>::get(in, (index_t)(chan + (index_t)iy * a.in_w + (index_t)ix));
      }
      acc.add(mul_u8_s8(v, w));
    } while (--k);
  }
  return acc.sum();
}

/* A run of pooled outputs of a 2 x 2 pool (stride_w 1) whose windows all lie inside the input. */
struct SparsePoolRun {
  index_t origin;          // the first output's top-left window, an element index
  index_t dy, dx;          // elements to the second pool row, to the next output
  uint16_t count;
  index_t o;               // the first output's element
  int16_t m;
  uint8_t sh, zp, lo, hi;
};

/* Per output the two pool rows' side-by-side pairs (pair_max), the larger requantized and
 * stored. Out of line with few live values: the window loop's frame stays out of the hot path. */
template <uint8_t WB, uint8_t IB, uint8_t OB>
__attribute__((noinline)) void sparse_pool_run(const SparseTapsRow<WB, IB> &filter, const uint8_t *in, uint8_t *out,
                                               const SparsePoolRun &r) {
  index_t origin = r.origin, o = r.o;
  for (uint16_t k = r.count; k; --k, origin = (index_t)(origin + r.dx), ++o) {
    const int32_t top = filter.pair_max(in, origin), bottom = filter.pair_max(in, (index_t)(origin + r.dy));
    Packed<OB>::set(out, o, requantize_to_code(top > bottom ? top : bottom, r.m, r.sh, r.zp, r.lo, r.hi));
  }
}

template <uint8_t WB, uint8_t IB, uint8_t OB, bool DEPTHWISE>
void sparse_conv2d_outputs(const uint8_t *in, uint8_t *out, const SparseConv2dArgs *flash_args) {
  SparseConv2dArgs a;
  DMC_FLASH_COPY(&a, flash_args, sizeof(a));
  const SparseTaps taps(a);
  const uint8_t *row = a.stream;
  SparseConvGeometry g;
  g.plane = (index_t)a.in_h * a.in_w;
  const int16_t y_end = (int16_t)(a.in_h - (a.kernel_h - 1) * a.dilation_h);
  const int16_t x_end = (int16_t)(a.in_w - (a.kernel_w - 1) * a.dilation_w);
  g.y_end = (uint16_t)(y_end > 0 ? y_end : 0);
  g.x_end = (uint16_t)(x_end > 0 ? x_end : 0);
  // window origins advance by constants: no multiplication per window
  const int16_t pool_step_y = (int16_t)(a.pool_s * a.stride_h), pool_step_x = (int16_t)(a.pool_s * a.stride_w);
  const index_t in_row_step = (index_t)a.stride_h * a.in_w;
  // a 2 x 2 pool with stride_w 1 goes in runs of outputs whose four windows lie inside the
  // input (sparse_pool_run): the run's first window starts before pair_x_end
  const bool runs = a.pool_k == 2 && a.stride_w == 1;
  const uint16_t pair_x_end = g.x_end >= 2 ? (uint16_t)(g.x_end - 1) : 0;
  const int16_t second_row = (int16_t)a.stride_h;
  index_t o = 0;
  for (uint16_t oc = 0; oc < a.out_c; ++oc) {
    const uint16_t q = a.per_channel ? oc : 0;
    const int16_t m = DMC_READ_I16(a.multiplier + q);
    const uint8_t sh = DMC_READ_U8(a.shift + q);
    const uint16_t n = (uint16_t)DMC_READ_I16(a.row_entries + oc);
    const SparseTapsRow<WB, IB> filter(row, n, DMC_READ_I32(a.bias + oc));
    const uint16_t c0 = DEPTHWISE ? oc : 0;
    const index_t chan = (index_t)c0 * g.plane;
    int16_t y_first = (int16_t)-a.pad_top;
    for (uint16_t py = 0; py < a.out_h; ++py, y_first = (int16_t)(y_first + pool_step_y)) {
      int16_t x_first = (int16_t)-a.pad_left;
      const bool rows_inside = runs && (uint16_t)y_first < g.y_end && (uint16_t)(y_first + second_row) < g.y_end;
      for (uint16_t px = 0; px < a.out_w; ++px, x_first = (int16_t)(x_first + pool_step_x)) {
        if (rows_inside && (uint16_t)x_first < pair_x_end) {
          uint16_t count = 1;
          int16_t x_last = x_first;
          while (px + count < a.out_w && (uint16_t)(x_last + pool_step_x) < pair_x_end) {
            ++count;
            x_last = (int16_t)(x_last + pool_step_x);
          }
          const SparsePoolRun run = {(index_t)(chan + (index_t)y_first * a.in_w + (index_t)x_first), in_row_step,
                                     (index_t)pool_step_x, count, o, m, sh, a.out_zero_point, a.clamp_lo,
                                     a.clamp_hi};
          sparse_pool_run<WB, IB, OB>(filter, in, out, run);
          o = (index_t)(o + count);
          px = (uint16_t)(px + count - 1);
          x_first = x_last;
          continue;
        }
        int32_t best = kAccMin;
        int16_t y0 = y_first;
        index_t in_row = (index_t)(chan + (index_t)y0 * a.in_w);  // only used for windows inside
        for (uint8_t dy = 0; dy < a.pool_k; ++dy, y0 = (int16_t)(y0 + a.stride_h), in_row += in_row_step) {
          int16_t x0 = x_first;
          for (uint8_t dx = 0; dx < a.pool_k; ++dx, x0 = (int16_t)(x0 + a.stride_w)) {
            int32_t acc;
            // unsigned compares: a negative origin wraps to a large value and fails them
            if ((uint16_t)y0 < g.y_end && (uint16_t)x0 < g.x_end) {
              acc = filter.window(in, (index_t)(in_row + (index_t)x0));
            } else {
              acc = filter.bias + sparse_taps_border<WB, IB>(in, a, g, taps, row, n, c0, y0, x0);
            }
            if (acc > best) best = acc;
          }
        }
        Packed<OB>::set(out, o++, requantize_to_code(best, m, sh, a.out_zero_point, a.clamp_lo, a.clamp_hi));
      }
    }
    row += sparse_taps_row_bytes<WB>(n);
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
