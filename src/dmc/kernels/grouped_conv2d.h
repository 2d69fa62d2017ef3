/* grouped_conv2d: a convolution whose channels split into `groups` independent groups
 * (1 < groups < in_c; groups == in_c == out_c is depthwise_conv2d.h). Output channel oc reads
 * only the input channels of its group:
 *
 *   k = oc / (out_c / groups),  channels [k * in_c/groups, (k + 1) * in_c/groups)
 *   acc(oc, y, x) = bias[oc] + sum over those channels and the window of (in - zin) * w
 *
 * Weights OUT x IN/groups x KH x KW in one flat stream. Arithmetic, padding with the zero
 * point, the folded bias and the overflow argument are those of conv2d.h (the exporter bounds
 * each filter's accumulator); there is no fused pool. */
#ifndef DMC_KERNELS_GROUPED_CONV2D_H
#define DMC_KERNELS_GROUPED_CONV2D_H

#include "conv2d.h"

DMC_OPTIMIZE_BEGIN

namespace dmc {

template <uint8_t WB, uint8_t IB, uint8_t OB>
DMC_AVR_COLD void grouped_conv2d(const uint8_t *in, uint8_t *out, const Conv2dArgs *flash_args, uint16_t groups) {
  Conv2dArgs a;
  DMC_FLASH_COPY(&a, flash_args, sizeof(a));
  const uint16_t in_per_group = a.in_c / groups;
  const uint16_t out_per_group = a.out_c / groups;
  const uint32_t filter_size = (uint32_t)in_per_group * a.kernel_h * a.kernel_w;
  index_t o = 0;
  for (uint16_t oc = 0; oc < a.out_c; ++oc) {
    const OutputChannel ch(a, oc);
    const uint16_t c0 = (uint16_t)(oc / out_per_group * in_per_group);
    const uint32_t filter = (uint32_t)oc * filter_size;
    for (uint16_t y = 0; y < a.out_h; ++y) {
      const int16_t y0 = (int16_t)(y * a.stride_h) - a.pad_top;
      for (uint16_t x = 0; x < a.out_w; ++x) {
        const int16_t x0 = (int16_t)(x * a.stride_w) - a.pad_left;
        const int32_t acc = conv_window<WB, IB>(in, a, filter, c0, in_per_group, y0, x0, ch.bias);
        Packed<OB>::set(out, o++, ch.code(acc, a));
      }
    }
  }
}

}  // namespace dmc

DMC_OPTIMIZE_END

#endif  // DMC_KERNELS_GROUPED_CONV2D_H
