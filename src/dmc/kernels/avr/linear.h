/* AVR inner loop of linear (see ../linear.h): a weight row is streamed from flash in runs of 8
 * products (mac_rows with no skip between runs: 8 elements of 8, 4 or 2 bits keep every phase),
 * then the last in_features % 8 one by one. Rows follow each other in the weight stream, so the
 * stream is positioned once per layer. */
#ifndef DMC_KERNELS_AVR_LINEAR_H
#define DMC_KERNELS_AVR_LINEAR_H

#if defined(__AVR__)

#include "mac.h"

DMC_OPTIMIZE_BEGIN

namespace dmc {
namespace avr {

/* A weight stream read in order. */
struct WeightCursor {
  const uint8_t *w;
  uint8_t wph, wbyte;
};

/* sum(in[i] * w[i]) over n activations from element 0 of `in`, weights from the cursor. */
template <uint8_t WB, uint8_t IB>
DMC_INLINE int32_t dot_row(const uint8_t *in, uint16_t n, WeightCursor &c) {
  const uint8_t kRun = 8, kRunsPerFlush = (uint8_t)(kMaxTerms / kRun);
  Acc acc = {0, 0};
  int32_t total = 0;
  const uint8_t *x = in;
  const uint8_t *w = c.w;
  uint8_t wbyte = c.wbyte, wph = c.wph;
  uint16_t runs = (uint16_t)(n / kRun);
  uint16_t no_skip = 0;
  asm("" : "+r"(no_skip));  // an opaque register: a constant operand leaves the allocator no room
  while (runs) {
    const uint8_t r = runs < kRunsPerFlush ? (uint8_t)runs : kRunsPerFlush;
    runs = (uint16_t)(runs - r);
    if (WB == 8) {
      mac_rows<WB, IB, kRun, 0, 0>(acc, x, w, wbyte, r, no_skip);
    } else switch (wph) {  // a run of 8 ends on the phase it started on
      case 0: mac_rows<WB, IB, kRun, 0, 0>(acc, x, w, wbyte, r, no_skip); break;
      case 1: mac_rows<WB, IB, kRun, 1 & Phase<WB>::kMask, 0>(acc, x, w, wbyte, r, no_skip); break;
      case 2: mac_rows<WB, IB, kRun, 2 & Phase<WB>::kMask, 0>(acc, x, w, wbyte, r, no_skip); break;
      default: mac_rows<WB, IB, kRun, 3 & Phase<WB>::kMask, 0>(acc, x, w, wbyte, r, no_skip); break;
    }
    total += flush<WB>(acc);
  }
  uint8_t xbyte = 0, xph = 0;
  uint8_t tail = (uint8_t)(n % kRun);
  // 4-bit activations: the tail's pairs in one loop (a row of 2 keeps the activation phase; the
  // weight phase alternates between at most two values, which mac_rows' two row copies follow)
  const uint8_t kTailRow = 2;
  const uint8_t rows = IB == 4 ? (uint8_t)(tail / kTailRow) : 0;
  if (rows) {
    tail = (uint8_t)(tail - rows * kTailRow);
    if (WB == 8) {
      mac_rows<WB, IB, kTailRow, 0, 0>(acc, x, w, wbyte, rows, no_skip);
    } else switch (wph) {
      case 0: mac_rows<WB, IB, kTailRow, 0, 0>(acc, x, w, wbyte, rows, no_skip); break;
      case 1: mac_rows<WB, IB, kTailRow, 1 & Phase<WB>::kMask, 0>(acc, x, w, wbyte, rows, no_skip); break;
      case 2: mac_rows<WB, IB, kTailRow, 2 & Phase<WB>::kMask, 0>(acc, x, w, wbyte, rows, no_skip); break;
      default: mac_rows<WB, IB, kTailRow, 3 & Phase<WB>::kMask, 0>(acc, x, w, wbyte, rows, no_skip); break;
    }
    wph = (uint8_t)((wph + (uint16_t)rows * kTailRow) & Phase<WB>::kMask);
  }
  for (uint8_t t = tail; t; --t) {
    mac_run_at<WB, IB, 1>(acc, x, w, xbyte, wbyte, wph, xph);
    wph = (uint8_t)((wph + 1) & Phase<WB>::kMask);
    if (IB == 4) xph ^= 1;
  }
  c.w = w;
  c.wbyte = wbyte;
  c.wph = wph;
  return total + flush<WB>(acc);
}

}  // namespace avr
}  // namespace dmc

DMC_OPTIMIZE_END

#endif  // __AVR__
#endif  // DMC_KERNELS_AVR_LINEAR_H
