/* AVR multiply-accumulate runs in inline assembly: K consecutive activations from SRAM (LD X+)
 * times K consecutive weights streamed from flash (LPM Z+), each product one MULSU.
 *
 * Weights of 4 and 2 bits are unpacked in registers into the top bits of a byte (SWAP / LSL /
 * ANDI): the byte is then the weight times 16 (4 bits) or 64 (2 bits) as a signed 8-bit value,
 * and MULSU multiplies it as is. Every product of a run carries the same factor kScale, removed
 * exactly when the run is flushed (all terms are multiples of it). 4-bit activations are
 * unpacked with ANDI 0x0F / SWAP.
 *
 * Accumulation: each 16-bit product p is made unsigned by flipping its sign bit (p + 2^15) and
 * added with carry into a 24-bit accumulator; after n products the true sum is acc - n * 2^15.
 * That is 4 cycles per product instead of a sign-extended 32-bit add, and exact while
 * n <= 256 (n * (2^16 - 1) < 2^24): callers flush at most every kMaxTerms products.
 *
 * A run starts at any sub-byte phase of the weights (WPH: element index mod 8 / WB) and of the
 * activations (XPH, 4-bit only); `wbyte` / `xbyte` carry the partly used byte from one run to the
 * next, so that a stream of runs reads each byte once. Phases advance at assembly time (.rept
 * with .if on assembler symbols), so each (K, phases) variant is straight-line code.
 *
 * Inline-assembly operands: temporaries are outputs, even the constants 0x80 and 0 (loaded in
 * the assembly), so that the compiler can never give an input and a read-write operand holding
 * the same value one register; X and Z are the pointers' own register pairs.
 */
#ifndef DMC_KERNELS_AVR_MAC_H
#define DMC_KERNELS_AVR_MAC_H

#if defined(__AVR__)

#include "../../platform.h"

DMC_OPTIMIZE_BEGIN

