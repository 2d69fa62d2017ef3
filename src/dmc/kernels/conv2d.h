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
 *
 * Order and layouts (the memory plan of dmc.core.planner relies on both): the outputs are
 * computed one (pooled) output row at a time, every output channel of row py before row py + 1,
 * so the input rows above the current windows are dead once a row is done and an output placed
 * below its input may grow over them (the AVR loops keep this order where the plan needs it, a
 * conv over its input, or where it writes interleaved rows front to back; otherwise they go
 * channel by channel, which takes less code). LAYOUT says how input and output are laid out:
 * CHW, or with interleaved rows (kInterleavedIn / kInterleavedOut, "HCW": element (c, y, x) at
 * (y * C + c) * W + x, so that a tensor computed row by row is written front to back).
 */
#ifndef DMC_KERNELS_CONV2D_H
#define DMC_KERNELS_CONV2D_H

#include "../packing.h"
#include "../requant.h"
#include "avr/conv2d.h"
#include "dot.h"

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

/* The layouts of a conv's input and output (template argument LAYOUT, a set of these bits). */
enum ConvLayout : uint8_t {
  kPlainLayout = 0,     // input and output CHW
  kInterleavedIn = 1,   // the input is HCW
  kInterleavedOut = 2,  // the output is HCW
  kOverlapping = 4,     // the output overlaps the input: it must be computed row by row
  kUnpadded = 8,        // no padding (AVR pair loops: the pooled rows' runs cover every group, so
                        // the edge loops are left out; a group outside a run, which the runs'
                        // arithmetic does not produce, would take the portable window loop)
  kGroupCut = 16,       // AVR pair loops: every group at the padding is one input channel's 2 x 2
                        // (avr::group_cut_fits), so the general padded pair loop is left out
};

/* Element strides (between channels, between rows) of a C x H x W tensor. */
struct TensorStrides {
  index_t chan, row;
};

DMC_INLINE TensorStrides tensor_strides(bool interleaved, uint16_t c, uint16_t h, uint16_t w) {
  TensorStrides s;
  s.chan = interleaved ? (index_t)w : (index_t)((index_t)h * w);
  s.row = interleaved ? (index_t)((index_t)c * w) : (index_t)w;
  return s;
}

/* An output channel's folded bias and requantization constants (per channel or per tensor). */
struct OutputChannel {
  int32_t bias;
  int16_t m;
  uint8_t sh;
  DMC_INLINE OutputChannel(const Conv2dArgs &a, uint16_t oc)
      : bias(DMC_READ_I32(a.bias + oc)),
        m(DMC_READ_I16(a.multiplier + (a.per_channel ? oc : 0))),
        sh(DMC_READ_U8(a.shift + (a.per_channel ? oc : 0))) {}
  DMC_INLINE uint8_t code(int32_t acc, const Conv2dArgs &a) const {
    return requantize_to_code(acc, m, sh, a.out_zero_point, a.clamp_lo, a.clamp_hi);
  }
};

