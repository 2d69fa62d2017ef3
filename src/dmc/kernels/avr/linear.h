/* AVR loops of linear (see ../linear.h): a weight row is streamed from flash in runs of 8
 * products (mac_rows with no skip between runs: 8 elements of 8, 4 or 2 bits keep every phase),
 * then the last in_features % 8 one by one; rows of 8-bit weights and activations go through one
 * assembly loop (dot_u8s8). Rows follow each other in the weight stream, so the stream is
 * positioned once per layer. The loop over outputs (bias, requantization, store) steps flash
 * pointers instead of indexing: small layers (a sine MLP's) spend most of their cycles there. */
#ifndef DMC_KERNELS_AVR_LINEAR_H
#define DMC_KERNELS_AVR_LINEAR_H

#if defined(__AVR__)

#include "mac.h"
#include "../../packing.h"
#include "../../requant.h"

DMC_OPTIMIZE_BEGIN

namespace dmc {
namespace avr {

/* A weight stream read in order. */
struct WeightCursor {
  const uint8_t *w;
  uint8_t wph, wbyte;
};

/* sum(x[i] * w[i]) over n 8-bit activations and n 8-bit weights (flash), 1 <= n <= 255, in
 * assembly inlined into the loop over outputs: MULSU per product, its sign bit flipped (+2^15)
 * and added into a 24-bit sum that starts at -n * 2^15, so that it ends on the true sum:
 * |sum| <= 255 * 255 * 128 < 2^23 is exact in 24-bit two's complement and is sign-extended
 * once. Two products per turn. Advances x and w by n. */
DMC_INLINE int32_t dot_u8s8(const uint8_t *&x, const uint8_t *&w, uint8_t n) {
  uint32_t sum;
  uint8_t xa, wv, k80, zero;
  asm volatile(
      "ldi %[k80], 0x80\n\t"
      "clr %[zero]\n\t"
      "clr %A[sum]\n\t" "clr %B[sum]\n\t"
      "mov %C[sum], %[n]\n\t"                // n * 2^15: byte 2 = n >> 1, byte 1 = (n & 1) << 7
      "lsr %C[sum]\n\t" "ror %B[sum]\n\t"
      "com %C[sum]\n\t" "neg %B[sum]\n\t" "sbci %C[sum], 0xFF\n\t"   // negated (byte 0 stays 0)
      "sbrs %[n], 0\n\t"
      "rjmp 2f\n\t"
      "ld %[xa], X+\n\t" "lpm %[wv], Z+\n\t" "mulsu %[wv], %[xa]\n\t" "eor r1, %[k80]\n\t"  // the odd one
      "add %A[sum], r0\n\t" "adc %B[sum], r1\n\t" "adc %C[sum], %[zero]\n\t"
      "2:\n\t"
      "lsr %[n]\n\t"                           // pairs
      "breq 4f\n\t"
      "3:\n\t"
      "ld %[xa], X+\n\t" "lpm %[wv], Z+\n\t" "mulsu %[wv], %[xa]\n\t" "eor r1, %[k80]\n\t"
      "add %A[sum], r0\n\t" "adc %B[sum], r1\n\t" "adc %C[sum], %[zero]\n\t"
      "ld %[xa], X+\n\t" "lpm %[wv], Z+\n\t" "mulsu %[wv], %[xa]\n\t" "eor r1, %[k80]\n\t"
      "add %A[sum], r0\n\t" "adc %B[sum], r1\n\t" "adc %C[sum], %[zero]\n\t"
      "dec %[n]\n\t"
      "brne 3b\n\t"
      "4:\n\t"
      "clr %D[sum]\n\t"
      "sbrc %C[sum], 7\n\t" "com %D[sum]\n\t"   // sign-extend to 32 bits
      "clr r1\n\t"
      : [sum] "=&d"(sum), [xptr] "+x"(x), [wptr] "+z"(w), [n] "+r"(n), [xa] "=&a"(xa), [wv] "=&a"(wv),
        [k80] "=&d"(k80), [zero] "=&r"(zero));
  return (int32_t)sum;
}

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
    } else if (WB == 4) {  // (two phases: one copy of the loop each)
      if (wph) {
        mac_rows<WB, IB, kRun, 1, 0>(acc, x, w, wbyte, r, no_skip);
      } else {
        mac_rows<WB, IB, kRun, 0, 0>(acc, x, w, wbyte, r, no_skip);
      }
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
    } else if (WB == 4) {
      if (wph) {
        mac_rows<WB, IB, kTailRow, 1, 0>(acc, x, w, wbyte, rows, no_skip);
      } else {
        mac_rows<WB, IB, kTailRow, 0, 0>(acc, x, w, wbyte, rows, no_skip);
      }
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

/* An 8-bit row longer than dot_u8s8 takes: the unrolled runs of dot_row; out of line, so that the
 * loop over outputs keeps its registers (the caller advances its weight pointer by n). */
__attribute__((noinline)) inline int32_t dot_u8s8_long(const uint8_t *x, uint16_t n, const uint8_t *w) {
  WeightCursor c = {w, 0, 0};
  return dot_row<8, 8>(x, n, c);
}

/* The loop over outputs: bias + row sum, requantized, stored; the multiplier and shift pointers
 * step only when per_channel is set. The arguments are read from flash field by
 * field (a copy of the whole struct costs more than the fields a small layer uses). */
template <uint8_t WB, uint8_t IB, uint8_t OB>
void linear_rows(const uint8_t *in, uint8_t *out, const LinearArgs *fa) {
  WeightCursor cur = {(const uint8_t *)pgm_read_word(&fa->weight), 0, 0};
  const uint8_t *bias = (const uint8_t *)pgm_read_word(&fa->bias);
  const uint8_t *m = (const uint8_t *)pgm_read_word(&fa->multiplier);
  const uint8_t *sh = (const uint8_t *)pgm_read_word(&fa->shift);
  const uint8_t per_channel = pgm_read_byte(&fa->per_channel);
  const uint8_t zp = pgm_read_byte(&fa->out_zero_point), lo = pgm_read_byte(&fa->clamp_lo);
  const uint8_t hi = pgm_read_byte(&fa->clamp_hi);
  const uint16_t n = pgm_read_word(&fa->in_features);
  index_t o = 0;
  for (uint16_t left = pgm_read_word(&fa->out_features); left; --left) {
    int32_t acc = (int32_t)pgm_read_dword(bias);
    if (WB == 8 && IB == 8 && n <= 255) {
      const uint8_t *x = in;
      acc += dot_u8s8(x, cur.w, (uint8_t)n);
    } else if (WB == 8 && IB == 8) {
      acc += dot_u8s8_long(in, n, cur.w);
      cur.w += n;
    } else {
      acc += dot_row<WB, IB>(in, n, cur);
    }
    bias += 4;
    const uint8_t code = requantize_to_code(acc, (int16_t)pgm_read_word(m), pgm_read_byte(sh), zp, lo, hi);
    if (OB == 8) {
      *out++ = code;
    } else {
      Packed<OB>::set(out, o++, code);
    }
    if (per_channel) {
      m += 2;
      ++sh;
    }
  }
}

}  // namespace avr
}  // namespace dmc

DMC_OPTIMIZE_END

#endif  // __AVR__
#endif  // DMC_KERNELS_AVR_LINEAR_H