namespace dmc {
namespace avr {

typedef __uint24 acc24_t;

const uint16_t kMaxTerms = 256;

template <uint8_t WB>
struct WeightScale;
template <>
struct WeightScale<8> {
  static const uint8_t kLog2 = 0;
};
template <>
struct WeightScale<4> {
  static const uint8_t kLog2 = 4;
};
template <>
struct WeightScale<2> {
  static const uint8_t kLog2 = 6;
};

/* Loops outside the hot path (edges, the outputs around a run) compiled for size: the headers'
 * -O2 would spend flash the models need. */
#define DMC_AVR_COLD __attribute__((optimize("Os")))

/* The runs read SRAM through pointers in inline assembly that declares no memory operands:
 * a compiler barrier before them makes every earlier store (the previous kernel's output, a
 * padding byte) happen first. */
DMC_INLINE void memory_barrier() { asm volatile("" ::: "memory"); }

/* The state of one accumulation: the 24-bit biased sum and the products in it. */
struct Acc {
  acc24_t sum;
  uint16_t terms;
};

/* The exact sum of the products so far (scaled back), and a fresh accumulator. */
template <uint8_t WB>
DMC_INLINE int32_t flush(Acc &a) {
  // terms * 2^15 as a byte move and one shift (a variable-count loop otherwise)
  const int32_t v = ((int32_t)a.sum - (int32_t)(((uint32_t)a.terms << 16) >> 1)) >> WeightScale<WB>::kLog2;
  a.sum = 0;
  a.terms = 0;
  return v;
}

/* The next weight in assembly text, times 2^(8-WB) -> %[wv] (LPM; 4/2-bit: unpacked by phase
 * dmc_wp into the top bits, the phase advanced at assembly time). */
#define DMC_AVR_WEIGHT \
  ".set dmc_ws, 0\n\t" \
  ".if %[wbits] == 8\n\t" \
  "lpm %[wv], Z+\n\t" \
  ".elseif %[wbits] == 4\n\t" \
  ".if dmc_wp == 0\n\t" \
  "lpm %[wb], Z+\n\t" \
  "mov %[wv], %[wb]\n\t" \
  "swap %[wv]\n\t" \
  "andi %[wv], 0xF0\n\t" \
  ".else\n\t" \
  "mov %[wv], %[wb]\n\t" \
  "andi %[wv], 0xF0\n\t" \
  ".endif\n\t" \
  ".set dmc_wp, 1 - dmc_wp\n\t" \
  ".else\n\t" \
  ".if dmc_wp == 0\n\t" \
  "lpm %[wb], Z+\n\t" \
  "mov %[wv], %[wb]\n\t" \
  "swap %[wv]\n\t" \
  "lsl %[wv]\n\t" \
  "lsl %[wv]\n\t" \
  "andi %[wv], 0xC0\n\t" \
  ".elseif dmc_wp == 1\n\t" \
  "mov %[wv], %[wb]\n\t" \
  "swap %[wv]\n\t" \
  "andi %[wv], 0xC0\n\t" \
  ".elseif dmc_wp == 2\n\t" \
  "mov %[wv], %[wb]\n\t" \
  "lsl %[wv]\n\t" \
  "lsl %[wv]\n\t" \
  "andi %[wv], 0xC0\n\t" \
  ".else\n\t" \
  "mov %[wv], %[wb]\n\t" \
  "andi %[wv], 0xC0\n\t" \
  ".endif\n\t" \
  ".set dmc_wp, (dmc_wp + 1) & 3\n\t" \
  ".endif\n\t"

/* One product in assembly text: the next activation (LD, 4-bit: unpacked by phase dmc_xp), the
 * next weight (LPM, 4/2-bit: unpacked by phase dmc_wp into the top bits), MULSU, sign bit
 * flipped, added into the 24-bit sum; the phases advance at assembly time. */
#define DMC_AVR_MAC_ELEMENT \
  /* activation -> %[xa] */ \
  ".if %[ib] == 8\n\t" \
  "ld %[xa], X+\n\t" \
  ".set dmc_xs, 0\n\t" \
  ".elseif dmc_xp == 0\n\t" \
  "ld %[xb], X+\n\t" \
  "mov %[xa], %[xb]\n\t" \
  "andi %[xa], 0x0F\n\t" \
  ".set dmc_xs, 0\n\t" \
  ".set dmc_xp, 1\n\t" \
  ".else\n\t" \
  "mov %[xa], %[xb]\n\t" \
  "swap %[xa]\n\t" \
  "andi %[xa], 0x0F\n\t" \
  ".set dmc_xs, 0\n\t" \
  ".set dmc_xp, 0\n\t" \
  ".endif\n\t" \
  DMC_AVR_WEIGHT \
  /* product, sign bit flipped, into the 24-bit sum */ \
  "mulsu %[wv], %[xa]\n\t" \
  "eor r1, %[k80]\n\t" \
  "add %A[acc], r0\n\t" \
  "adc %B[acc], r1\n\t" \
  "adc %C[acc], %[zero]\n\t"

/* K products: activations at x (IB bits, phase XPH), weights at w (WB bits, phase WPH).
 * Advances x, w, and leaves the partly consumed bytes in xbyte / wbyte. */
template <uint8_t WB, uint8_t IB, uint8_t K, uint8_t WPH, uint8_t XPH>
DMC_INLINE void mac_run(Acc &a, const uint8_t *&x, const uint8_t *&w, uint8_t &xbyte, uint8_t &wbyte) {
  uint8_t xa, wv, k80, zero;
  asm volatile(
      "ldi %[k80], 0x80\n\t"
      "clr %[zero]\n\t"
      ".set dmc_wp, %[wph]\n\t"
      ".set dmc_xp, %[xph]\n\t"
      ".rept %[k]\n\t"
      DMC_AVR_MAC_ELEMENT
      ".endr\n\t"
      "clr __zero_reg__"
      : [acc] "+r"(a.sum), [xptr] "+x"(x), [wptr] "+z"(w), [xb] "+d"(xbyte), [wb] "+d"(wbyte), [xa] "=&a"(xa),
        [wv] "=&a"(wv), [k80] "=&d"(k80), [zero] "=&r"(zero)
      : [k] "n"(K), [wph] "n"(WPH), [xph] "n"(XPH), [ib] "n"(IB), [wbits] "n"(WB));
  a.terms = (uint16_t)(a.terms + K);
}

/* A kernel row in assembly text: a 4-bit row that starts on a high nibble first loads its byte,
 * then K products, then X moves to the next row (%[rs] bytes). */
#define DMC_AVR_ROW \
  ".set dmc_xp, %[xph]\n\t" \
  ".if %[ib] == 4 && %[xph] == 1\n\t" \
  "ld %[xb], X+\n\t" \
  ".endif\n\t" \
  ".rept %[k]\n\t" \
  DMC_AVR_MAC_ELEMENT \
  ".endr\n\t" \
  "add r26, %A[rs]\n\t" \
  "adc r27, %B[rs]\n\t"

/* `rows` kernel rows (rows * K <= kMaxTerms products) in one loop: the activation phase XPH is
 * the same at every row start (rows of an even number of 4-bit elements), the weight phase
 * alternates when a row ends mid-byte (two row copies). */
template <uint8_t WB, uint8_t IB, uint8_t K, uint8_t WPH, uint8_t XPH>
DMC_INLINE void mac_rows(Acc &a, const uint8_t *&x, const uint8_t *&w, uint8_t &wbyte, uint8_t rows,
                         uint16_t row_skip) {
  uint8_t xa, wv, xbyte, k80, zero;
  a.terms = (uint16_t)(a.terms + (uint16_t)rows * K);
  asm volatile(
      "ldi %[k80], 0x80\n\t"
      "clr %[zero]\n\t"
      "1:\n\t"
      ".set dmc_wp, %[wph]\n\t"
      DMC_AVR_ROW
      "dec %[rows]\n\t"
      "brne 3f\n\t"
      "rjmp 9f\n\t"
      "3:\n\t"
      ".if dmc_wp != %[wph]\n\t"
      DMC_AVR_ROW
      "dec %[rows]\n\t"
      "breq 9f\n\t"
      ".endif\n\t"
      "rjmp 1b\n\t"
      "9:\n\t"
      "clr __zero_reg__"
      : [acc] "+r"(a.sum), [xptr] "+x"(x), [wptr] "+z"(w), [xb] "=&d"(xbyte), [wb] "+d"(wbyte), [xa] "=&a"(xa),
        [wv] "=&a"(wv), [rows] "+r"(rows), [k80] "=&d"(k80), [zero] "=&r"(zero)
      : [k] "n"(K), [wph] "n"(WPH), [xph] "n"(XPH), [ib] "n"(IB), [wbits] "n"(WB), [rs] "r"(row_skip));
}

/* Two windows side by side (the second one column to the right) share every weight and all but
 * one activation of a row: a row of K weights reads K + 1 activations once, each weight once,
 * and adds K products into each of two sums. The activations rotate through two registers,
 * chosen at assembly time (dmc_xr: the one holding the current column). */
#define DMC_AVR_PAIR_LOAD(REG) \
  ".if %[ib] == 8\n\t" \
  "ld " REG ", X+\n\t" \
  ".elseif dmc_xp == 0\n\t" \
  "ld %[xb], X+\n\t" \
  "mov " REG ", %[xb]\n\t" \
  "andi " REG ", 0x0F\n\t" \
  ".set dmc_xp, 1\n\t" \
  ".else\n\t" \
  "mov " REG ", %[xb]\n\t" \
  "swap " REG "\n\t" \
  "andi " REG ", 0x0F\n\t" \
  ".set dmc_xp, 0\n\t" \
  ".endif\n\t"

#define DMC_AVR_PAIR_MAC(REG, ACC) \
  "mulsu %[wv], " REG "\n\t" \
  "eor r1, %[k80]\n\t" \
  "add %A[" ACC "], r0\n\t" \
  "adc %B[" ACC "], r1\n\t" \
  "adc %C[" ACC "], %[zero]\n\t"

#define DMC_AVR_PAIR_ELEMENT \
  ".if dmc_xr == 0\n\t" \
  DMC_AVR_PAIR_LOAD("%[x1]") \
  DMC_AVR_WEIGHT \
  DMC_AVR_PAIR_MAC("%[x0]", "s0") \
  DMC_AVR_PAIR_MAC("%[x1]", "s1") \
  ".else\n\t" \
  DMC_AVR_PAIR_LOAD("%[x0]") \
  DMC_AVR_WEIGHT \
  DMC_AVR_PAIR_MAC("%[x1]", "s0") \
  DMC_AVR_PAIR_MAC("%[x0]", "s1") \
  ".endif\n\t" \
  ".set dmc_xr, 1 - dmc_xr\n\t"

#define DMC_AVR_PAIR_ROW \
  ".set dmc_xp, %[xph]\n\t" \
  ".if %[ib] == 4 && %[xph] == 1\n\t" \
  "ld %[xb], X+\n\t" \
  ".endif\n\t" \
  ".set dmc_xr, 0\n\t" \
  DMC_AVR_PAIR_LOAD("%[x0]") \
  ".rept %[k]\n\t" \
  DMC_AVR_PAIR_ELEMENT \
  ".endr\n\t" \
  "add r26, %A[rs]\n\t" \
  "adc r27, %B[rs]\n\t"

/* The sums of two side-by-side windows. */
struct Acc2 {
  acc24_t s0, s1;
  uint16_t terms;  // products in each sum
};

/* mac_rows for a pair of windows: `rows` kernel rows of K weights, K + 1 activations each
 * (row_skip: bytes from a row's last load to the next row's first). */
template <uint8_t WB, uint8_t IB, uint8_t K, uint8_t WPH, uint8_t XPH>
DMC_INLINE void mac_pair_rows(Acc2 &a, const uint8_t *&x, const uint8_t *&w, uint8_t &wbyte, uint8_t rows,
                              uint16_t row_skip) {
  uint8_t x0, x1, wv, xbyte, k80, zero;
  a.terms = (uint16_t)(a.terms + (uint16_t)rows * K);
  asm volatile(
      "clr %[k80]\n\t"  // 0x80 without LDI: k80 may sit below r16
      "sec\n\t"
      "ror %[k80]\n\t"
      "clr %[zero]\n\t"
      "1:\n\t"
      ".set dmc_wp, %[wph]\n\t"
      DMC_AVR_PAIR_ROW
      "dec %[rows]\n\t"
      "brne 3f\n\t"
      "rjmp 9f\n\t"
      "3:\n\t"
      ".if dmc_wp != %[wph]\n\t"
      DMC_AVR_PAIR_ROW
      "dec %[rows]\n\t"
      "breq 9f\n\t"
      ".endif\n\t"
      "rjmp 1b\n\t"
      "9:\n\t"
      "clr __zero_reg__"
      : [s0] "+r"(a.s0), [s1] "+r"(a.s1), [xptr] "+x"(x), [wptr] "+z"(w), [xb] "=&r"(xbyte), [wb] "+r"(wbyte),
        [x0] "=&a"(x0), [x1] "=&a"(x1), [wv] "=&a"(wv), [rows] "+r"(rows), [k80] "=&r"(k80), [zero] "=&r"(zero)
      : [k] "n"(K), [wph] "n"(WPH), [xph] "n"(XPH), [ib] "n"(IB), [wbits] "n"(WB), [rs] "r"(row_skip));
}

/* The exact sums of a pair (scaled back) added to r[0], r[1], and a fresh pair. */
template <uint8_t WB>
DMC_INLINE void flush_pair(Acc2 &a, int32_t *r) {
  Acc one = {a.s0, a.terms};
  r[0] += flush<WB>(one);
  one.sum = a.s1;
  one.terms = a.terms;
  r[1] += flush<WB>(one);
  a.s0 = 0;
  a.s1 = 0;
  a.terms = 0;
}

/* Elements of B bits per byte, minus one: the phase mask. */
template <uint8_t B>
struct Phase {
  static const uint8_t kMask = (uint8_t)(8 / B - 1);
};

/* mac_run with the phases chosen at run time (one branch per run). */
template <uint8_t WB, uint8_t IB, uint8_t K>
DMC_INLINE void mac_run_at(Acc &a, const uint8_t *&x, const uint8_t *&w, uint8_t &xbyte, uint8_t &wbyte, uint8_t wph,
                           uint8_t xph) {
  if (WB == 8) {
    if (IB == 4 && xph) {
      mac_run<WB, IB, K, 0, 1>(a, x, w, xbyte, wbyte);
    } else {
      mac_run<WB, IB, K, 0, 0>(a, x, w, xbyte, wbyte);
    }
    return;
  }
  if (WB == 4) {
    if (IB == 4 && xph) {
      if (wph) {
        mac_run<WB, IB, K, 1, 1>(a, x, w, xbyte, wbyte);
      } else {
        mac_run<WB, IB, K, 0, 1>(a, x, w, xbyte, wbyte);
      }
    } else if (wph) {
      mac_run<WB, IB, K, 1, 0>(a, x, w, xbyte, wbyte);
    } else {
      mac_run<WB, IB, K, 0, 0>(a, x, w, xbyte, wbyte);
    }
    return;
  }
  if (IB == 4 && xph) {
    switch (wph) {
      case 0: mac_run<WB, IB, K, 0, 1>(a, x, w, xbyte, wbyte); return;
      case 1: mac_run<WB, IB, K, 1, 1>(a, x, w, xbyte, wbyte); return;
      case 2: mac_run<WB, IB, K, 2 & Phase<WB>::kMask, 1>(a, x, w, xbyte, wbyte); return;
      default: mac_run<WB, IB, K, 3 & Phase<WB>::kMask, 1>(a, x, w, xbyte, wbyte); return;
    }
  }
  switch (wph) {
    case 0: mac_run<WB, IB, K, 0, 0>(a, x, w, xbyte, wbyte); return;
    case 1: mac_run<WB, IB, K, 1 & Phase<WB>::kMask, 0>(a, x, w, xbyte, wbyte); return;
    case 2: mac_run<WB, IB, K, 2 & Phase<WB>::kMask, 0>(a, x, w, xbyte, wbyte); return;
    default: mac_run<WB, IB, K, 3 & Phase<WB>::kMask, 0>(a, x, w, xbyte, wbyte); return;
  }
}

/* Positions a weight stream at element `index` of `base` (WB bits): the next byte to load in
 * w, the phase, and the partly used byte when the phase is not 0. */
template <uint8_t WB>
DMC_INLINE uint8_t seek_weights(const uint8_t *base, uint32_t index, const uint8_t *&w, uint8_t &wbyte) {
  const uint8_t ph = (uint8_t)index & Phase<WB>::kMask;
  w = base + (WB == 8 ? index : WB == 4 ? (index >> 1) : (index >> 2));
  if (ph) wbyte = DMC_READ_U8(w++);
  return ph;
}


}  // namespace avr
}  // namespace dmc

DMC_OPTIMIZE_END

#endif  // __AVR__
#endif  // DMC_KERNELS_AVR_MAC_H
