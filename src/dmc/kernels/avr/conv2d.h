/* AVR inner loops of conv2d / depthwise_conv2d (see ../conv2d.h for the arithmetic): a window
 * whose rows lie inside the input is a sequence of kernel rows, each one straight-line
 * assembly run of KW products (mac.h) over consecutive activations and the filter's next KW
 * weights. The weight stream is read once, in order, across the rows; the activation pointer
 * jumps to the next row (and channel) between runs. Windows that touch the padding, dilated
 * rows and kernel widths without a run variant stay on the portable loop. */
#ifndef DMC_KERNELS_AVR_CONV2D_H
#define DMC_KERNELS_AVR_CONV2D_H

#if defined(__AVR__)

#include "mac.h"
#include "../../requant.h"

DMC_OPTIMIZE_BEGIN

namespace dmc {
namespace avr {

/* Whether conv_window handles this layer: kernel widths with a run variant, rows of adjacent
 * activations, and a channel's products within one 24-bit flush. */
inline bool conv_rows_supported(uint8_t kernel_w, uint8_t kernel_h, uint8_t dilation_w) {
  return dilation_w == 1 && (kernel_w == 1 || kernel_w == 3 || kernel_w == 5) &&
         (uint16_t)kernel_w * kernel_h <= kMaxTerms;
}

/* The window's geometry, fixed for a layer. */
struct Window {
  const uint8_t *in;
  const uint8_t *weight;
  index_t plane;
  uint16_t in_h, in_w;
  index_t row_step;  // dilation_h * in_w
  uint8_t kernel_h, dilation_h;
  uint8_t zin;
  uint8_t pool_k, stride_h, stride_w;
};

/* sum(in * w) over channels [c0, c0 + n_c) of a window inside the input whose top-left element
 * is `origin` (an element index); the weight stream starts at (w, wph, wbyte): one run per
 * kernel row. */
template <uint8_t WB, uint8_t IB, uint8_t KW>
DMC_INLINE int32_t conv_rows(const Window &g, const uint8_t *w, uint8_t wph, uint8_t wbyte, index_t origin,
                             uint16_t n_c) {
  Acc acc = {0, 0};
  int32_t total = 0;
  uint8_t xbyte = 0;
  const uint8_t kernel_h = g.kernel_h;
  const index_t row_step = g.row_step, plane = g.plane;
  const uint8_t *in = g.in;
  const bool flush_each_channel = (uint16_t)KW * kernel_h * n_c > kMaxTerms;
  for (uint16_t c = 0; c < n_c; ++c, origin += plane) {
    index_t row = origin;
    for (uint8_t ky = 0; ky < kernel_h; ++ky, row += row_step) {
      const uint8_t *x;
      const uint8_t xph = seek_acts<IB>(in, row, x, xbyte);
      mac_run_at<WB, IB, KW>(acc, x, w, xbyte, wbyte, wph, xph);
      wph = (uint8_t)((wph + KW) & Phase<WB>::kMask);
    }
    if (flush_each_channel) total += flush<WB>(acc);
  }
  return total + flush<WB>(acc);
}

/* The same for a window that touches the padding, element by element (one product per run,
 * any kernel width): positions outside the input read a zero-point code (padding reads zin). */
template <uint8_t WB, uint8_t IB>
__attribute__((noinline)) int32_t conv_padded(const Window &g, uint8_t kernel_w, uint32_t filter, uint16_t c0,
                                              uint16_t n_c, int16_t y0, int16_t x0) {
  uint8_t pad = IB == 4 ? (uint8_t)(g.zin | (g.zin << 4)) : g.zin;  // any phase reads zin
  memory_barrier();  // the runs read `pad` through a pointer the compiler does not see
  Acc acc = {0, 0};
  int32_t total = 0;
  const uint8_t *w;
  uint8_t wbyte = 0, xbyte = 0;
  uint8_t wph = seek_weights<WB>(g.weight, filter, w, wbyte);
  index_t origin = (index_t)c0 * g.plane + (index_t)(y0 * (int16_t)g.in_w + x0);  // wraps; used inside only
  for (uint16_t c = 0; c < n_c; ++c, origin += g.plane) {
    index_t row = origin;
    int16_t iy = y0;
    for (uint8_t ky = 0; ky < g.kernel_h; ++ky, row += g.row_step, iy = (int16_t)(iy + g.dilation_h)) {
      const bool row_in = iy >= 0 && iy < (int16_t)g.in_h;
      int16_t ix = x0;
      for (uint8_t kx = 0; kx < kernel_w; ++kx, ++ix) {
        const uint8_t *x = &pad;
        uint8_t xph = 0;
        if (row_in && ix >= 0 && ix < (int16_t)g.in_w) xph = seek_acts<IB>(g.in, (index_t)(row + kx), x, xbyte);
        mac_run_at<WB, IB, 1>(acc, x, w, xbyte, wbyte, wph, xph);
        wph = (uint8_t)((wph + 1) & Phase<WB>::kMask);
      }
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
  int32_t best = kAccMin;
  int16_t y = y0;
  for (uint8_t dy = 0; dy < g.pool_k; ++dy, y = (int16_t)(y + g.stride_h)) {
    int16_t x = x0;
    for (uint8_t dx = 0; dx < g.pool_k; ++dx, x = (int16_t)(x + g.stride_w)) {
      int32_t acc;
      if (y >= 0 && x >= 0 && y < y_last && x <= x_last) {
        acc = conv_rows<WB, IB, KW>(g, w, wph, wbyte, (index_t)c0 * g.plane + (index_t)y * g.in_w + (index_t)x, n_c);
      } else {
        acc = conv_padded<WB, IB>(g, KW, filter, c0, n_c, y, x);
      }
      if (acc > best) best = acc;
    }
  }
  return best;
}

template <uint8_t WB, uint8_t IB>
DMC_INLINE int32_t conv_pooled_any(uint8_t kernel_w, const Window &g, uint32_t filter, uint16_t c0, uint16_t n_c,
                                   int16_t y0, int16_t x0) {
  switch (kernel_w) {
    case 1: return conv_pooled<WB, IB, 1>(g, filter, c0, n_c, y0, x0);
    case 3: return conv_pooled<WB, IB, 3>(g, filter, c0, n_c, y0, x0);
    default: return conv_pooled<WB, IB, 5>(g, filter, c0, n_c, y0, x0);
  }
}

}  // namespace avr
}  // namespace dmc

DMC_OPTIMIZE_END

#endif  // __AVR__
#endif  // DMC_KERNELS_AVR_CONV2D_H
