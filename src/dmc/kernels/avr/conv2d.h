/* AVR inner loops of conv2d / depthwise_conv2d (see ../conv2d.h for the arithmetic; the
 * generated code selects these loops per layer through the KW template argument).
 *
 * A window inside the input is a sequence of kernel rows: one assembly loop per channel runs
 * them (mac.h: KW unrolled products per row over consecutive activations and the filter's next
 * KW weights; the weight stream read once, in order; X jumping to the next row between rows).
 * The windows of a fused max pool share the positioned weight stream and, when every one lies
 * inside the input, are compared on their raw 24-bit sums and converted once. A window that
 * touches the padding runs row by row: rows inside in place, rows cut by an edge gathered first
 * into a row of 8-bit codes holding zin outside the input. */
#ifndef DMC_KERNELS_AVR_CONV2D_H
#define DMC_KERNELS_AVR_CONV2D_H

#if defined(__AVR__)

#include "mac.h"
#include "../../requant.h"

DMC_OPTIMIZE_BEGIN

namespace dmc {
namespace avr {

/* The window's geometry, fixed for a layer. */
struct Window {
  const uint8_t *in;
  const uint8_t *weight;
  index_t plane;       // elements between channels (h * w, or w with interleaved rows)
  uint16_t in_h, in_w;
  index_t row_stride;  // elements between rows (w, or c * w with interleaved rows)
  index_t row_step;    // dilation_h * row_stride
  uint8_t kernel_h, dilation_h;
  uint8_t zin;
  uint8_t pool_k, stride_h, stride_w;
  // derived once per layer (finish_window): the assembly loop's pointer steps and chunking
  uint16_t row_skip[2];  // bytes from a row's last load to the next row, by starting nibble phase
  int16_t chan_skip;     // bytes from the row after a channel's last one to the next channel
  uint8_t per_loop;      // channels per 24-bit flush
  index_t dy_step;       // elements between vertically adjacent windows (stride_h * row_stride)
};

/* Fills the derived fields of a window whose first fields are set. */
template <uint8_t IB>
inline void finish_window(Window &g, uint8_t kernel_w) {
  const uint16_t row_bytes = IB == 4 ? (uint16_t)(g.row_step >> 1) : (uint16_t)g.row_step;
  for (uint8_t ph = 0; ph < 2; ++ph) {
    const uint16_t loads = IB == 4 ? (uint16_t)((ph + kernel_w + 1) >> 1) : kernel_w;
    g.row_skip[ph] = (uint16_t)(row_bytes - loads);
  }
  g.chan_skip = (int16_t)((IB == 4 ? (g.plane >> 1) : g.plane) - (uint16_t)g.kernel_h * row_bytes);
  g.per_loop = (uint8_t)(kMaxTerms / ((uint16_t)kernel_w * g.kernel_h));
  g.dy_step = (index_t)((index_t)g.stride_h * g.row_stride);
}

/* sum(in * w) over channels [c0, c0 + n_c) of a window inside the input whose top-left element
 * is `origin` (an element index); the weight stream starts at (w, wph, wbyte). One assembly
 * loop (mac_rows) per channel, a 24-bit flush every per_loop channels. */
template <uint8_t WB, uint8_t IB, uint8_t KW>
DMC_INLINE int32_t conv_rows(const Window &g, const uint8_t *w, uint8_t wph, uint8_t wbyte, index_t origin,
                             uint16_t n_c) {
  Acc acc = {0, 0};
  int32_t total = 0;
  const uint8_t xph = IB == 4 ? (uint8_t)(origin & 1) : 0;
  const uint8_t *x = g.in + (IB == 4 ? (origin >> 1) : origin);
  const uint16_t row_skip = g.row_skip[xph];
  const int16_t chan_skip = g.chan_skip;
  const uint8_t per_loop = g.per_loop;
  uint8_t in_flush = 0;
  const uint8_t kernel_h = g.kernel_h;
  for (uint16_t c = 0; c < n_c; ++c) {
    if (xph) {
      if (wph) {
        mac_rows<WB, IB, KW, WB == 4 ? 1 : 0, 1>(acc, x, w, wbyte, kernel_h, row_skip);
      } else {
        mac_rows<WB, IB, KW, 0, 1>(acc, x, w, wbyte, kernel_h, row_skip);
      }
    } else if (wph) {
      mac_rows<WB, IB, KW, WB == 4 ? 1 : 0, 0>(acc, x, w, wbyte, kernel_h, row_skip);
    } else {
      mac_rows<WB, IB, KW, 0, 0>(acc, x, w, wbyte, kernel_h, row_skip);
    }
    x += chan_skip;
    if (WB == 4 && ((KW * kernel_h) & 1)) wph ^= 1;
    if (++in_flush == per_loop) {
      total += flush<WB>(acc);
      in_flush = 0;
    }
  }
  return total + flush<WB>(acc);
}

/* The same for a window that touches the padding: each kernel row is first gathered into a
 * row of 8-bit codes (zin outside the input: padding reads zin), then runs like a row inside. */
template <uint8_t WB, uint8_t IB, uint8_t KW>
__attribute__((noinline)) int32_t conv_padded(const Window &g, const uint8_t *w, uint8_t wph, uint8_t wbyte,
                                              uint16_t c0, uint16_t n_c, int16_t y0, int16_t x0) {
  uint8_t row_codes[KW];
  Acc acc = {0, 0};
  int32_t total = 0;
  const uint16_t no_skip = 0;
  const uint8_t zin = g.zin;
  // the columns inside the input, [kx_lo, kx_hi), the same for every row
  const uint8_t kx_lo = x0 < 0 ? (uint8_t)-x0 : 0;
  const int16_t right = (int16_t)g.in_w - x0;
  const uint8_t kx_hi = right < KW ? (uint8_t)(right > 0 ? right : 0) : KW;
  index_t origin = (index_t)c0 * g.plane + (index_t)(y0 * (int16_t)g.row_stride + x0);  // wraps; used inside only
  const bool full_width = kx_lo == 0 && kx_hi == KW;
  for (uint16_t c = 0; c < n_c; ++c, origin += g.plane) {
    index_t row = origin;
    int16_t iy = y0;
    for (uint8_t ky = 0; ky < g.kernel_h; ++ky, row += g.row_step, iy = (int16_t)(iy + g.dilation_h)) {
      const bool row_in = iy >= 0 && iy < (int16_t)g.in_h;
      if (row_in && full_width) {  // a whole row inside: read in place, as in conv_rows
        const uint8_t xph = IB == 4 ? (uint8_t)(row & 1) : 0;
        const uint8_t *x = g.in + (IB == 4 ? (row >> 1) : row);
        if (xph) {
          if (WB == 4 && wph) {
            mac_rows<WB, IB, KW, 1, 1>(acc, x, w, wbyte, 1, no_skip);
          } else {
            mac_rows<WB, IB, KW, 0, 1>(acc, x, w, wbyte, 1, no_skip);
          }
        } else if (WB == 4 && wph) {
          mac_rows<WB, IB, KW, 1, 0>(acc, x, w, wbyte, 1, no_skip);
        } else {
          mac_rows<WB, IB, KW, 0, 0>(acc, x, w, wbyte, 1, no_skip);
        }
      } else {
        for (uint8_t kx = 0; kx < KW; ++kx) row_codes[kx] = zin;
        if (row_in) {
          index_t i = (index_t)(row + kx_lo);
          for (uint8_t kx = kx_lo; kx < kx_hi; ++kx, ++i) row_codes[kx] = Packed<IB>::get(g.in, i);
        }
        memory_barrier();  // the run reads row_codes through a pointer the compiler does not see
        const uint8_t *x = row_codes;
        if (WB == 4 && wph) {
          mac_rows<WB, 8, KW, 1, 0>(acc, x, w, wbyte, 1, no_skip);
        } else {
          mac_rows<WB, 8, KW, 0, 0>(acc, x, w, wbyte, 1, no_skip);
        }
      }
      if (WB == 4 && (KW & 1)) wph ^= 1;
    }
    total += flush<WB>(acc);  // per channel: a channel is at most kMaxTerms products
  }
  return total;
}

/* The max over a pool_k x pool_k group of windows (pool_k = 1: one window) whose first window
 * is at (y0, x0): the weight stream is positioned once, each window's bounds are checked once,
 * then one of the two loops above. */
template <uint8_t WB, uint8_t IB, uint8_t KW>
__attribute__((noinline)) int32_t conv_pooled(const Window &g, uint32_t filter, uint16_t c0, uint16_t n_c,
                                              int16_t y0, int16_t x0) {
  const uint8_t *w;
  uint8_t wbyte = 0;
  const uint8_t wph = seek_weights<WB>(g.weight, filter, w, wbyte);
  const int16_t y_last = (int16_t)(g.in_h - (g.kernel_h - 1) * g.dilation_h), x_last = (int16_t)(g.in_w - KW);
  const uint8_t span = (uint8_t)(g.pool_k - 1);
  if (n_c <= g.per_loop && y0 >= 0 && x0 >= 0 && y0 + span * g.stride_h < y_last && x0 + span * g.stride_w <= x_last) {
    // every window inside, each within one 24-bit sum: the sums all carry the same bias and
    // scale, so the max is taken on them directly and converted once
    acc24_t best = 0;
    const uint16_t terms = (uint16_t)(n_c * KW * g.kernel_h);
    index_t row_origin = (index_t)c0 * g.plane + (index_t)y0 * g.row_stride + (index_t)x0;
    for (uint8_t dy = 0; dy <= span; ++dy, row_origin += g.dy_step) {
      index_t origin = row_origin;
      for (uint8_t dx = 0; dx <= span; ++dx, origin += g.stride_w) {
        Acc acc = {0, 0};
        const uint8_t xph = IB == 4 ? (uint8_t)(origin & 1) : 0;
        const uint8_t *x = g.in + (IB == 4 ? (origin >> 1) : origin);
        const uint8_t *wp = w;
        uint8_t wb = wbyte, ph = wph;
        const uint16_t row_skip = g.row_skip[xph];
        for (uint16_t c = 0; c < n_c; ++c) {
          if (xph) {
            if (ph) {
              mac_rows<WB, IB, KW, WB == 4 ? 1 : 0, 1>(acc, x, wp, wb, g.kernel_h, row_skip);
            } else {
              mac_rows<WB, IB, KW, 0, 1>(acc, x, wp, wb, g.kernel_h, row_skip);
            }
          } else if (ph) {
            mac_rows<WB, IB, KW, WB == 4 ? 1 : 0, 0>(acc, x, wp, wb, g.kernel_h, row_skip);
          } else {
            mac_rows<WB, IB, KW, 0, 0>(acc, x, wp, wb, g.kernel_h, row_skip);
          }
          x += g.chan_skip;
          if (WB == 4 && ((KW * g.kernel_h) & 1)) ph ^= 1;
        }
        if (acc.sum > best) best = acc.sum;
      }
    }
    Acc all = {best, terms};
    return flush<WB>(all);
  }
  int32_t best = kAccMin;
  int16_t y = y0;
  for (uint8_t dy = 0; dy < g.pool_k; ++dy, y = (int16_t)(y + g.stride_h)) {
    int16_t x = x0;
    for (uint8_t dx = 0; dx < g.pool_k; ++dx, x = (int16_t)(x + g.stride_w)) {
      int32_t acc;
      if (y >= 0 && x >= 0 && y < y_last && x <= x_last) {
        acc = conv_rows<WB, IB, KW>(g, w, wph, wbyte, (index_t)c0 * g.plane + (index_t)y * g.row_stride + (index_t)x,
                                    n_c);
      } else {
        acc = conv_padded<WB, IB, KW>(g, w, wph, wbyte, c0, n_c, y, x);
      }
      if (acc > best) best = acc;
    }
  }
  return best;
}

}  // namespace avr
}  // namespace dmc

DMC_OPTIMIZE_END

#endif  // __AVR__
#endif  // DMC_KERNELS_AVR_CONV2D_H
