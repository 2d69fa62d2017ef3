/* depthwise_conv2d: one KH x KW filter per channel (groups == in_c == out_c), optionally
 * fused with a following max pool. Same arithmetic, folded bias, padding and overflow argument
 * as conv2d.h with the channel sum reduced to the channel itself; weights C x 1 x KH x KW. */
#ifndef DMC_KERNELS_DEPTHWISE_CONV2D_H
#define DMC_KERNELS_DEPTHWISE_CONV2D_H

#include "conv2d.h"

DMC_OPTIMIZE_BEGIN

namespace dmc {

template <uint8_t WB, uint8_t IB, uint8_t OB, uint8_t KW = 0, bool PAIRS = false>  // KW, PAIRS: see conv2d
void depthwise_conv2d(const uint8_t *in, uint8_t *out, const Conv2dArgs *flash_args) {
  conv2d_outputs<WB, IB, OB, true, KW, PAIRS>(in, out, flash_args);
}

}  // namespace dmc

DMC_OPTIMIZE_END

#endif  // DMC_KERNELS_DEPTHWISE_CONV2D_H
