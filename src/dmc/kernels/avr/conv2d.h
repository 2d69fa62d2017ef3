/* AVR inner loops of conv2d / depthwise_conv2d (see ../conv2d.h for the arithmetic; the
 * generated code selects these loops per layer through the KW template argument).
 *
 * A window inside the input is a sequence of kernel rows: one assembly loop per channel runs
 * them (mac.h: KW unrolled products per row over consecutive activations and the filter's next
 * KW weights; the weight stream read once, in order; X jumping to the next row between rows).
 * The windows of a fused max pool share the positioned weight stream and, when every one lies
 * inside the input, are compared on their raw 24-bit sums and converted once. A window that
 * touches the padding runs row by row: rows inside in place, rows cut by an edge gathered first
 * into a row of 8-bit codes holding zin outside the input.
 *
 * With PAIRS (a fused max pool of even width, stride_w 1) the windows go in side-by-side pairs
 * instead (mac.h: mac_pair_rows): pair_pool_row runs a pooled row's inside 2 x 2 groups, the
 * padded pairs read their inside rows in place and the rest from gathered codes.
 *
 * Rows and channels are found through the Window's strides, so an input with interleaved rows
 * (../conv2d.h: LAYOUT) takes the same loops; the caller keeps the row order. */
#ifndef DMC_KERNELS_AVR_CONV2D_H
#define DMC_KERNELS_AVR_CONV2D_H

#if defined(__AVR__)

#include "mac.h"
#include "../../requant.h"

DMC_OPTIMIZE_BEGIN

