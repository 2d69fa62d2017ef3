/* sparse_linear: linear (see linear.h) with its weights in nibble-step CSR (sparse_dot.h), the "dcsr" storage
 * of the artifact (extras/python/dmc/core/FORMAT.md): out[o] = clamp(zout + rq(bias[o] +
 * sum over the row's nonzeros of in[i] * w[o][i], m, s), lo, hi). As in linear.h the stored
 * bias has the input zero point folded in, so only nonzero weights are multiplied. Bit-exact
 * with the dense kernel on the same weights. */
#ifndef DMC_KERNELS_SPARSE_LINEAR_H
#define DMC_KERNELS_SPARSE_LINEAR_H

#include "../packing.h"
#include "../requant.h"
#include "sparse_dot.h"

DMC_OPTIMIZE_BEGIN

namespace dmc {

struct SparseLinearArgs {
  const uint8_t *stream;      // rows of code bytes, each followed by its values (sparse_dot.h)
  const uint16_t *row_bytes;  // code bytes per row
  const int32_t *bias;
  const int16_t *multiplier;
  const uint8_t *shift;
  uint16_t in_features, out_features;
  uint8_t in_zero_point, out_zero_point, clamp_lo, clamp_hi;  // in_zero_point: folded into bias
  uint8_t per_channel;
};

template <uint8_t WB, uint8_t IB, uint8_t OB>
void sparse_linear(const uint8_t *in, uint8_t *out, const SparseLinearArgs *flash_args) {
  SparseLinearArgs a;
  DMC_FLASH_COPY(&a, flash_args, sizeof(a));
  const uint8_t *stream = a.stream;
  const uint16_t *row_bytes = a.row_bytes;
  const int32_t *bias = a.bias;
  // per-tensor requantization read once; per channel, per row
  int16_t m = DMC_READ_I16(a.multiplier);
  uint8_t s = DMC_READ_U8(a.shift);
  for (uint16_t o = 0; o < a.out_features; ++o) {
    if (a.per_channel) {
      m = DMC_READ_I16(a.multiplier + o);
      s = DMC_READ_U8(a.shift + o);
    }
    const int32_t acc = sparse_dot_bias<WB, IB>(bias++, in, stream, (uint16_t)DMC_READ_I16(row_bytes++));
    Packed<OB>::set(out, o, requantize_to_code(acc, m, s, a.out_zero_point, a.clamp_lo, a.clamp_hi));
  }
}

}  // namespace dmc

DMC_OPTIMIZE_END

#endif  // DMC_KERNELS_SPARSE_LINEAR_H
