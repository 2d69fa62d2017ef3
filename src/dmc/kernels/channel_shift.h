/* channel_shift: the shift-mix of the MicroSign-Edge blocks, no arithmetic. Channels split into
 * consecutive groups of `up`, `left`, `down` and `right` channels (the rest pass unchanged):
 *
 *   up:    out(c, y, x) = in(c, y + 1, x)      left:  out(c, y, x) = in(c, y, x + 1)
 *   down:  out(c, y, x) = in(c, y - 1, x)      right: out(c, y, x) = in(c, y, x - 1)
 *
 * and a position whose source lies outside the plane holds `fill` (the zero point: real 0).
 * Each plane is walked so that every element is read before it is overwritten (ascending when
 * the source lies ahead: up and left; descending for down and right): `out` may be `in`. */
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

/* One channel plane moved by (dy, dx) in {(1,0), (0,1), (-1,0), (0,-1)}: out(y, x) = in(y + dy, x + dx).
 * Walked forward when the source lies ahead (dy + dx > 0), backward otherwise. One loop for
 * the four directions keeps the code small on the Uno. */
template <uint8_t B>
void shift_plane(const uint8_t *in, uint8_t *out, index_t base, uint16_t h, uint16_t w, int8_t dy, int8_t dx,
                 uint8_t fill) {
  const bool forward = dy + dx > 0;
  const int16_t offset = (int16_t)(dy * (int16_t)w + dx);
  for (uint16_t yy = 0; yy < h; ++yy) {
    const uint16_t y = forward ? yy : (uint16_t)(h - 1 - yy);
    const bool row_ok = (uint16_t)(y + dy) < h;   // y + dy == -1 wraps to 0xFFFF
    for (uint16_t xx = 0; xx < w; ++xx) {
      const uint16_t x = forward ? xx : (uint16_t)(w - 1 - xx);
      const index_t i = base + (index_t)y * w + x;
      const bool ok = row_ok && (uint16_t)(x + dx) < w;
      Packed<B>::set(out, i, ok ? Packed<B>::get(in, (index_t)(i + offset)) : fill);
    }
  }
}

template <uint8_t B>
void channel_shift(const uint8_t *in, uint8_t *out, const ShiftArgs *flash_args) {
  ShiftArgs a;
  DMC_FLASH_COPY(&a, flash_args, sizeof(a));
  const index_t plane = (index_t)a.height * a.width;
  const uint16_t counts[4] = {a.up, a.left, a.down, a.right};
  uint16_t c = 0;
  for (uint8_t d = 0; d < 4; ++d) {  // source offsets up (1, 0), left (0, 1), down (-1, 0), right (0, -1)
    const int8_t dy = (int8_t)((d == 0) - (d == 2)), dx = (int8_t)((d == 1) - (d == 3));
    for (uint16_t n = 0; n < counts[d]; ++n, ++c) {
      shift_plane<B>(in, out, (index_t)c * plane, a.height, a.width, dy, dx, a.fill);
    }
  }
  if (out != in) {
    for (index_t i = (index_t)c * plane; i < (index_t)a.channels * plane; ++i) Packed<B>::set(out, i, Packed<B>::get(in, i));
  }
}

}  // namespace dmc

DMC_OPTIMIZE_END

#endif  // DMC_KERNELS_CHANNEL_SHIFT_H
