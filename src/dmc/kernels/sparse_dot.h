/* sparse_dot: the multiply-accumulate of the sparse kernels, over one row of a weight matrix in
 * nibble-step CSR ("mcsr", the "dcsr" storage of the artifact: extras/python/dmc/core/FORMAT.md).
 *
 * A row is `nbytes` code bytes in one flash stream, each followed by the values of its codes:
 * two 4-bit codes per byte (first in the low nibble); with 8-bit weights one byte per
 * non-escape code, with 4/2-bit weights one byte (only when the byte has a non-escape code)
 * holding the values in successive WB-bit fields from the least-significant bit. A column
 * pointer starts one before the row: code c < 15 moves it by c + 1 and multiplies the
 * activation there with the next value; code 15 moves it by 15 and reads nothing. Only nonzero
 * weights are multiplied; there is no division and no per-element index arithmetic beyond the
 * add. The loader (dmc.core.weights) proves every multiplied column lies inside the row, so the
 * loop needs no bounds check. Sums are exact: int16 chunks of DotChunk<WB, IB>::kChunk
 * products (see dot.h) that cannot overflow, then int32. */
#ifndef DMC_KERNELS_SPARSE_DOT_H
#define DMC_KERNELS_SPARSE_DOT_H

#include "../packing.h"
#include "../requant.h"
#include "dot.h"

DMC_OPTIMIZE_BEGIN

namespace dmc {

static const uint8_t kSparseEscape = 15;

/* Exact sum of products: int16 partial sums of at most kChunk products, then int32. */
template <uint8_t WB, uint8_t IB>
struct SparseAccumulator {
  int32_t total;
  int16_t part;
  uint8_t room;
  DMC_INLINE SparseAccumulator() : total(0), part(0), room(DotChunk<WB, IB>::kChunk) {}
  DMC_INLINE void add(int16_t product) {
    if (DotChunk<WB, IB>::kChunk == 1) {
      total += product;
      return;
    }
    part = (int16_t)(part + product);
    if (--room == 0) {
      total += part;
      part = 0;
      room = DotChunk<WB, IB>::kChunk;
    }
  }
  DMC_INLINE int32_t sum() const { return total + part; }
};

/* The next value of a code byte: 8-bit values are read from the stream, narrower ones are the
 * low field of `fields` (the byte read after the codes), which then shifts down. */
template <uint8_t WB>
DMC_INLINE int8_t sparse_value(const uint8_t *&p, uint8_t &fields) {
  if (WB == 8) return (int8_t)DMC_READ_U8(p++);
  const uint8_t sign = (uint8_t)(1u << (WB - 1));
  const uint8_t v = (uint8_t)(fields & ((1u << WB) - 1u));
  fields = (uint8_t)(fields >> WB);
  return (int8_t)((int8_t)(v ^ sign) - (int8_t)sign);  // sign-extend WB bits
}

/* The first byte after a row of `nbytes` code bytes at `p` (skips its values). */
template <uint8_t WB>
DMC_INLINE const uint8_t *sparse_row_end(const uint8_t *p, uint16_t nbytes) {
  while (nbytes) {
    --nbytes;
    const uint8_t b = DMC_READ_U8(p++);
    if (WB == 8) {
      p += (uint8_t)((b & 0x0F) != kSparseEscape) + (uint8_t)((b >> 4) != kSparseEscape);
    } else if (b != 0xFF) {
      ++p;
    }
  }
  return p;
}

/* The portable loop; kernels/avr/sparse_dot.h replaces it for 8-bit activations on AVR.
 * `stream` advances past the row. */
template <uint8_t WB, uint8_t IB>
DMC_INLINE int32_t sparse_dot_portable(const uint8_t *in, const uint8_t *&stream, uint16_t nbytes) {
  SparseAccumulator<WB, IB> acc;
  index_t col = (index_t)-1;  // one before the row: the first code's "+1" lands on its column
  const uint8_t *p = stream;
  while (nbytes) {
    --nbytes;
    const uint8_t b = DMC_READ_U8(p++);
    const uint8_t c0 = (uint8_t)(b & 0x0F), c1 = (uint8_t)(b >> 4);
    uint8_t fields = 0;
    if (WB != 8 && b != 0xFF) fields = DMC_READ_U8(p++);
    col = (index_t)(col + c0);
    if (c0 != kSparseEscape) {
      ++col;
      acc.add(mul_u8_s8(Packed<IB>::get(in, col), sparse_value<WB>(p, fields)));
    }
    col = (index_t)(col + c1);
    if (c1 != kSparseEscape) {
      ++col;
      acc.add(mul_u8_s8(Packed<IB>::get(in, col), sparse_value<WB>(p, fields)));
    }
  }
  stream = p;
  return acc.sum();
}

}  // namespace dmc

#if defined(__AVR__) && !defined(DMC_PORTABLE_KERNELS)
#include "avr/sparse_dot.h"
#else
namespace dmc {
template <uint8_t WB, uint8_t IB>
DMC_INLINE int32_t sparse_dot(const uint8_t *in, const uint8_t *&stream, uint16_t nbytes) {
  return sparse_dot_portable<WB, IB>(in, stream, nbytes);
}
/* The flash bias + sparse_dot (on AVR the sum starts from the bias: one add fewer per row). */
template <uint8_t WB, uint8_t IB>
DMC_INLINE int32_t sparse_dot_bias(const int32_t *bias, const uint8_t *in, const uint8_t *&stream,
                                   uint16_t nbytes) {
  return DMC_READ_I32(bias) + sparse_dot_portable<WB, IB>(in, stream, nbytes);
}
}  // namespace dmc
#endif

DMC_OPTIMIZE_END

#endif  // DMC_KERNELS_SPARSE_DOT_H
