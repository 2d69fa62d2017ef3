/* conv2d with the Cortex-M DSP extension: the same arithmetic as ../conv2d.h (read it first:
 * folded bias, padding with the zero point, fused max pool over accumulators).
 *
 * The loops are turned around so that each input window is unpacked once for all output
 * channels: per (pooled) output position and pool window, the window's C x KH x KW activations
 * (the zero point where the window leaves the input) are written to a small column of 16-bit
 * lanes on the stack, in the lane order of the weights (lanes.h), with the sum the +8 offset of
 * 4-bit weights needs. Every output channel then takes its dot product 8 elements at a time
 * with four SMLADs, reading its weights packed from flash; the last filter_size % 8 elements
 * use the portable multiply-accumulate. Output channels are taken kChannels at a time, each
 * with its running max over the pool window. The column holds one window, never a tensor:
 * filters longer than kMaxColumn elements, and layers with fewer than kMinChannels output
 * channels (too few to pay for the column), take the portable kernel. */
#ifndef DMC_KERNELS_ARM_CONV2D_DSP_H
#define DMC_KERNELS_ARM_CONV2D_DSP_H

#include "lanes.h"

DMC_OPTIMIZE_BEGIN

namespace dmc {
namespace arm {

const uint16_t kMaxColumn = 512;  // elements: 1 KB of stack
const uint8_t kMinChannels = 4;   // below, unpacking the column costs more than it saves
const uint8_t kChannels = 16;     // output channels per pass over the windows

/* Unpacks the window at (y0, x0) into `col` (lane order ORDER for the first `grouped`
 * elements, plain order after them); returns the sum of the grouped activations. */
template <uint8_t IB, LaneOrder ORDER>
DMC_INLINE int32_t fill_column(const uint8_t *in, const Conv2dArgs &a, int16_t y0, int16_t x0, uint16_t grouped,
                               uint16_t *col) {
  const index_t plane = (index_t)a.in_h * a.in_w;
  const bool inside = y0 >= 0 && x0 >= 0 && y0 + (int16_t)((a.kernel_h - 1) * a.dilation_h) < (int16_t)a.in_h &&
                      x0 + (int16_t)((a.kernel_w - 1) * a.dilation_w) < (int16_t)a.in_w;
  int32_t sum = 0;
  uint16_t e = 0;
  auto put = [&](uint8_t v) {
    if (e < grouped) {
      col[(e & ~7u) | lane_slot(ORDER, (uint8_t)(e & 7))] = v;
      sum += v;
    } else {
      col[e] = v;
    }
    ++e;
  };
  if (inside) {  // no bounds to check
    const index_t row_step = (index_t)a.dilation_h * a.in_w;
    index_t base = (index_t)y0 * a.in_w + (index_t)x0;
    for (uint16_t c = 0; c < a.in_c; ++c, base += plane) {
      index_t row = base;
      for (uint8_t ky = 0; ky < a.kernel_h; ++ky, row += row_step) {
        index_t i = row;
        for (uint8_t kx = 0; kx < a.kernel_w; ++kx, i += a.dilation_w) put(Packed<IB>::get(in, i));
      }
    }
    return sum;
  }
  for (uint16_t c = 0; c < a.in_c; ++c) {
    for (uint8_t ky = 0; ky < a.kernel_h; ++ky) {
      const int16_t iy = (int16_t)(y0 + ky * a.dilation_h);
      const bool row_ok = iy >= 0 && iy < (int16_t)a.in_h;
      const index_t row = (index_t)c * plane + (index_t)(row_ok ? iy : 0) * a.in_w;
      for (uint8_t kx = 0; kx < a.kernel_w; ++kx) {
        const int16_t ix = (int16_t)(x0 + kx * a.dilation_w);
        put((row_ok && ix >= 0 && ix < (int16_t)a.in_w) ? Packed<IB>::get(in, row + ix) : a.in_zero_point);
      }
    }
  }
  return sum;
}

template <uint8_t WB, uint8_t IB, uint8_t OB>
bool conv2d_dsp(const uint8_t *, uint8_t *, const Conv2dArgs *, Enabled<false>) {
  return false;
}

template <uint8_t WB, uint8_t IB, uint8_t OB>
bool conv2d_dsp(const uint8_t *in, uint8_t *out, const Conv2dArgs *flash_args, Enabled<true>) {
  const LaneOrder order = WB == 4 ? kNibble : kNatural;
  Conv2dArgs a;
  DMC_FLASH_COPY(&a, flash_args, sizeof(a));
  const uint32_t filter_size = (uint32_t)a.in_c * a.kernel_h * a.kernel_w;
  if (filter_size > kMaxColumn || a.out_c < kMinChannels) return false;
  const uint16_t groups = (uint16_t)(filter_size >> 3), grouped = (uint16_t)(groups << 3);
  uint16_t col[kMaxColumn] __attribute__((aligned(4)));
  const word_alias_t *lanes = reinterpret_cast<const word_alias_t *>(col);
  int32_t best[kChannels];
  WeightStream<WB> tail;
  const index_t out_plane = (index_t)a.out_h * a.out_w;
  for (uint16_t oc0 = 0; oc0 < a.out_c; oc0 = (uint16_t)(oc0 + kChannels)) {
    const uint8_t n_oc = (uint8_t)(a.out_c - oc0 < kChannels ? a.out_c - oc0 : kChannels);
    for (uint16_t py = 0; py < a.out_h; ++py) {
      for (uint16_t px = 0; px < a.out_w; ++px) {
        for (uint8_t i = 0; i < n_oc; ++i) best[i] = kAccMin;
        for (uint8_t dy = 0; dy < a.pool_k; ++dy) {
          const int16_t y0 = (int16_t)((py * a.pool_s + dy) * a.stride_h) - a.pad_top;
          for (uint8_t dx = 0; dx < a.pool_k; ++dx) {
            const int16_t x0 = (int16_t)((px * a.pool_s + dx) * a.stride_w) - a.pad_left;
            const int32_t sum = fill_column<IB, order>(in, a, y0, x0, grouped, col);
            const int32_t offset = WB == 4 ? 8 * sum : 0;  // the +8 of the 4-bit weight lanes
            for (uint8_t i = 0; i < n_oc; ++i) {
              const uint16_t oc = (uint16_t)(oc0 + i);
              const uint32_t filter = (uint32_t)oc * filter_size;
              int32_t acc = DMC_READ_I32(a.bias + oc) - offset;
              const word_alias_t *x = lanes;
              auto step = [&](uint16_t, const uint32_t *w) {
                const uint32_t xs[4] = {x[0], x[1], x[2], x[3]};
                x += 4;
                acc = dot_group(xs, w, acc);
              };
              for_each_group<WB, true, order>(a.weight, filter, groups, step);
              tail.seek(a.weight, filter + grouped);
              for (uint16_t e = grouped; e < filter_size; ++e) acc += mul_u8_s8((uint8_t)col[e], tail.next());
              if (acc > best[i]) best[i] = acc;
            }
          }
        }
        for (uint8_t i = 0; i < n_oc; ++i) {
          const uint16_t oc = (uint16_t)(oc0 + i);
          const uint16_t q = a.per_channel ? oc : 0;
          Packed<OB>::set(out, (index_t)oc * out_plane + (index_t)py * a.out_w + px,
                          requantize_to_code(best[i], DMC_READ_I16(a.multiplier + q), DMC_READ_U8(a.shift + q),
                                             a.out_zero_point, a.clamp_lo, a.clamp_hi));
        }
      }
    }
  }
  return true;
}

/* Returns false (and does nothing) for the bit widths it has no lanes for and for the layers
 * it leaves to the portable kernel (see above). */
template <uint8_t WB, uint8_t IB, uint8_t OB>
bool conv2d_dsp(const uint8_t *in, uint8_t *out, const Conv2dArgs *flash_args) {
  return conv2d_dsp<WB, IB, OB>(in, out, flash_args, HasLanes<WB, IB>());
}

}  // namespace arm
}  // namespace dmc

DMC_OPTIMIZE_END

#endif  // DMC_KERNELS_ARM_CONV2D_DSP_H