/* Accumulates one filter (channels [c0, c0 + n_c)) at window origin (y0, x0). */
template <uint8_t WB, uint8_t IB, bool INTERLEAVED = false>
DMC_INLINE int32_t conv_window(const uint8_t *in, const Conv2dArgs &a, uint32_t filter, uint16_t c0, uint16_t n_c,
                               int16_t y0, int16_t x0, int32_t acc) {
  const TensorStrides st = tensor_strides(INTERLEAVED, a.in_c, a.in_h, a.in_w);
  const bool inside = y0 >= 0 && x0 >= 0 && y0 + (int16_t)((a.kernel_h - 1) * a.dilation_h) < (int16_t)a.in_h &&
                      x0 + (int16_t)((a.kernel_w - 1) * a.dilation_w) < (int16_t)a.in_w;
  WeightStream<WB> w;
  w.seek(a.weight, filter);
  if (inside) {
    index_t base = (index_t)c0 * st.chan + (index_t)y0 * st.row + (index_t)x0;
    const index_t row_step = (index_t)a.dilation_h * st.row;
    for (uint16_t c = 0; c < n_c; ++c, base += st.chan) {
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
    const index_t chan_base = (index_t)(c0 + c) * st.chan;
    for (uint8_t ky = 0; ky < a.kernel_h; ++ky) {
      const int16_t iy = (int16_t)(y0 + ky * a.dilation_h);
      const bool row_ok = iy >= 0 && iy < (int16_t)a.in_h;
      const index_t row = chan_base + (index_t)(row_ok ? iy : 0) * st.row;
      for (uint8_t kx = 0; kx < a.kernel_w; ++kx) {
        const int16_t ix = (int16_t)(x0 + kx * a.dilation_w);
        const uint8_t v = (row_ok && ix >= 0 && ix < (int16_t)a.in_w) ? Packed<IB>::get(in, row + ix) : zin;
        acc += mul_u8_s8(v, w.next());
      }
    }
  }
  return acc;
}

#ifndef DMC_AVR_COLD
#define DMC_AVR_COLD  // (avr/mac.h: compiled for size on AVR)
#endif

/* The max over the pool_k x pool_k windows whose first one starts at (y0, x0) (bias included). */
template <uint8_t WB, uint8_t IB, bool INTERLEAVED>
DMC_INLINE int32_t pooled_window_max(const uint8_t *in, const Conv2dArgs &a, uint32_t filter, uint16_t c0, uint16_t n_c,
                                     int16_t y0, int16_t x0, int32_t bias) {
  int32_t best = kAccMin;
  for (uint8_t dy = 0; dy < a.pool_k; ++dy) {
    const int16_t y = (int16_t)(y0 + dy * a.stride_h);
    for (uint8_t dx = 0; dx < a.pool_k; ++dx) {
      const int32_t acc =
          conv_window<WB, IB, INTERLEAVED>(in, a, filter, c0, n_c, y, (int16_t)(x0 + dx * a.stride_w), bias);
      if (acc > best) best = acc;
    }
  }
  return best;
}

/* pooled_window_max with the bit widths and the input layout at run time: one small shared copy
 * for the groups that the AVR pair loops' runs and edge loops are built not to meet (kUnpadded,
 * kGroupCut), so that such a group, were it ever met, is still computed exactly. */
__attribute__((noinline)) DMC_AVR_COLD inline int32_t pooled_window_max_any(
    const uint8_t *in, const Conv2dArgs &a, uint32_t filter, uint16_t c0, uint16_t n_c, int16_t y0, int16_t x0,
    int32_t bias, uint8_t wb, uint8_t ib, bool interleaved) {
  const TensorStrides st = tensor_strides(interleaved, a.in_c, a.in_h, a.in_w);
  const uint8_t per_byte = (uint8_t)(8 / wb), sign = (uint8_t)(1u << (wb - 1)), mask = (uint8_t)((1u << wb) - 1u);
  const uint8_t lg = wb == 8 ? 0 : wb == 4 ? 1 : 2;  // log2(per_byte): no 32-bit division
  const uint8_t *const w0 = a.weight + (filter >> lg);
  const uint8_t ph0 = (uint8_t)((uint8_t)filter & (per_byte - 1));
  int32_t best = kAccMin;
  for (uint8_t dy = 0; dy < a.pool_k; ++dy) {
    for (uint8_t dx = 0; dx < a.pool_k; ++dx) {
      const int16_t wy = (int16_t)(y0 + dy * a.stride_h), wx = (int16_t)(x0 + dx * a.stride_w);
      int32_t acc = bias;
      const uint8_t *w = w0;
      uint8_t ph = ph0;
      for (uint16_t c = 0; c < n_c; ++c) {
        for (uint8_t ky = 0; ky < a.kernel_h; ++ky) {
          const int16_t iy = (int16_t)(wy + ky * a.dilation_h);
          for (uint8_t kx = 0; kx < a.kernel_w; ++kx) {
            const int16_t ix = (int16_t)(wx + kx * a.dilation_w);
            const uint8_t v = iy >= 0 && iy < (int16_t)a.in_h && ix >= 0 && ix < (int16_t)a.in_w
                                  ? get_packed_value(in, (index_t)((c0 + c) * st.chan + (index_t)iy * st.row + ix), ib)
                                  : a.in_zero_point;
            uint8_t field = DMC_READ_U8(w);
            for (uint8_t i = ph; i; --i) field = (uint8_t)(field >> wb);
            if (++ph == per_byte) {
              ph = 0;
              ++w;
            }
            field &= mask;
            acc += mul_u8_s8(v, (int8_t)((int8_t)(field ^ sign) - (int8_t)sign));
          }
        }
      }
      if (acc > best) best = acc;
    }
  }
  return best;
}

/* Reads the elements i and i + 1 of channel 0, 1, 2 ... of a packed CHW tensor (two neighbouring
 * pixels' columns, one pair per channel plane) with a pointer. In 4-bit codes the pair lies in
 * one byte when i is even, else it spans two; with an odd-sized plane that flips per channel. */
template <uint8_t IB>
class PairReader {
 public:
  DMC_INLINE PairReader(const uint8_t *in, index_t i, index_t plane) : in_(in), i_(i), plane_(plane) {}
  DMC_INLINE void next(uint8_t &v0, uint8_t &v1) {
    v0 = Packed<IB>::get(in_, i_);
    v1 = Packed<IB>::get(in_, (index_t)(i_ + 1));
    i_ += plane_;
  }

 private:
  const uint8_t *in_;
  index_t i_, plane_;
};

template <>
class PairReader<8> {
 public:
  DMC_INLINE PairReader(const uint8_t *in, index_t i, index_t plane) : p_(in + i), plane_(plane) {}
  DMC_INLINE void next(uint8_t &v0, uint8_t &v1) {
    v0 = p_[0];
    v1 = p_[1];
    p_ += plane_;
  }

 private:
  const uint8_t *p_;
  index_t plane_;
};

template <>
class PairReader<4> {
 public:
  DMC_INLINE PairReader(const uint8_t *in, index_t i, index_t plane)
      : p_(in + (i >> 1)), bytes_((index_t)(plane >> 1)), odd_((uint8_t)(i & 1)), flips_((uint8_t)(plane & 1)) {}
  DMC_INLINE void next(uint8_t &v0, uint8_t &v1) {
    const uint8_t b = p_[0];
    if (odd_) {
      v0 = (uint8_t)(b >> 4);
      v1 = (uint8_t)(p_[1] & 0x0F);
    } else {
      v0 = (uint8_t)(b & 0x0F);
      v1 = (uint8_t)(b >> 4);
    }
    p_ += bytes_ + (flips_ & odd_);
    odd_ ^= flips_;
  }

 private:
  const uint8_t *p_;
  index_t bytes_;
  uint8_t odd_, flips_;
};

/* A 1x1 conv (stride 1, no padding or pool, CHW in and out):
 *   out(oc, p) = requantize(bias[oc] + sum_c in(c, p) * w(oc, c)).
 * The window loop spends most of a one-tap window on index arithmetic; here two neighbouring
 * pixels' columns are walked with one pointer and share every weight read (an edge_nano's 1x1
 * convs hold 70% of its MACs). Planes of one pixel take the window loop. Sums in int16 chunks
 * that cannot overflow, as dot(). */
template <uint8_t WB, uint8_t IB, uint8_t OB>
void pointwise_outputs(const uint8_t *in, uint8_t *out, const Conv2dArgs &a) {
  const index_t plane = (index_t)((index_t)a.in_h * a.in_w);
  index_t o = 0;
  for (uint16_t oc = 0; oc < a.out_c; ++oc) {
    const OutputChannel ch(a, oc);
    const uint32_t filter = (uint32_t)oc * a.in_c;
    for (index_t p = 0; p < plane; p = (index_t)(p + 2)) {
      // a lone last pixel (odd plane) is paired with the one before it, whose sum is dropped
      const uint8_t lone = (index_t)(p + 1) == plane;
      WeightStream<WB> w;
      w.seek(a.weight, filter);
      PairReader<IB> col(in, (index_t)(p - lone), plane);
      int32_t acc[2] = {ch.bias, ch.bias};
      uint16_t left = a.in_c;
      while (left) {
        uint8_t k = left < DotChunk<WB, IB>::kChunk ? (uint8_t)left : DotChunk<WB, IB>::kChunk;
        left = (uint16_t)(left - k);
        int16_t s0 = 0, s1 = 0;
        do {
          uint8_t v0, v1;
          col.next(v0, v1);
          const int8_t wv = w.next();
          s0 = (int16_t)(s0 + mul_u8_s8(v0, wv));
          s1 = (int16_t)(s1 + mul_u8_s8(v1, wv));
        } while (--k);
        acc[0] += s0;
        acc[1] += s1;
      }
      for (uint8_t k = lone; k < 2; ++k) {
        Packed<OB>::set(out, o++, ch.code(acc[k], a));
      }
    }
  }
}

/* The output loops shared by conv2d and depthwise_conv2d: per (pooled) output row, per output
 * channel its bias and requantization constants, per position the max over the pool window. */
template <uint8_t WB, uint8_t IB, uint8_t OB, bool DEPTHWISE, uint8_t KW, bool PAIRS = false,
          uint8_t LAYOUT = kPlainLayout>
DMC_AVR_COLD void conv2d_outputs(const uint8_t *in, uint8_t *out, const Conv2dArgs *flash_args) {
  Conv2dArgs a;
  DMC_FLASH_COPY(&a, flash_args, sizeof(a));
  const uint32_t filter_size = (uint32_t)(DEPTHWISE ? 1 : a.in_c) * a.kernel_h * a.kernel_w;
  const TensorStrides os = tensor_strides((LAYOUT & kInterleavedOut) != 0, a.out_c, a.out_h, a.out_w);
#if defined(__AVR__)  // the one dispatch to the AVR inner loops
  // the generated code passes KW only for layers these loops take, PAIRS only for layers with
  // stride_w 1 and an even fused pool (see conv2d)
  if (KW != 0) {
    avr::memory_barrier();
    const TensorStrides is = tensor_strides((LAYOUT & kInterleavedIn) != 0, a.in_c, a.in_h, a.in_w);
    avr::Window g = {in, a.weight, is.chan, a.in_h, a.in_w, is.row,
                     (index_t)((index_t)a.dilation_h * is.row), a.kernel_h, a.dilation_h, a.in_zero_point,
                     a.pool_k, a.stride_h, a.stride_w, {0, 0}, {0, 0}, 0, 0, 0};
    avr::finish_window<IB>(g, KW);
    const uint16_t n_c = DEPTHWISE ? 1 : a.in_c;
    // PAIRS with a 2 x 2 pool: the groups of a pooled row that lie inside the input, [px_lo,
    // px_lo + run), go in one call (pair_pool_row); the nibble phase must be the same for each
    avr::PairRow row = {{0, 0, 0}, 0, 0, a.kernel_h, (uint8_t)n_c, 0, 0, g.chan_skip, 0, 0, 0, 0, 0, 0,
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
      row.count = (uint8_t)run;
      row.dy_bytes = (uint16_t)(IB == 4 ? (g.dy_step >> 1) : g.dy_step);
      row.px_bytes = IB == 4 ? (uint16_t)(a.pool_s >> 1) : a.pool_s;
      row.terms = (uint16_t)(n_c * KW * a.kernel_h);
    }
    const int16_t y_last = (int16_t)(a.in_h - (a.kernel_h - 1) * a.dilation_h);
    // Row order (every channel of a pooled row before the next row) where the plan needs it (a
    // conv over its input) or where it writes interleaved rows front to back; else channel by
    // channel. Either way the output element advances by one, except in row order into CHW.
    const bool rows = (LAYOUT & (kOverlapping | kInterleavedOut)) != 0;
    const bool jumps = rows && !(LAYOUT & kInterleavedOut);
    index_t o = 0;
    for (uint16_t i = 0; i < (rows ? a.out_h : a.out_c); ++i) {
      for (uint16_t k = 0; k < (rows ? a.out_c : a.out_h); ++k) {
        const uint16_t py = rows ? i : k, oc = rows ? k : i;
        const int16_t y0 = (int16_t)(py * (a.pool_s * a.stride_h) - a.pad_top);
        const bool row_in = run && y0 >= 0 && y0 + a.stride_h < y_last;
        const uint32_t filter = (uint32_t)oc * filter_size;
        const int32_t bias = DMC_READ_I32(a.bias + oc);
        const uint16_t q = a.per_channel ? oc : 0;
        const int16_t m = DMC_READ_I16(a.multiplier + q);
        const uint8_t sh = DMC_READ_U8(a.shift + q);
        const uint16_t c0 = DEPTHWISE ? oc : 0;
        if (jumps) o = (index_t)((index_t)oc * os.chan + (index_t)py * os.row);
        int16_t x0 = (int16_t)-a.pad_left;
        for (uint16_t px = 0; px < a.out_w; ++px, x0 = (int16_t)(x0 + a.pool_s * a.stride_w)) {
          if (PAIRS && row_in && px == px_lo) {
            const index_t first = (index_t)(c0 * g.plane + (index_t)y0 * g.row_stride + (index_t)x0);
            row.ws.w = a.weight;
            row.ws.wph = avr::seek_weights<WB>(a.weight, filter, row.ws.w, row.ws.wbyte);
            row.bias = bias;
            row.m = m;
            row.sh = sh;
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
          int32_t best;
          if (PAIRS && ((LAYOUT & kUnpadded) || ((LAYOUT & kGroupCut) && !avr::group_cut_fits<KW == 0 ? 1 : KW>(g, n_c)))) {
            // (not reached: see kUnpadded, kGroupCut)
            best = pooled_window_max_any(in, a, filter, c0, n_c, y0, x0, bias, WB, IB, (LAYOUT & kInterleavedIn) != 0);
          } else if (PAIRS) {
            best = bias + avr::conv_pooled_pairs<WB, IB, KW == 0 ? 1 : KW, (LAYOUT & kGroupCut) != 0>(g, filter, c0,
                                                                                                       n_c, y0, x0);
          } else {
            best = bias + avr::conv_pooled<WB, IB, KW == 0 ? 1 : KW>(g, filter, c0, n_c, y0, x0);
          }
          Packed<OB>::set(out, o++, requantize_to_code(best, m, sh, a.out_zero_point, a.clamp_lo, a.clamp_hi));
        }
      }
    }
    return;
  }
#endif
  if (!DEPTHWISE && LAYOUT == kPlainLayout && a.kernel_h == 1 && a.kernel_w == 1 && a.stride_h == 1 &&
      a.stride_w == 1 && a.pool_k == 1 && a.pad_top == 0 && a.pad_left == 0 && a.out_h == a.in_h &&
      a.out_w == a.in_w && (uint32_t)a.in_h * a.in_w >= 2) {
    pointwise_outputs<WB, IB, OB>(in, out, a);
    return;
  }
  for (uint16_t py = 0; py < a.out_h; ++py) {
    for (uint16_t oc = 0; oc < a.out_c; ++oc) {
      const OutputChannel ch(a, oc);
      const uint32_t filter = (uint32_t)oc * filter_size;
      const uint16_t c0 = DEPTHWISE ? oc : 0, n_c = DEPTHWISE ? 1 : a.in_c;
      index_t o = (index_t)((index_t)oc * os.chan + (index_t)py * os.row);
      for (uint16_t px = 0; px < a.out_w; ++px) {
        const int32_t best = pooled_window_max<WB, IB, (LAYOUT & kInterleavedIn) != 0>(
            in, a, filter, c0, n_c, (int16_t)(py * a.pool_s * a.stride_h - a.pad_top),
            (int16_t)(px * a.pool_s * a.stride_w - a.pad_left), ch.bias);
        Packed<OB>::set(out, o++, ch.code(best, a));
      }
    }
  }
}

}  // namespace dmc

#if DMC_ARM_DSP
#include "arm/conv2d_dsp.h"
#endif

namespace dmc {

/* LAYOUT: see ConvLayout above (the generated code passes the planner's choice).
 *
 * PAIRS: the AVR loops take the windows of each fused pool row in side-by-side pairs, one weight
 * and activation load for two windows (dmc.deploy.codegen.avr_window_pairs: stride_w 1, an even
 * pool width); other targets ignore it.
 *
 * KW: 0, or the layer's kernel width when the layer suits the AVR loops (8- or 4-bit weights, no
 * horizontal dilation, 8-bit input or an even input width, KH * KW <= 256): the generated code
 * passes it so (dmc.deploy.codegen.avr_kernel_width), and an AVR build then compiles the loops
 * for that width only. Other targets ignore it. */
template <uint8_t WB, uint8_t IB, uint8_t OB, uint8_t KW = 0, bool PAIRS = false, uint8_t LAYOUT = kPlainLayout>
void conv2d(const uint8_t *in, uint8_t *out, const Conv2dArgs *flash_args) {
#if DMC_ARM_DSP
  if (arm::conv2d_dsp<WB, IB, OB, KW, LAYOUT>(in, out, flash_args)) return;
#endif
  conv2d_outputs<WB, IB, OB, false, KW, PAIRS, LAYOUT>(in, out, flash_args);
}

}  // namespace dmc

DMC_OPTIMIZE_END

#endif  // DMC_KERNELS_CONV2D_H
