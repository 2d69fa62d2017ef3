/* conv2d with the Cortex-M DSP extension: the same arithmetic as ../conv2d.h (read it first:
 * folded bias, padding with the zero point, fused max pool over accumulators).
 *
 * Everything the inner loop reads is unpacked once to 16-bit lanes in the scratch region
 * (scratch.h), so that the loop is loads and SMLADs only:
 * - the weights of up to kChannels output channels, each filter as P = filter_size rounded up
 *   to 4 elements (zeros after the filter), once per call and channel block;
 * - per set of up to kWindows windows (the windows of one pooled output, or up to 4 outputs in
 *   a row without a pool), the activations of each window (the zero point where a window
 *   leaves the input) as a column of P elements, columns `S` bytes apart (column_stride), once
 *   for all channels of the block.
 * The inner loop (dot_windows) takes one channel and the 4 windows: per 4 elements one LDRD of
 * weights, one LDRD per window and 8 SMLADs.
 *
 * Layouts (LAYOUT, ../conv2d.h): input and output may have interleaved rows; the loops take their
 * strides. A conv written over its own input (kOverlapping) relies on the row order of the
 * memory plan: conv2d_pool2 reads its whole input into the plane before it writes an output,
 * conv2d_columns finishes each output row over all channels before the next when the channels
 * fit one block (out_c <= kChannels) and leaves the layer to the portable kernel otherwise. */
#ifndef DMC_KERNELS_ARM_CONV2D_DSP_H
#define DMC_KERNELS_ARM_CONV2D_DSP_H

#include "lanes.h"
#include "requant_dsp.h"
#include "scratch.h"

DMC_OPTIMIZE_BEGIN

