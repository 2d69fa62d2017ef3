/* dot: the multiply-accumulate at the heart of conv2d and linear. It sums n consecutive
 * activations in[i .. i+n) times the next n weights of a flash stream.
 *
 * Products are accumulated in int16 chunks that provably cannot overflow, then added to the
 * int32 total: |in * w| <= (2^IB - 1) * 2^(WB-1), so kChunk = 32767 / that bound products fit
 * (1 at 8x8 bits, 16 at 8-bit activations x 4-bit weights, 255 at 4x4). On AVR an int16 add is
 * half the cost of a sign-extended int32 add. The result is the exact integer sum. */
#ifndef DMC_KERNELS_DOT_H
#define DMC_KERNELS_DOT_H

#include "../packing.h"
#include "../requant.h"

DMC_OPTIMIZE_BEGIN

namespace dmc {

template <uint8_t WB, uint8_t IB>
struct DotChunk {
  static const uint16_t kMaxProduct = (uint16_t)(((1u << IB) - 1u) * (1u << (WB - 1)));
  static const uint16_t kRaw = (uint16_t)(32767u / kMaxProduct);
  static const uint8_t kChunk = kRaw > 255 ? 255 : (uint8_t)kRaw;
};

template <uint8_t WB, uint8_t IB>
DMC_INLINE int32_t dot(const uint8_t *in, index_t i, uint16_t n, WeightStream<WB> &w) {
  int32_t acc = 0;
  while (n) {
    uint8_t m = n < DotChunk<WB, IB>::kChunk ? (uint8_t)n : DotChunk<WB, IB>::kChunk;
    n = (uint16_t)(n - m);
    int16_t part = 0;
    if (IB == 8) {
      const uint8_t *p = in + i;
      i += m;
      do {
        part = (int16_t)(part + mul_u8_s8(*p++, w.next()));
      } while (--m);
    } else {
      do {
        part = (int16_t)(part + mul_u8_s8(Packed<IB>::get(in, i++), w.next()));
      } while (--m);
    }
    acc += part;
  }
  return acc;
}

}  // namespace dmc

DMC_OPTIMIZE_END

#endif  // DMC_KERNELS_DOT_H
