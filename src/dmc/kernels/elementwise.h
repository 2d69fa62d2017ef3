/* Element-wise ops over packed tensors. Each reads element i before writing element i, so
 * the output may share the first input's buffer (the arena planner places them in place).
 *
 * add:   clamp(zo + ((a - za) * ma + (b - zb) * mb + 2^(s-1)) >> s, lo, hi); |sum| < 2^24.
 * clamp: clamp(x, lo, hi)   (a ReLU / ReLU6 that could not be fused into the layer before it)
 * pad:   copy into a larger plane, the border filled with a code. */
#ifndef DMC_KERNELS_ELEMENTWISE_H
#define DMC_KERNELS_ELEMENTWISE_H

#include "../packing.h"
#include "../requant.h"

DMC_OPTIMIZE_BEGIN

namespace dmc {

struct AddArgs {
  index_t size;
  int16_t a_multiplier, b_multiplier;
  uint8_t shift, a_zero_point, b_zero_point, out_zero_point, clamp_lo, clamp_hi;
};

template <uint8_t AB, uint8_t BB, uint8_t OB>
void add(const uint8_t *a_in, const uint8_t *b_in, uint8_t *out, const AddArgs *flash_args) {
  AddArgs a;
  DMC_FLASH_COPY(&a, flash_args, sizeof(a));
  for (index_t i = 0; i < a.size; ++i) {
    const int32_t acc = (int32_t)((int16_t)Packed<AB>::get(a_in, i) - a.a_zero_point) * a.a_multiplier +
                        (int32_t)((int16_t)Packed<BB>::get(b_in, i) - a.b_zero_point) * a.b_multiplier;
    Packed<OB>::set(out, i, requantize_to_code(acc, 1, a.shift, a.out_zero_point, a.clamp_lo, a.clamp_hi));
  }
}

template <uint8_t B>
void clamp(const uint8_t *in, uint8_t *out, index_t size, uint8_t lo, uint8_t hi) {
  for (index_t i = 0; i < size; ++i) {
    const uint8_t v = Packed<B>::get(in, i);
    Packed<B>::set(out, i, v < lo ? lo : v > hi ? hi : v);
  }
}

struct PadArgs {
  uint16_t channels, in_h, in_w;
  uint8_t pad_top, pad_bottom, pad_left, pad_right, value;
};

template <uint8_t B>
void pad(const uint8_t *in, uint8_t *out, const PadArgs *flash_args) {
  PadArgs a;
  DMC_FLASH_COPY(&a, flash_args, sizeof(a));
  const uint16_t out_h = a.in_h + a.pad_top + a.pad_bottom;
  const uint16_t out_w = a.in_w + a.pad_left + a.pad_right;
  index_t o = 0, i = 0;
  for (uint16_t c = 0; c < a.channels; ++c) {
    for (uint16_t y = 0; y < out_h; ++y) {
      const bool row_in = y >= a.pad_top && y < a.pad_top + a.in_h;
      for (uint16_t x = 0; x < out_w; ++x) {
        const bool inside = row_in && x >= a.pad_left && x < a.pad_left + a.in_w;
        Packed<B>::set(out, o++, inside ? Packed<B>::get(in, i++) : a.value);
      }
    }
  }
}

}  // namespace dmc

DMC_OPTIMIZE_END

#endif  // DMC_KERNELS_ELEMENTWISE_H