namespace dmc {
namespace arm {

/* One group of 4 elements of the filter against the 4 columns (S bytes apart): the weight and
 * column pointers advance by 8 bytes; flags are left alone (the loop below relies on it). */
#define DMC_ARM_CONV_GROUP                    \
  "ldrd %[w0], %[w1], [%[w]], #8\n\t"         \
  "ldrd %[a0], %[a1], [%[c], %[s1]]\n\t"      \
  "smlad %[r1], %[a0], %[w0], %[r1]\n\t"      \
  "smlad %[r1], %[a1], %[w1], %[r1]\n\t"      \
  "ldrd %[a0], %[a1], [%[c], %[s2]]\n\t"      \
  "smlad %[r2], %[a0], %[w0], %[r2]\n\t"      \
  "smlad %[r2], %[a1], %[w1], %[r2]\n\t"      \
  "ldrd %[a0], %[a1], [%[c], %[s3]]\n\t"      \
  "smlad %[r3], %[a0], %[w0], %[r3]\n\t"      \
  "smlad %[r3], %[a1], %[w1], %[r3]\n\t"      \
  "ldrd %[a0], %[a1], [%[c]], #8\n\t"         \
  "smlad %[r0], %[a0], %[w0], %[r0]\n\t"      \
  "smlad %[r0], %[a1], %[w1], %[r0]\n\t"

/* acc[k] += sum_e w[e] * column_k[e] over `groups` >= 1 groups of 4 elements; w and col are
 * 4-byte aligned. Two groups per loop turn, one first when the count is odd. */
template <uint16_t S>
DMC_INLINE void dot_windows(const int16_t *w, const uint16_t *col, uint32_t groups, int32_t acc[4]) {
  int32_t r0 = acc[0], r1 = acc[1], r2 = acc[2], r3 = acc[3];
  uint32_t w0, w1, a0, a1;
  __asm__(
      "lsrs %[n], %[n], #1\n\t"  // C = an odd group, Z = no pair
      "bcc 2f\n\t" DMC_ARM_CONV_GROUP
      "2:\n\t"
      "beq 3f\n\t"
      "1:\n\t" DMC_ARM_CONV_GROUP DMC_ARM_CONV_GROUP
      "subs %[n], %[n], #1\n\t"
      "bne 1b\n\t"
      "3:\n\t"
      : [w] "+r"(w), [c] "+r"(col), [n] "+r"(groups), [r0] "+r"(r0), [r1] "+r"(r1), [r2] "+r"(r2), [r3] "+r"(r3),
        [w0] "=&r"(w0), [w1] "=&r"(w1), [a0] "=&r"(a0), [a1] "=&r"(a1)
      : [s1] "i"(S), [s2] "i"(2 * S), [s3] "i"(3 * S)
      : "cc", "memory");
  acc[0] = r0;
  acc[1] = r1;
  acc[2] = r2;
  acc[3] = r3;
}
#undef DMC_ARM_CONV_GROUP

/* dot_windows for the column stride S chosen at run time (one copy of the loops around it). */
inline void dot_windows_at(uint16_t S, const int16_t *w, const uint16_t *col, uint32_t groups, int32_t acc[4]) {
  switch (S) {
    case 64:
      return dot_windows<64>(w, col, groups, acc);
    case 128:
      return dot_windows<128>(w, col, groups, acc);
    case 256:
      return dot_windows<256>(w, col, groups, acc);
    default:
      return dot_windows<336>(w, col, groups, acc);
  }
}

/* Activations [k0, k1) of the row at element index i (dilation 1) into d[k0 .. k1). */
template <uint8_t IB, uint8_t KW>
DMC_INLINE void copy_row(const uint8_t *in, index_t i, uint8_t k0, uint8_t k1, uint16_t *d) {
  if (KW && k0 == 0 && k1 == KW) {  // a whole row: unrolled, offsets known at compile time
    if (IB == 8) {
      const uint8_t *p = in + i;
#pragma GCC unroll 16
      for (uint8_t k = 0; k < KW; ++k) d[k] = p[k];
    } else if (IB == 4) {
      const uint8_t *p = in + (i >> 1);
      if (i & 1) {
#pragma GCC unroll 16
        for (uint8_t k = 0; k < KW; ++k) d[k] = (uint8_t)((p[(k + 1) >> 1] >> (((k + 1) & 1) * 4)) & 15);
      } else {
#pragma GCC unroll 16
        for (uint8_t k = 0; k < KW; ++k) d[k] = (uint8_t)((p[k >> 1] >> ((k & 1) * 4)) & 15);
      }
    } else {
#pragma GCC unroll 16
      for (uint8_t k = 0; k < KW; ++k) d[k] = Packed<IB>::get(in, i + k);
    }
    return;
  }
  for (uint8_t k = k0; k < k1; ++k) d[k] = Packed<IB>::get(in, i + k);
}

/* The column of the window at origin (y0, x0): filter_size activations in filter order, the
 * zero point where the window leaves the input. */
template <uint8_t IB, uint8_t KW, bool INTERLEAVED>
DMC_INLINE void fill_column(const uint8_t *in, const Conv2dArgs &a, int16_t y0, int16_t x0, uint16_t *d) {
  const TensorStrides st = tensor_strides(INTERLEAVED, a.in_c, a.in_h, a.in_w);
  const uint8_t kw = KW ? KW : a.kernel_w;
  const uint16_t zin = a.in_zero_point;
  if (a.dilation_w == 1) {  // per row: the columns inside the input, found once
    const int16_t lo = x0 < 0 ? (int16_t)-x0 : 0, hi = (int16_t)(a.in_w - x0);
    const uint8_t k0 = (uint8_t)(lo < kw ? lo : kw), k1 = (uint8_t)(hi < 0 ? 0 : hi < kw ? hi : kw);
    for (uint16_t c = 0; c < a.in_c; ++c) {
      for (uint8_t ky = 0; ky < a.kernel_h; ++ky, d += kw) {
        const int16_t iy = (int16_t)(y0 + ky * a.dilation_h);
        if (iy < 0 || iy >= (int16_t)a.in_h || k1 <= k0) {
          for (uint8_t k = 0; k < kw; ++k) d[k] = zin;
          continue;
        }
        for (uint8_t k = 0; k < k0; ++k) d[k] = zin;
        copy_row<IB, KW>(in, (index_t)c * st.chan + (index_t)iy * st.row + x0, k0, k1, d);
        for (uint8_t k = k1; k < kw; ++k) d[k] = zin;
      }
    }
    return;
  }
  for (uint16_t c = 0; c < a.in_c; ++c) {
    for (uint8_t ky = 0; ky < a.kernel_h; ++ky) {
      const int16_t iy = (int16_t)(y0 + ky * a.dilation_h);
      const bool row_ok = iy >= 0 && iy < (int16_t)a.in_h;
      const index_t row = (index_t)c * st.chan + (index_t)(row_ok ? iy : 0) * st.row;
      for (uint8_t kx = 0; kx < a.kernel_w; ++kx) {
        const int16_t ix = (int16_t)(x0 + kx * a.dilation_w);
        *d++ = (row_ok && ix >= 0 && ix < (int16_t)a.in_w) ? Packed<IB>::get(in, row + ix) : zin;
      }
    }
  }
}

/* The filters of channels [oc0, oc0 + n) as 16-bit lanes, P elements each (zero padded). */
template <uint8_t WB>
DMC_INLINE void unpack_filters(const Conv2dArgs &a, uint16_t oc0, uint8_t n, uint32_t filter_size, uint32_t P,
                               int16_t *w) {
  WeightStream<WB> ws;
  ws.seek(a.weight, (uint32_t)oc0 * filter_size);
  for (uint8_t i = 0; i < n; ++i) {
    uint32_t e = 0;
    for (; e < filter_size; ++e) *w++ = ws.next();
    for (; e < P; ++e) *w++ = 0;
  }
}

template <uint8_t WB, uint8_t IB, uint8_t OB, uint8_t KW, uint8_t LAYOUT>
bool conv2d_columns(const uint8_t *in, uint8_t *out, const Conv2dArgs &a, uint32_t filter_size, uint32_t P,
                    uint16_t S) {
  if ((LAYOUT & kOverlapping) && a.out_c > kChannels) return false;  // rows must finish in order
  const bool interleaved = (LAYOUT & kInterleavedIn) != 0;
  const uint8_t block = (uint8_t)(a.out_c < kChannels ? a.out_c : kChannels);
  uint32_t *base = scratch(kWindows * S + 2 * P * block);
  if (!base) return false;
  uint16_t *col = reinterpret_cast<uint16_t *>(base);
  int16_t *wq = reinterpret_cast<int16_t *>(base + kWindows * S / 4);
  memset(col, 0, kWindows * S);  // the padding after each filter stays 0
  const uint16_t cs = S / 2;      // column stride in elements
  const uint32_t groups = P / 4;
  const TensorStrides os = tensor_strides((LAYOUT & kInterleavedOut) != 0, a.out_c, a.out_h, a.out_w);
  const uint8_t pk = a.pool_k;
  const uint16_t windows = (uint16_t)pk * pk;
  int32_t best[kChannels];
  for (uint16_t oc0 = 0; oc0 < a.out_c; oc0 = (uint16_t)(oc0 + kChannels)) {
    const uint8_t n_oc = (uint8_t)(a.out_c - oc0 < kChannels ? a.out_c - oc0 : kChannels);
    unpack_filters<WB>(a, oc0, n_oc, filter_size, P, wq);
    for (uint16_t py = 0; py < a.out_h; ++py) {
      if (pk == 1) {  // up to 4 outputs of a row at once
        const int16_t y0 = (int16_t)(py * a.stride_h) - a.pad_top;
        for (uint16_t px = 0; px < a.out_w; px = (uint16_t)(px + kWindows)) {
          const uint8_t m = (uint8_t)(a.out_w - px < kWindows ? a.out_w - px : kWindows);
          for (uint8_t k = 0; k < m; ++k)
            fill_column<IB, KW, interleaved>(in, a, y0, (int16_t)((px + k) * a.stride_w) - a.pad_left, col + k * cs);
          for (uint8_t i = 0; i < n_oc; ++i) {
            const uint16_t oc = (uint16_t)(oc0 + i), q = a.per_channel ? oc : 0;
            const int32_t bias = DMC_READ_I32(a.bias + oc);
            int32_t acc[4] = {bias, bias, bias, bias};
            dot_windows_at(S, wq + (uint32_t)i * P, col, groups, acc);
            const int16_t mq = DMC_READ_I16(a.multiplier + q);
            const uint8_t sh = DMC_READ_U8(a.shift + q);
            const index_t o = (index_t)oc * os.chan + (index_t)py * os.row + px;
            for (uint8_t k = 0; k < m; ++k)
              Packed<OB>::set(out, o + k, requantize_code(acc[k], mq, sh, a.out_zero_point, a.clamp_lo, a.clamp_hi));
          }
        }
        continue;
      }
      for (uint16_t px = 0; px < a.out_w; ++px) {
        for (uint8_t i = 0; i < n_oc; ++i) best[i] = kAccMin;
        for (uint16_t w0 = 0; w0 < windows; w0 = (uint16_t)(w0 + kWindows)) {
          const uint8_t m = (uint8_t)(windows - w0 < kWindows ? windows - w0 : kWindows);
          for (uint8_t k = 0; k < m; ++k) {
            const uint8_t dy = (uint8_t)((w0 + k) / pk), dx = (uint8_t)((w0 + k) % pk);
            fill_column<IB, KW, interleaved>(in, a, (int16_t)((py * a.pool_s + dy) * a.stride_h) - a.pad_top,
                                             (int16_t)((px * a.pool_s + dx) * a.stride_w) - a.pad_left, col + k * cs);
          }
          for (uint8_t i = 0; i < n_oc; ++i) {
            const int32_t bias = DMC_READ_I32(a.bias + oc0 + i);
            int32_t acc[4] = {bias, bias, bias, bias};
            dot_windows_at(S, wq + (uint32_t)i * P, col, groups, acc);
            for (uint8_t k = 0; k < m; ++k) {
              if (acc[k] > best[i]) best[i] = acc[k];
            }
          }
        }
        for (uint8_t i = 0; i < n_oc; ++i) {
          const uint16_t oc = (uint16_t)(oc0 + i), q = a.per_channel ? oc : 0;
          Packed<OB>::set(out, (index_t)oc * os.chan + (index_t)py * os.row + px,
                          requantize_code(best[i], DMC_READ_I16(a.multiplier + q), DMC_READ_U8(a.shift + q),
                                             a.out_zero_point, a.clamp_lo, a.clamp_hi));
        }
      }
    }
  }
  return true;
}

/* Stride 1, no dilation, a fused 2x2/2 max pool and a known kernel width: no columns. The input
 * is unpacked once into a plane of 16-bit lanes with the zero point around it: row (y, c) of
 * Wp elements (even, so that every lane pair below is an aligned word) at (y * C + c) * Wp, so
 * that the filter rows taken in (ky, c) order are consecutive plane rows. The 4 windows of a
 * pooled output start at (2 py + dy, 2 px + dx): per filter row (c, ky), the NP words of plane
 * row (2 py + ky, c) (dy = 0) or (2 py + 1 + ky, c) (dy = 1) from column 2 px hold the pairs
 * (p0, p1) (p2, p3) ..., which meet the weight pairs (w0, w1) (w2, w3) ... for dx = 0 and the
 * shifted pairs (0, w0) (w1, w2) ... for dx = 1: one load of activations feeds two windows. */
template <uint8_t KW>
struct Pool2Shape {
  static const uint8_t kPairs = (KW + 2) / 2;  // pairs per filter row: (KW + 1) elements rounded up
};

inline uint32_t pool2_plane_width(const Conv2dArgs &a, uint8_t pairs) { return 2u * (a.out_w - 1) + 2u * pairs; }
inline uint32_t pool2_plane_height(const Conv2dArgs &a) { return 2u * a.out_h + a.kernel_h - 1; }

/* `count` >= 1 filter rows: plane rows `row_bytes` apart from `row` (dy = 0) and the rows
 * `below_bytes` after them (dy = 1), the 2 NP words of each filter row at f (returned advanced). */
template <uint8_t NP>
DMC_INLINE const uint32_t *pool2_rows(const word_alias_t *row, uint32_t row_bytes, uint32_t below_bytes,
                                      uint32_t count, const uint32_t *f, int32_t &r00, int32_t &r01, int32_t &r10,
                                      int32_t &r11) {
  for (uint32_t k = 0; k < count; ++k) {
    const word_alias_t *below = row + below_bytes / 4;
#pragma GCC unroll 8
    for (uint8_t j = 0; j < NP; ++j, f += 2) {
      const uint32_t n = f[0], sh = f[1], x0 = row[j], x1 = below[j];
      r00 = __smlad(x0, n, r00);
      r01 = __smlad(x0, sh, r01);
      r10 = __smlad(x1, n, r10);
      r11 = __smlad(x1, sh, r11);
    }
    row += row_bytes / 4;
  }
  return f;
}

#define DMC_ARM_POOL2_PAIR(J)                     \
  "ldrd %[n], %[s], [%[f]], #8\n\t"             \
  "ldr %[x0], [%[row], #" #J "]\n\t"            \
  "ldr %[x1], [%[below], #" #J "]\n\t"          \
  "smlad %[r00], %[x0], %[n], %[r00]\n\t"       \
  "smlad %[r01], %[x0], %[s], %[r01]\n\t"       \
  "smlad %[r10], %[x1], %[n], %[r10]\n\t"       \
  "smlad %[r11], %[x1], %[s], %[r11]\n\t"

/* One filter row of 3 pairs; flags are left alone (the loop below relies on it). */
#define DMC_ARM_POOL2_ROW                                                         \
  DMC_ARM_POOL2_PAIR(0) DMC_ARM_POOL2_PAIR(4) DMC_ARM_POOL2_PAIR(8)               \
  "add %[row], %[row], %[rb]\n\t"                                                \
  "add %[below], %[below], %[rb]\n\t"

/* 3 pairs (kernel widths 4 and 5): the row loop in assembly, two rows per turn, 24 instructions
 * per filter row. */
template <>
DMC_INLINE const uint32_t *pool2_rows<3>(const word_alias_t *row, uint32_t row_bytes, uint32_t below_bytes,
                                         uint32_t count, const uint32_t *f, int32_t &r00, int32_t &r01, int32_t &r10,
                                         int32_t &r11) {
  uint32_t n, sh, x0, x1;
  const word_alias_t *below = row + below_bytes / 4;
  __asm__(
      "lsrs %[k], %[k], #1\n\t"  // C = an odd row, Z = no pair of rows
      "bcc 2f\n\t" DMC_ARM_POOL2_ROW
      "2:\n\t"
      "beq 3f\n\t"
      "1:\n\t" DMC_ARM_POOL2_ROW DMC_ARM_POOL2_ROW
      "subs %[k], %[k], #1\n\t"
      "bne 1b\n\t"
      "3:\n\t"
      : [row] "+r"(row), [below] "+r"(below), [f] "+r"(f), [k] "+r"(count), [r00] "+r"(r00), [r01] "+r"(r01),
        [r10] "+r"(r10), [r11] "+r"(r11), [n] "=&r"(n), [s] "=&r"(sh), [x0] "=&r"(x0), [x1] "=&r"(x1)
      : [rb] "r"(row_bytes)
      : "cc", "memory");
  return f;
}
#undef DMC_ARM_POOL2_ROW
#undef DMC_ARM_POOL2_PAIR

/* The outputs of conv2d_pool2 from its plane: channel by channel, row by row. ODD_ROWS: 4-bit
 * codes in interleaved rows of odd width (a row may start or end mid-byte). */
template <uint8_t WB, uint8_t OB, uint8_t KW, uint8_t LAYOUT, bool ODD_ROWS>
DMC_INLINE void pool2_outputs(uint8_t *out, const Conv2dArgs &a, const uint16_t *plane, uint32_t *filters, uint32_t wp,
                              uint32_t rows) {
  const uint8_t NP = Pool2Shape<KW>::kPairs;
  const bool interleaved_out = (LAYOUT & kInterleavedOut) != 0;
  const TensorStrides os = tensor_strides(interleaved_out, a.out_c, a.out_h, a.out_w);
  // interleaved rows: rows of a channel os.row apart; 4-bit codes of odd-width rows row by row
  const index_t row_jump = (index_t)(os.row - a.out_w);
  index_t o = 0;        // the next output element (channel by channel, row by row)
  uint8_t pending = 0;  // 4-bit outputs: the code of an even index, until its odd neighbour comes
  for (uint16_t oc = 0; oc < a.out_c; ++oc) {
    {  // per filter row (ky, c) and pair j: (w[2j], w[2j+1]), then the shifted (w[2j-1], w[2j])
      uint32_t *f = filters;
      for (uint32_t r = 0; r < rows; ++r, f += 2 * NP) {
        const uint32_t ky = r / a.in_c, c = r % a.in_c;
        WeightStream<WB> ws;
        ws.seek(a.weight, (((uint32_t)oc * a.in_c + c) * a.kernel_h + ky) * KW);
        int16_t w[2 * Pool2Shape<KW>::kPairs + 1] = {0};
        for (uint8_t k = 0; k < KW; ++k) w[k + 1] = ws.next();  // w[0] is the shifted 0
        for (uint8_t j = 0; j < NP; ++j) {
          f[2 * j] = (uint16_t)w[2 * j + 1] | ((uint32_t)(uint16_t)w[2 * j + 2] << 16);
          f[2 * j + 1] = (uint16_t)w[2 * j] | ((uint32_t)(uint16_t)w[2 * j + 1] << 16);
        }
      }
    }
    const uint16_t q = a.per_channel ? oc : 0;
    const int32_t bias = DMC_READ_I32(a.bias + oc);
    const int16_t m = DMC_READ_I16(a.multiplier + q);
    const uint8_t sh = DMC_READ_U8(a.shift + q), zp = a.out_zero_point, lo = a.clamp_lo, hi = a.clamp_hi;
    if (interleaved_out) o = (index_t)oc * os.chan;
    for (uint16_t py = 0; py < a.out_h; ++py) {
      if (ODD_ROWS) {  // each row's 4-bit codes on their own: a row may start or end mid-byte
        if (o & 1) pending = out[o >> 1] & 15;  // the code before it, already written
      }
      const word_alias_t *origin = reinterpret_cast<const word_alias_t *>(plane + 2u * py * a.in_c * wp);
      for (uint16_t px = 0; px < a.out_w; ++px, ++origin) {
        int32_t r00 = bias, r01 = bias, r10 = bias, r11 = bias;
        pool2_rows<NP>(origin, wp * 2, wp * 2 * a.in_c, rows, filters, r00, r01, r10, r11);
        int32_t best = r00 > r01 ? r00 : r01;
        if (r10 > best) best = r10;
        if (r11 > best) best = r11;
        const uint8_t code = requantize_code(best, m, sh, zp, lo, hi);
        if (OB == 4) {  // two codes per byte, written once both are known
          if (o & 1) out[o >> 1] = (uint8_t)(pending | (code << 4));
          pending = code;
          ++o;
        } else {
          Packed<OB>::set(out, o++, code);
        }
      }
      if (interleaved_out) {  // the next row of the channel
        if (ODD_ROWS && (o & 1)) Packed<4>::set(out, o - 1, pending);
        o = (index_t)(o + row_jump);
      }
    }
  }
  if (OB == 4 && !interleaved_out && (o & 1)) Packed<4>::set(out, o - 1, pending);  // odd count: the last code
}

template <uint8_t WB, uint8_t IB, uint8_t OB, uint8_t KW, uint8_t LAYOUT>
bool conv2d_pool2(const uint8_t *in, uint8_t *out, const Conv2dArgs &a) {
  const uint8_t NP = Pool2Shape<KW>::kPairs;
  const uint32_t wp = pool2_plane_width(a, NP), hp = pool2_plane_height(a);
  const uint32_t plane_words = (uint32_t)a.in_c * hp * wp / 2;
  const uint32_t rows = (uint32_t)a.in_c * a.kernel_h;  // filter rows
  uint32_t *base = scratch(4 * (plane_words + rows * 2 * NP));  // the plane, one filter
  if (!base) return false;
  uint16_t *plane = reinterpret_cast<uint16_t *>(base);
  uint32_t *filters = base + plane_words;
  {  // the plane: input (c, y - pad_top, x - pad_left), the zero point outside
    uint16_t *d = plane;
    const TensorStrides is = tensor_strides((LAYOUT & kInterleavedIn) != 0, a.in_c, a.in_h, a.in_w);
    const uint32_t x_lo = a.pad_left < wp ? a.pad_left : wp, x_hi = x_lo + a.in_w < wp ? x_lo + a.in_w : wp;
    const uint16_t zin = a.in_zero_point;
    for (uint32_t y = 0; y < hp; ++y) {
      const int32_t iy = (int32_t)y - a.pad_top;
      for (uint16_t c = 0; c < a.in_c; ++c, d += wp) {
        if (iy < 0 || iy >= (int32_t)a.in_h) {
          for (uint32_t x = 0; x < wp; ++x) d[x] = zin;
          continue;
        }
        for (uint32_t x = 0; x < x_lo; ++x) d[x] = zin;
        const index_t row = (index_t)c * is.chan + (index_t)iy * is.row;
        uint16_t *t = d + x_lo;
        const uint32_t n = x_hi - x_lo;
        if (IB == 8) {
          const uint8_t *p = in + row;
          for (uint32_t k = 0; k < n; ++k) t[k] = p[k];
        } else if (IB == 4 && !(row & 1)) {  // two nibbles per byte
          const uint8_t *p = in + row / 2;
          uint32_t k = 0;
          for (; k + 1 < n; k += 2, ++p) {
            t[k] = *p & 15;
            t[k + 1] = *p >> 4;
          }
          if (k < n) t[k] = *p & 15;
        } else {
          for (uint32_t k = 0; k < n; ++k) t[k] = Packed<IB>::get(in, row + k);
        }
        for (uint32_t x = x_hi; x < wp; ++x) d[x] = zin;
      }
    }
  }
  // (the whole input is in the plane now: the outputs may overwrite it in any order)
  if (OB == 4 && (LAYOUT & kInterleavedOut) && (a.out_w & 1)) {
    pool2_outputs<WB, OB, KW, LAYOUT, true>(out, a, plane, filters, wp, rows);
  } else {
    pool2_outputs<WB, OB, KW, LAYOUT, false>(out, a, plane, filters, wp, rows);
  }
  return true;
}

/* conv2d_pool2 where the kernel width is known at compile time (the generated code passes it). */
template <uint8_t WB, uint8_t IB, uint8_t OB, uint8_t KW, uint8_t LAYOUT>
bool try_pool2(const uint8_t *, uint8_t *, const Conv2dArgs &, Enabled<false>) {
  return false;
}
template <uint8_t WB, uint8_t IB, uint8_t OB, uint8_t KW, uint8_t LAYOUT>
bool try_pool2(const uint8_t *in, uint8_t *out, const Conv2dArgs &a, Enabled<true>) {
  return conv2d_pool2<WB, IB, OB, KW, LAYOUT>(in, out, a);
}

/* Returns false (and does nothing) for filters longer than column_stride() takes, when the
 * scratch region is missing or too small and for a conv over its own input that the column loops
 * cannot run in row order; the caller then runs the portable kernel. */
template <uint8_t WB, uint8_t IB, uint8_t OB, uint8_t KW, uint8_t LAYOUT = kPlainLayout>
bool conv2d_dsp(const uint8_t *in, uint8_t *out, const Conv2dArgs *flash_args) {
  Conv2dArgs a;
  DMC_FLASH_COPY(&a, flash_args, sizeof(a));
  const uint32_t filter_size = (uint32_t)a.in_c * a.kernel_h * a.kernel_w;
  const uint32_t P = (filter_size + 3) & ~3u;
  if (KW != 0 && KW != a.kernel_w) return false;
  if (a.stride_h == 1 && a.stride_w == 1 && a.dilation_h == 1 && a.dilation_w == 1 && a.pool_k == 2 &&
      a.pool_s == 2 && try_pool2<WB, IB, OB, KW, LAYOUT>(in, out, a, Enabled<KW != 0>()))
    return true;
  const uint16_t S = column_stride(P);
  return S != 0 && conv2d_columns<WB, IB, OB, KW, LAYOUT>(in, out, a, filter_size, P, S);
}

}  // namespace arm
}  // namespace dmc

DMC_OPTIMIZE_END

#endif  // DMC_KERNELS_ARM_CONV2D_DSP_H