namespace dmc {
namespace avr {

/* The gather buffer of conv_group_cut (bytes): a 5 x 5 kernel's two pool rows (6 rows of 6). */
const uint8_t kMaxGroupCodes = 36;

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
  uint16_t pair_skip[2];  // the same for a pair of side-by-side windows (a row of kernel_w + 1)
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
    const uint16_t pair_loads = IB == 4 ? (uint16_t)((ph + kernel_w + 2) >> 1) : (uint16_t)(kernel_w + 1);
    g.pair_skip[ph] = (uint16_t)(row_bytes - pair_loads);
  }
  g.chan_skip = (int16_t)((IB == 4 ? (g.plane >> 1) : g.plane) - (uint16_t)g.kernel_h * row_bytes);
  const uint16_t per_loop = (uint16_t)(kMaxTerms / ((uint16_t)kernel_w * g.kernel_h));
  g.per_loop = (uint8_t)(per_loop > 255 ? 255 : per_loop);  // 1 x 1 kernels: 256 would wrap to 0
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

/* mac_pair_rows with the phases chosen at run time. */
template <uint8_t WB, uint8_t IB, uint8_t KW>
DMC_INLINE void pair_rows_at(Acc2 &a, const uint8_t *&x, const uint8_t *&w, uint8_t &wbyte, uint8_t wph, uint8_t xph,
                             uint8_t rows, uint16_t skip) {
  if (IB == 4 && xph) {
    if (WB == 4 && wph) {
      mac_pair_rows<WB, IB, KW, 1, 1>(a, x, w, wbyte, rows, skip);
    } else {
      mac_pair_rows<WB, IB, KW, 0, 1>(a, x, w, wbyte, rows, skip);
    }
  } else if (WB == 4 && wph) {
    mac_pair_rows<WB, IB, KW, 1, 0>(a, x, w, wbyte, rows, skip);
  } else {
    mac_pair_rows<WB, IB, KW, 0, 0>(a, x, w, wbyte, rows, skip);
  }
}

/* The weight stream's place, passed between the pair loops. */
struct PairStream {
  const uint8_t *w;
  uint8_t wph, wbyte;
};

/* n_c channels of `rows` kernel rows for a pair whose first activation is x (phase xph), the
 * products added into acc without a flush (n_c * rows * KW <= kMaxTerms); the weight stream
 * advances. Out of line: the assembly needs most registers, so it runs where few others live. */
template <uint8_t WB, uint8_t IB, uint8_t KW>
__attribute__((noinline)) void pair_sums(Acc2 &acc, PairStream &ws, const uint8_t *x, uint8_t xph, uint8_t rows,
                                         uint8_t n_c, uint16_t skip, int16_t chan_skip) {
  Acc2 a = acc;
  const uint8_t *w = ws.w;
  uint8_t wbyte = ws.wbyte, wph = ws.wph;
  do {
    pair_rows_at<WB, IB, KW>(a, x, w, wbyte, wph, xph, rows, skip);
    x += chan_skip;
    if (WB == 4 && ((KW * rows) & 1)) wph ^= 1;
  } while (--n_c);
  acc = a;
  ws.w = w;
  ws.wbyte = wbyte;
  ws.wph = wph;
}

/* A pool group of pairs inside the input, each within one 24-bit sum: the largest raw sum of
 * `passes` pairs whose first activations lie pass_bytes apart (each pass rereads the filter). */
template <uint8_t WB, uint8_t IB, uint8_t KW>
DMC_INLINE acc24_t pair_pool_max_body(const PairStream &ws0, const uint8_t *x0, uint8_t xph, uint8_t rows, uint8_t n_c,
                                      uint16_t skip, int16_t chan_skip, uint8_t passes, uint16_t pass_bytes) {
  acc24_t best = 0;
  do {
    Acc2 a = {0, 0, 0};
    const uint8_t *w = ws0.w;
    uint8_t wbyte = ws0.wbyte, wph = ws0.wph;
    const uint8_t *x = x0;
    uint8_t c = n_c;
    do {
      pair_rows_at<WB, IB, KW>(a, x, w, wbyte, wph, xph, rows, skip);
      x += chan_skip;
      if (WB == 4 && ((KW * rows) & 1)) wph ^= 1;
    } while (--c);
    if (a.s0 > best) best = a.s0;
    if (a.s1 > best) best = a.s1;
    x0 += pass_bytes;
  } while (--passes);
  return best;
}


/* n rows of kCols 8-bit codes from input row `row` (element index, at input row iy; the next
 * rows row_step / dilation_h further on) into dst: the columns [kx_lo, kx_hi) read from the input
 * where the row is inside it, zin everywhere else. */
/* gather_rows compiled for size: 8-bit codes, where a gather is a plain copy. */
template <uint8_t IB, uint8_t kCols>
__attribute__((noinline)) DMC_AVR_COLD void gather_rows_compact(const Window &g, uint8_t *dst, index_t row, int16_t iy, uint8_t n, uint8_t kx_lo,
                              uint8_t kx_hi) {
  for (uint8_t k = 0; k < n; ++k, row += g.row_step, iy = (int16_t)(iy + g.dilation_h), dst += kCols) {
    for (uint8_t kx = 0; kx < kCols; ++kx) dst[kx] = g.zin;
    if (iy >= 0 && iy < (int16_t)g.in_h && kx_lo < kx_hi) {
      const index_t first = (index_t)(row + kx_lo);
      const uint8_t *src = g.in + (IB == 4 ? (first >> 1) : first);
      uint8_t odd = IB == 4 ? (uint8_t)(first & 1) : 0;
      for (uint8_t kx = kx_lo; kx < kx_hi; ++kx) {
        if (IB == 8) {
          dst[kx] = *src++;
        } else if (odd) {
          dst[kx] = (uint8_t)(*src++ >> 4);
          odd = 0;
        } else {
          dst[kx] = (uint8_t)(*src & 0x0F);
          odd = 1;
        }
      }
    }
  }
}

template <uint8_t IB, uint8_t kCols>
__attribute__((noinline)) void gather_rows(const Window &g, uint8_t *dst, index_t row, int16_t iy, uint8_t n,
                                           uint8_t kx_lo, uint8_t kx_hi) {
  // (speed matters: each group at a padded layer's edge gathers a few dozen codes.) The rows go
  // in three runs, above the input, inside it and below it, so that the loop over the rows
  // inside carries no bounds, and a row's nibbles are unpacked in assembly; 8-bit codes take the
  // compact loop
  if (IB == 8) {
    gather_rows_compact<IB, kCols>(g, dst, row, iy, n, kx_lo, kx_hi);
    return;
  }
  const uint8_t zin = g.zin;
  const uint8_t inside = kx_lo < kx_hi ? (uint8_t)(kx_hi - kx_lo) : 0;
  uint8_t above = 0, within = 0;
  if (inside) {
    const int16_t in_h = (int16_t)g.in_h;
    for (uint8_t k = n; k; --k, iy = (int16_t)(iy + g.dilation_h)) {
      if (iy < 0) {
        ++above;
      } else if (iy < in_h) {
        ++within;
      }
    }
  } else {
    above = n;
  }
  uint8_t *d = dst;
  for (uint8_t i = (uint8_t)(above * kCols); i; --i) *d++ = zin;
  row = (index_t)(row + (index_t)above * g.row_step + kx_lo);
  const index_t step = g.row_step;
  const uint8_t after = (uint8_t)(kCols - kx_lo - inside);
  const uint8_t *in = g.in;
  for (uint8_t k = within; k; --k, row = (index_t)(row + step)) {
    // kx_lo codes zin, `inside` nibbles from the row (from a high nibble when row is odd), `after` zin
    const uint8_t *src = in + (row >> 1);
    const uint8_t odd = (uint8_t)row;
    uint8_t c, t, u;
    asm volatile(
        "mov %[c], %[lo]\n\t"
        "tst %[c]\n\t"
        "breq 2f\n\t"
        "1:\n\t"
        "st Z+, %[zin]\n\t"
        "dec %[c]\n\t"
        "brne 1b\n\t"
        "2:\n\t"
        "mov %[c], %[in]\n\t"
        "sbrs %[odd], 0\n\t"
        "rjmp 3f\n\t"
        "ld %[t], X+\n\t" "swap %[t]\n\t" "andi %[t], 0x0F\n\t" "st Z+, %[t]\n\t"
        "dec %[c]\n\t"
        "3:\n\t"
        "cpi %[c], 2\n\t"
        "brlo 4f\n\t"
        "ld %[t], X+\n\t"
        "mov %[u], %[t]\n\t" "andi %[u], 0x0F\n\t" "st Z+, %[u]\n\t"
        "swap %[t]\n\t" "andi %[t], 0x0F\n\t" "st Z+, %[t]\n\t"
        "subi %[c], 2\n\t"
        "rjmp 3b\n\t"
        "4:\n\t"
        "tst %[c]\n\t"
        "breq 5f\n\t"
        "ld %[t], X\n\t" "andi %[t], 0x0F\n\t" "st Z+, %[t]\n\t"
        "5:\n\t"
        "mov %[c], %[after]\n\t"
        "tst %[c]\n\t"
        "breq 7f\n\t"
        "6:\n\t"
        "st Z+, %[zin]\n\t"
        "dec %[c]\n\t"
        "brne 6b\n\t"
        "7:\n\t"
        : [d] "+z"(d), [src] "+x"(src), [c] "=&d"(c), [t] "=&d"(t), [u] "=&d"(u)
        : [lo] "r"(kx_lo), [in] "r"(inside), [after] "r"(after), [zin] "r"(zin), [odd] "r"(odd)
        : "memory");
  }
  for (uint8_t i = (uint8_t)((n - above - within) * kCols); i; --i) *d++ = zin;
}

/* The same for a pair that touches the padding. When the pair's kernel_w + 1 columns are all
 * inside, its rows inside the input (one run: rows move down monotonically) are read in place and
 * the rows above and below from one row of zin codes (a row skip of minus its length rereads it),
 * at most three runs per channel. When an edge cuts the columns, the rows are gathered into 8-bit
 * codes (zin outside the input) a block at a time, then run as rows inside. */
template <uint8_t WB, uint8_t IB, uint8_t KW>
__attribute__((noinline)) DMC_AVR_COLD void conv_pair_padded(const Window &g, const uint8_t *w, uint8_t wph, uint8_t wbyte,
                                                uint16_t c0, uint16_t n_c, int16_t y0, int16_t x0, int32_t *r) {
  // rows per gathered block: a small buffer, the stack of a 2 KB board being tight
  const uint8_t kCols = KW + 1, kBlock = kCols >= 30 ? 1 : (uint8_t)(30 / kCols);
  uint8_t codes[kBlock * kCols];
  Acc2 acc = {0, 0, 0};
  PairStream ws = {w, wph, wbyte};
  const uint16_t no_skip = 0, reread = (uint16_t)(0u - kCols);
  const uint8_t zin = g.zin;
  // the columns inside the input, [kx_lo, kx_hi), the same for every row
  const uint8_t kx_lo = x0 < 0 ? (uint8_t)(x0 < -kCols ? kCols : -x0) : 0;
  const int16_t right = (int16_t)g.in_w - x0;
  const uint8_t kx_hi = right < kCols ? (uint8_t)(right > 0 ? right : 0) : kCols;
  index_t origin = (index_t)c0 * g.plane + (index_t)(y0 * (int16_t)g.row_stride + x0);  // wraps; used inside only
  if (kx_lo == 0 && kx_hi == kCols) {
    // the kernel rows inside the input: [ky_lo, ky_hi)
    uint8_t ky_lo = 0, ky_hi = 0;
    int16_t iy = y0;
    for (uint8_t ky = 0; ky < g.kernel_h; ++ky, iy = (int16_t)(iy + g.dilation_h)) {
      if (iy < 0) ky_lo = (uint8_t)(ky + 1);
      if (iy < (int16_t)g.in_h) ky_hi = (uint8_t)(ky + 1);
    }
    if (ky_hi < ky_lo) ky_hi = ky_lo;
    const uint8_t below = (uint8_t)(g.kernel_h - ky_hi);
    for (uint8_t kx = 0; kx < kCols; ++kx) codes[kx] = zin;
    const index_t first = (index_t)(origin + (index_t)ky_lo * g.row_step);
    const uint8_t xph = IB == 4 ? (uint8_t)(first & 1) : 0;
    const uint8_t *x = g.in + (IB == 4 ? (first >> 1) : first);
    const uint16_t chan_bytes = (uint16_t)(IB == 4 ? (g.plane >> 1) : g.plane);
    for (uint16_t c = 0; c < n_c; ++c, x += chan_bytes) {
      if (ky_lo) pair_sums<WB, 8, KW>(acc, ws, codes, 0, ky_lo, 1, reread, no_skip);
      if (ky_hi > ky_lo) {
        pair_sums<WB, IB, KW>(acc, ws, x, xph, (uint8_t)(ky_hi - ky_lo), 1, g.pair_skip[xph], no_skip);
      }
      if (below) pair_sums<WB, 8, KW>(acc, ws, codes, 0, below, 1, reread, no_skip);
      flush_pair<WB>(acc, r);  // per channel: a channel is at most kMaxTerms products
    }
    return;
  }
  for (uint16_t c = 0; c < n_c; ++c, origin += g.plane) {
    index_t row = origin;
    int16_t iy = y0;
    uint8_t left = g.kernel_h;
    while (left) {
      const uint8_t n = left < kBlock ? left : kBlock;
      left = (uint8_t)(left - n);
      gather_rows<IB, KW + 1>(g, codes, row, iy, n, kx_lo, kx_hi);
      row += (index_t)n * g.row_step;
      iy = (int16_t)(iy + n * g.dilation_h);
      pair_sums<WB, 8, KW>(acc, ws, codes, 0, n, 1, no_skip, no_skip);  // rows of kCols codes, no gap
    }
    flush_pair<WB>(acc, r);  // per channel: a channel is at most kMaxTerms products
  }
}

/* A run of 2 x 2 pool groups along one pooled output row, every window inside the input and
 * within one 24-bit sum: per group the two pairs one pool row apart (pair_pool_max_body), the max
 * raw sum converted, biased, requantized and stored. One call per run keeps the per-output work
 * small. */
struct PairRow {
  PairStream ws;                 // the filter's weight stream
  const uint8_t *x;              // the first group's first activation (byte), its phase xph
  uint8_t xph, rows, n_c, count;  // kernel rows, channels, groups in the run
  uint16_t skip;
  int16_t chan_skip;
  uint16_t dy_bytes, px_bytes, terms;
  int32_t bias;
  int16_t m;
  uint8_t sh, zp, lo, hi;
  uint8_t *out;
  index_t o;  // the first group's output element
};

template <uint8_t WB, uint8_t IB, uint8_t OB, uint8_t KW>
__attribute__((noinline)) void pair_pool_row(const PairRow &j) {
  const uint8_t *x0 = j.x;
  index_t o = j.o;
  for (uint8_t k = j.count; k; --k, x0 += j.px_bytes, ++o) {
    const acc24_t best =
        pair_pool_max_body<WB, IB, KW>(j.ws, x0, j.xph, j.rows, j.n_c, j.skip, j.chan_skip, 2, j.dy_bytes);
    Acc all = {best, j.terms};
    Packed<OB>::set(j.out, o, requantize_to_code(j.bias + flush<WB>(all), j.m, j.sh, j.zp, j.lo, j.hi));
  }
}

/* The largest raw sum of the two pool rows' pairs over gathered rows of KW + 1 codes (one channel,
 * each sum within 24 bits): one call for the four windows. */
template <uint8_t WB, uint8_t KW>
__attribute__((noinline)) acc24_t pair_group_max(const PairStream &ws, const uint8_t *codes, uint8_t rows,
                                                 uint16_t pass_bytes) {
  return pair_pool_max_body<WB, 8, KW>(ws, codes, 0, rows, 1, 0, 0, 2, pass_bytes);
}

/* A 2 x 2 pool group of one channel whose pairs are cut by a left or right edge (dilation_h 1):
 * the kernel_h + stride_h rows both pool rows read are gathered once, then each pool row's pair
 * runs over its kernel_h of them. Returns the max of the four sums. */
template <uint8_t WB, uint8_t IB, uint8_t KW>
__attribute__((noinline)) DMC_AVR_COLD int32_t conv_group_cut(const Window &g, const uint8_t *w, uint8_t wph,
                                                              uint8_t wbyte, uint16_t c0, int16_t y0, int16_t x0) {
  const uint8_t kCols = KW + 1;
  uint8_t codes[kMaxGroupCodes];
  const uint8_t kx_lo = x0 < 0 ? (uint8_t)(x0 < -kCols ? kCols : -x0) : 0;
  const int16_t right = (int16_t)g.in_w - x0;
  const uint8_t kx_hi = right < kCols ? (uint8_t)(right > 0 ? right : 0) : kCols;
  const index_t origin = (index_t)c0 * g.plane + (index_t)(y0 * (int16_t)g.row_stride + x0);  // wraps; used inside only
  gather_rows<IB, KW + 1>(g, codes, origin, y0, (uint8_t)(g.kernel_h + g.stride_h), kx_lo, kx_hi);
  if (WB < 8) {  // one call for the four windows (8-bit weights: the smaller loop below)
    const PairStream ws = {w, wph, wbyte};
    Acc all = {pair_group_max<WB, KW>(ws, codes, g.kernel_h, (uint16_t)(g.stride_h * kCols)),
               (uint16_t)(KW * g.kernel_h)};
    return flush<WB>(all);
  }
  int32_t r[2] = {0, 0}, best = kAccMin;
  const uint16_t no_skip = 0;
  for (uint8_t dy = 0; dy < 2; ++dy) {
    Acc2 acc = {0, 0, 0};
    PairStream ws = {w, wph, wbyte};
    pair_sums<WB, 8, KW>(acc, ws, codes + (dy ? g.stride_h * kCols : 0), 0, g.kernel_h, 1, no_skip, no_skip);
    r[0] = 0;
    r[1] = 0;
    flush_pair<WB>(acc, r);
    if (r[0] > best) best = r[0];
    if (r[1] > best) best = r[1];
  }
  return best;
}

/* Whether conv_group_cut takes a pool group of this layer: one input channel's 2 x 2 group whose
 * rows fit its gather buffer. */
template <uint8_t KW>
DMC_INLINE bool group_cut_fits(const Window &g, uint16_t n_c) {
  return n_c == 1 && g.pool_k == 2 && g.dilation_h == 1 && (uint16_t)(g.kernel_h + g.stride_h) * (KW + 1) <= kMaxGroupCodes;
}

/* conv_pooled for an even pool_k and stride_w = 1: the windows of a pool row go in side-by-side
 * pairs, each weight loaded once for two windows and each activation once for both. CUT_ONLY
 * (the caller checked group_cut_fits): groups at the padding go to conv_group_cut only, and
 * conv_pair_padded is not compiled. */
template <uint8_t WB, uint8_t IB, uint8_t KW, bool CUT_ONLY = false>
__attribute__((noinline)) DMC_AVR_COLD int32_t conv_pooled_pairs(const Window &g, uint32_t filter, uint16_t c0, uint16_t n_c,
                                                    int16_t y0, int16_t x0) {
  const uint8_t *w;
  uint8_t wbyte = 0;
  const uint8_t wph = seek_weights<WB>(g.weight, filter, w, wbyte);
  const int16_t y_last = (int16_t)(g.in_h - (g.kernel_h - 1) * g.dilation_h), x_last = (int16_t)(g.in_w - KW);
  const uint8_t span = (uint8_t)(g.pool_k - 1);
  if (n_c <= g.per_loop && y0 >= 0 && x0 >= 0 && y0 + span * g.stride_h < y_last && x0 + span <= x_last) {
    // every window inside, each within one 24-bit sum: the max is taken on the raw sums (as in
    // conv_pooled) and converted once
    acc24_t best = 0;
    const uint16_t terms = (uint16_t)(n_c * KW * g.kernel_h);
    index_t row_origin = (index_t)c0 * g.plane + (index_t)y0 * g.row_stride + (index_t)x0;
    const PairStream ws = {w, wph, wbyte};
    const uint8_t xph = IB == 4 ? (uint8_t)(row_origin & 1) : 0;  // every pair's: even steps between them
    const uint8_t *x = g.in + (IB == 4 ? (row_origin >> 1) : row_origin);
    const uint16_t skip = g.pair_skip[xph], dy_bytes = (uint16_t)(IB == 4 ? (g.dy_step >> 1) : g.dy_step);
    for (uint8_t dy = 0; dy <= span; ++dy, x += dy_bytes) {  // (2 x 2 groups mostly go in pair_pool_row)
      for (uint8_t dx = 0; dx < span; dx = (uint8_t)(dx + 2)) {
        Acc2 acc = {0, 0, 0};
        PairStream s = ws;
        pair_sums<WB, IB, KW>(acc, s, x + (IB == 4 ? dx >> 1 : dx), xph, g.kernel_h, (uint8_t)n_c, skip, g.chan_skip);
        if (acc.s0 > best) best = acc.s0;
        if (acc.s1 > best) best = acc.s1;
      }
    }
    Acc all = {best, terms};
    return flush<WB>(all);
  }
  if (CUT_ONLY || group_cut_fits<KW>(g, n_c)) return conv_group_cut<WB, IB, KW>(g, w, wph, wbyte, c0, y0, x0);
  int32_t best = kAccMin;
  int16_t y = y0;
  for (uint8_t dy = 0; dy <= span; ++dy, y = (int16_t)(y + g.stride_h)) {
    for (uint8_t dx = 0; dx < span; dx = (uint8_t)(dx + 2)) {
      const int16_t x = (int16_t)(x0 + dx);
      int32_t r[2] = {0, 0};
      // (a pair inside takes the padded loop's in-place branch: one flush per channel)
      conv_pair_padded<WB, IB, KW>(g, w, wph, wbyte, c0, n_c, y, x, r);
      if (r[0] > best) best = r[0];
      if (r[1] > best) best = r[1];
    }
  }
  return best;
}

}  // namespace avr
}  // namespace dmc

DMC_OPTIMIZE_END

#endif  // __AVR__
#endif  // DMC_KERNELS_AVR_CONV2D_H
