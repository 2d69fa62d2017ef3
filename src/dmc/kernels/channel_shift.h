/* channel_shift: the shift-mix of the MicroSign-Edge blocks, no arithmetic. Channels split into
 * consecutive groups of `up`, `left`, `down` and `right` channels (the rest pass unchanged):
 *
 *   up:    out(c, y, x) = in(c, y + 1, x)      left:  out(c, y, x) = in(c, y, x + 1)
 *   down:  out(c, y, x) = in(c, y - 1, x)      right: out(c, y, x) = in(c, y, x - 1)
 *
 * and a position whose source lies outside the plane holds `fill` (the zero point: real 0).
 * Each group is walked in the direction its data moves (up and left ascending, down and right
 * descending), so every element is read before it is overwritten: `out` may be `in`. */
#ifndef DMC_KERNELS_CHANNEL_SHIFT_H
#define DMC_KERNELS_CHANNEL_SHIFT_H

#include "../packing.h"

DMC_OPTIMIZE_BEGIN

namespace dmc {

struct ShiftArgs {
  uint16_t channels, height, width;
  uint16_t up, left, down, right;
  uint8_t fill;
};

template <uint8_t B>
void channel_shift(const uint8_t *in, uint8_t *out, const ShiftArgs *flash_args) {
  ShiftArgs a;
  DMC_FLASH_COPY(&a, flash_args, sizeof(a));
  const uint16_t h = a.height, w = a.width;
  const index_t plane = (index_t)h * w;
  uint16_t c = 0;
  for (uint16_t n = 0; n < a.up; ++n, ++c) {
    const index_t base = (index_t)c * plane;
    for (uint16_t y = 0; y < h; ++y) {
      for (uint16_t x = 0; x < w; ++x) {
        const index_t i = base + (index_t)y * w + x;
        Packed<B>::set(out, i, y + 1 < h ? Packed<B>::get(in, i + w) : a.fill);
      }
    }
  }
  for (uint16_t n = 0; n < a.left; ++n, ++c) {
    const index_t base = (index_t)c * plane;
    for (uint16_t y = 0; y < h; ++y) {
      for (uint16_t x = 0; x < w; ++x) {
        const index_t i = base + (index_t)y * w + x;
        Packed<B>::set(out, i, x + 1 < w ? Packed<B>::get(in, i + 1) : a.fill);
      }
    }
  }
  for (uint16_t n = 0; n < a.down; ++n, ++c) {
    const index_t base = (index_t)c * plane;
    for (uint16_t y = h; y-- > 0;) {
      for (uint16_t x = 0; x < w; ++x) {
        const index_t i = base + (index_t)y * w + x;
        Packed<B>::set(out, i, y > 0 ? Packed<B>::get(in, i - w) : a.fill);
      }
    }
  }
  for (uint16_t n = 0; n < a.right; ++n, ++c) {
    const index_t base = (index_t)c * plane;
    for (uint16_t y = 0; y < h; ++y) {
      for (uint16_t x = w; x-- > 0;) {
        const index_t i = base + (index_t)y * w + x;
        Packed<B>::set(out, i, x > 0 ? Packed<B>::get(in, i - 1) : a.fill);
      }
    }
  }
  if (out != in) {
    for (index_t i = (index_t)c * plane; i < (index_t)a.channels * plane; ++i) Packed<B>::set(out, i, Packed<B>::get(in, i));
  }
}

}  // namespace dmc

DMC_OPTIMIZE_END

#endif  // DMC_KERNELS_CHANNEL_SHIFT_H
