/* AVR inner loop of sparse_conv2d (kernels/sparse_conv2d.h) for a window inside the input with
 * 8-bit activations and 8-, 4- or 2-bit weights, in inline assembly; other widths take the
 * portable loop.
 *
 * The filter's row is one flash stream walked by Z with post-increment; X points at the input.
 * Per entry: `lpm` its step, a two-byte add to X, `ld`, `mulsu` with the weight and a 4-byte add
 * of the product made unsigned by flipping its sign bit (p + 0x8000 is always in 0..65535, so
 * no sign extension in the loop); afterwards 0x8000 per entry is subtracted. About 21 cycles.
 * Narrow weights come one value byte per group: a field moved to the top of a register is its
 * int8 value times 2^(8 - WB), so |x * w * 2^(8 - WB)| <= 255 * 128 still fits the 16-bit
 * product and the sum is shifted back exactly (every term is a multiple of 2^(8 - WB)). */
#ifndef DMC_KERNELS_AVR_SPARSE_CONV2D_H
#define DMC_KERNELS_AVR_SPARSE_CONV2D_H

namespace dmc {

// one entry: the step from Z moves X, the weight (times 2^(8 - WB)) is in %[wv]
#define DMC_AVR_TAPS_MAC        \
  "lpm %[xv], Z+\n\t"           \
  "add %A[x], %[xv]\n\t"        \
  "adc %B[x], %[zero]\n\t"      \
  "ld %[xv], %a[x]\n\t"         \
  "mulsu %[wv], %[xv]\n\t"      \
  "eor r1, %[k80]\n\t"          \
  "add %A[acc], r0\n\t"         \
  "adc %B[acc], r1\n\t"         \
  "adc %C[acc], %[zero]\n\t"    \
  "adc %D[acc], %[zero]\n\t"

// the end of an entry: the row's last one leaves the loop
#define DMC_AVR_TAPS_NEXT \
  "subi %A[n], 1\n\t"     \
  "sbci %B[n], 0\n\t"     \
  "breq 9f\n\t"

// weight fields times 2^(8 - WB) into %[wv] from the group's value byte %[vb]
#define DMC_AVR_FIELD_4_0 "mov %[wv], %[vb]\n\t" "swap %[wv]\n\t" "andi %[wv], 0xF0\n\t"
#define DMC_AVR_FIELD_4_1 "mov %[wv], %[vb]\n\t" "andi %[wv], 0xF0\n\t"
#define DMC_AVR_FIELD_2_0 "mov %[wv], %[vb]\n\t" "swap %[wv]\n\t" "lsl %[wv]\n\t" "lsl %[wv]\n\t" "andi %[wv], 0xC0\n\t"
#define DMC_AVR_FIELD_2_1 "mov %[wv], %[vb]\n\t" "swap %[wv]\n\t" "andi %[wv], 0xC0\n\t"
#define DMC_AVR_FIELD_2_2 "mov %[wv], %[vb]\n\t" "lsl %[wv]\n\t" "lsl %[wv]\n\t" "andi %[wv], 0xC0\n\t"
#define DMC_AVR_FIELD_2_3 "mov %[wv], %[vb]\n\t" "andi %[wv], 0xC0\n\t"
// the sum shifted back by 8 - WB (every term is a multiple of 2^(8 - WB))
#define DMC_AVR_TAPS_SHIFT(N) \
  ".rept " #N "\n\t"          \
  "asr %D[acc]\n\t"          \
  "ror %C[acc]\n\t"          \
  "ror %B[acc]\n\t"          \
  "ror %A[acc]\n\t"          \
  ".endr\n\t"
// the narrow weights' loop operands
#define DMC_AVR_TAPS_OPERANDS                                                                         \
  : [acc] "+r"(sum), [x] "+x"(px), [z] "+z"(pz), [n] "+d"(pn), [vb] "=&r"(vb), [xv] "=&a"(xv), [wv] "=&a"(wv) \
  : [zero] "r"(zero), [k80] "r"(k80)                                                                  \
  : "r0", "memory"

/* 8-bit weights: acc + the sum over the row of (product + 0x8000), modulo 2^32. Narrower: the
 * same with products times 2^(8 - WB), then shifted back by 8 - WB (acc starts at minus the
 * 0x8000 terms, so the sum is an exact multiple). */
template <uint8_t WB>
uint32_t sparse_taps_avr(const uint8_t *x, const uint8_t *p, uint16_t n, uint32_t acc);

// The loop's registers, pinned: all but the two constants are call-clobbered, so a call saves
// only those (the compiler's own choice took callee-saved ones and a stack frame).
#define DMC_AVR_TAPS_REGISTERS                      \
  register uint32_t sum asm("r18") = acc;           \
  register const uint8_t *px asm("r26") = x;        \
  register const uint8_t *pz asm("r30") = p;        \
  register uint16_t pn asm("r24") = n;              \
  register uint8_t xv asm("r22");                   \
  register uint8_t wv asm("r23");                   \
  register uint8_t zero asm("r14") = 0;             \
  register uint8_t k80 asm("r15") = 0x80;

// not inlined: the loop needs most registers, the window loop around it would leave too few
template <>
inline __attribute__((noinline)) uint32_t sparse_taps_avr<8>(const uint8_t *x, const uint8_t *p, uint16_t n,
                                                                 uint32_t acc) {
  DMC_AVR_TAPS_REGISTERS
  asm volatile(
      "1:\n\t"
      "lpm %[wv], Z+\n\t"
      DMC_AVR_TAPS_MAC
      "subi %A[n], 1\n\t"
      "sbci %B[n], 0\n\t"
      "brne 1b\n\t"
      "clr r1\n\t"
      : [acc] "+r"(sum), [x] "+x"(px), [z] "+z"(pz), [n] "+d"(pn), [xv] "=&a"(xv), [wv] "=&a"(wv)
      : [zero] "r"(zero), [k80] "r"(k80)
      : "r0", "memory");
  return sum;
}

template <>
inline __attribute__((noinline)) uint32_t sparse_taps_avr<4>(const uint8_t *x, const uint8_t *p, uint16_t n,
                                                                 uint32_t acc) {
  DMC_AVR_TAPS_REGISTERS
  register uint8_t vb asm("r13");
  asm volatile(
      "1:\n\t"
      "lpm %[vb], Z+\n\t"
      DMC_AVR_FIELD_4_0 DMC_AVR_TAPS_MAC DMC_AVR_TAPS_NEXT
      DMC_AVR_FIELD_4_1 DMC_AVR_TAPS_MAC DMC_AVR_TAPS_NEXT
      "rjmp 1b\n\t"
      "9:\n\t"
      "clr r1\n\t"
      DMC_AVR_TAPS_SHIFT(4)
      DMC_AVR_TAPS_OPERANDS);
  return sum;
}

template <>
inline __attribute__((noinline)) uint32_t sparse_taps_avr<2>(const uint8_t *x, const uint8_t *p, uint16_t n,
                                                                 uint32_t acc) {
  DMC_AVR_TAPS_REGISTERS
  register uint8_t vb asm("r13");
  asm volatile(
      "1:\n\t"
      "lpm %[vb], Z+\n\t"
      DMC_AVR_FIELD_2_0 DMC_AVR_TAPS_MAC DMC_AVR_TAPS_NEXT
      DMC_AVR_FIELD_2_1 DMC_AVR_TAPS_MAC DMC_AVR_TAPS_NEXT
      DMC_AVR_FIELD_2_2 DMC_AVR_TAPS_MAC DMC_AVR_TAPS_NEXT
      DMC_AVR_FIELD_2_3 DMC_AVR_TAPS_MAC DMC_AVR_TAPS_NEXT
      "rjmp 1b\n\t"
      "9:\n\t"
      "clr r1\n\t"
      DMC_AVR_TAPS_SHIFT(6)
      DMC_AVR_TAPS_OPERANDS);
  return sum;
}

/* Two side-by-side windows (first activations x and x + 1) in one pass over the filter's row:
 * each entry's value and step are read once, both activations loaded, two MULSUs. X alternates
 * between two positions so that no entry pays a pointer correction: an "A" entry adds its step
 * to X = the previous position, loads x[0] with post-increment and x[1] in place (X ends one
 * ahead); a "B" entry adds its step to that, loads x[1] in place and x[0] with pre-decrement
 * (X ends on the position). The two sums are 24 bits: they start at -n * 0x8000 and the products
 * are made unsigned (+0x8000), so that with n <= 255 entries (|sum| <= 255 * 255 * 128 < 2^23)
 * each ends on its exact value modulo 2^24. Narrow weights: products times 2^(8 - WB), shifted
 * back afterwards (every term is a multiple). About 14 cycles per product, 8-bit weights. */
#define DMC_AVR_PAIR_STEP                                             \
  "lpm %[x0], Z+\n\t"                                                \
  "add r26, %[x0]\n\t"                                               \
  "adc r27, %[zero]\n\t"
#define DMC_AVR_PAIR_MACS                                             \
  "mulsu %[wv], %[x0]\n\t"                                           \
  "eor r1, %[k80]\n\t"                                               \
  "add %A[s0], r0\n\t"                                               \
  "adc %B[s0], r1\n\t"                                               \
  "adc %C[s0], %[zero]\n\t"                                          \
  "mulsu %[wv], %[x1]\n\t"                                           \
  "eor r1, %[k80]\n\t"                                               \
  "add %A[s1], r0\n\t"                                               \
  "adc %B[s1], r1\n\t"                                               \
  "adc %C[s1], %[zero]\n\t"
#define DMC_AVR_PAIR_A DMC_AVR_PAIR_STEP "ld %[x0], X+\n\t" "ld %[x1], X\n\t" DMC_AVR_PAIR_MACS
#define DMC_AVR_PAIR_B DMC_AVR_PAIR_STEP "ld %[x1], X\n\t" "ld %[x0], -X\n\t" DMC_AVR_PAIR_MACS
#define DMC_AVR_PAIR_NEXT "dec %[n]\n\t" "breq 9f\n\t"
// the same where 9f is beyond a branch's reach (the 2-bit loop's four entries)
#define DMC_AVR_PAIR_NEXT_FAR "dec %[n]\n\t" "brne .+2\n\t" "rjmp 9f\n\t"
// the pair loops' operands (the narrow weights' loops add the group's value byte vb)
#define DMC_AVR_PAIR_OUTPUTS                                                                         \
  [s0] "+r"(s0), [s1] "+r"(s1), [x] "+x"(px), [z] "+z"(pz), [n] "+r"(pn), [x0] "=&a"(x0), [x1] "=&a"(x1), \
      [wv] "=&a"(wv)
#define DMC_AVR_PAIR_INPUTS [zero] "r"(zero), [k80] "r"(k80)

/* max over the pair of sum(x[offset] * w) (times 2^(8 - WB)), 1 <= n <= 255 entries. */
template <uint8_t WB>
__attribute__((noinline)) int32_t sparse_pair_max_avr(const uint8_t *x, const uint8_t *p, uint8_t n) {
  // -n * 0x8000 in 24 bits
  const __uint24 init = (__uint24)0 - (((__uint24)(uint8_t)(n >> 1) << 16) | ((n & 1) ? 0x8000u : 0u));
  register __uint24 s0 asm("r19") = init;
  register __uint24 s1 asm("r22") = init;
  register const uint8_t *px asm("r26") = x;
  register const uint8_t *pz asm("r30") = p;
  register uint8_t pn asm("r25") = n;
  register uint8_t x0 asm("r16");
  register uint8_t x1 asm("r17");
  register uint8_t wv asm("r18");
  register uint8_t vb asm("r13");
  register uint8_t zero asm("r14") = 0;
  register uint8_t k80 asm("r15") = 0x80;
  if (WB == 8) {
    asm volatile(
        "1:\n\t"
        "lpm %[wv], Z+\n\t" DMC_AVR_PAIR_A DMC_AVR_PAIR_NEXT
        "lpm %[wv], Z+\n\t" DMC_AVR_PAIR_B
        "dec %[n]\n\t"
        "brne 1b\n\t"
        "9:\n\t"
        "clr r1\n\t"
        : DMC_AVR_PAIR_OUTPUTS
        : DMC_AVR_PAIR_INPUTS
        : "r0", "memory");
  } else if (WB == 4) {
    asm volatile(
        "1:\n\t"
        "lpm %[vb], Z+\n\t"
        DMC_AVR_FIELD_4_0 DMC_AVR_PAIR_A DMC_AVR_PAIR_NEXT
        DMC_AVR_FIELD_4_1 DMC_AVR_PAIR_B
        "dec %[n]\n\t"
        "brne 1b\n\t"
        "9:\n\t"
        "clr r1\n\t"
        : DMC_AVR_PAIR_OUTPUTS, [vb] "=&r"(vb)
        : DMC_AVR_PAIR_INPUTS
        : "r0", "memory");
  } else {
    asm volatile(
        "1:\n\t"
        "lpm %[vb], Z+\n\t"
        DMC_AVR_FIELD_2_0 DMC_AVR_PAIR_A DMC_AVR_PAIR_NEXT_FAR
        DMC_AVR_FIELD_2_1 DMC_AVR_PAIR_B DMC_AVR_PAIR_NEXT_FAR
        DMC_AVR_FIELD_2_2 DMC_AVR_PAIR_A DMC_AVR_PAIR_NEXT_FAR
        DMC_AVR_FIELD_2_3 DMC_AVR_PAIR_B
        "dec %[n]\n\t"
        "breq 9f\n\t"
        "rjmp 1b\n\t"
        "9:\n\t"
        "clr r1\n\t"
        : DMC_AVR_PAIR_OUTPUTS, [vb] "=&r"(vb)
        : DMC_AVR_PAIR_INPUTS
        : "r0", "memory");
  }
  const __int24 a = (__int24)s0, b = (__int24)s1;
  const int32_t best = a > b ? a : b;
  return best >> (8 - WB);  // exact: a multiple of 2^(8 - WB)
}

#undef DMC_AVR_PAIR_STEP
#undef DMC_AVR_PAIR_MACS
#undef DMC_AVR_PAIR_A
#undef DMC_AVR_PAIR_B
#undef DMC_AVR_PAIR_NEXT
#undef DMC_AVR_PAIR_NEXT_FAR
#undef DMC_AVR_PAIR_OUTPUTS
#undef DMC_AVR_PAIR_INPUTS
#undef DMC_AVR_FIELD_4_0
#undef DMC_AVR_FIELD_4_1
#undef DMC_AVR_FIELD_2_0
#undef DMC_AVR_FIELD_2_1
#undef DMC_AVR_FIELD_2_2
#undef DMC_AVR_FIELD_2_3

/* 8-bit activations: the loop starts from bias - 0x8000 per entry (8-bit weights: the sum is
 * then the result) or from minus that correction (narrower: the loop returns the exact sum). */
template <uint8_t WB>
struct SparseTapsRow<WB, 8> {
  const uint8_t *p;
  uint16_t n;
  int32_t bias;
  uint32_t init;
  DMC_INLINE SparseTapsRow(const uint8_t *p_, uint16_t n_, int32_t bias_) : p(p_), n(n_), bias(bias_) {
    const uint32_t correction = ((uint32_t)(uint16_t)(n >> 1) << 16) | ((n & 1u) ? 0x8000u : 0u);  // n * 0x8000
    init = WB == 8 ? (uint32_t)bias - correction : (uint32_t)0 - correction;
  }
  DMC_INLINE int32_t window(const uint8_t *in, index_t origin) const {
    if (!n) return bias;
    const uint32_t sum = sparse_taps_avr<WB>(in + origin, p, n, init);
    return WB == 8 ? (int32_t)sum : bias + (int32_t)sum;
  }
  DMC_INLINE int32_t pair_max(const uint8_t *in, index_t origin) const {
    if (n && n <= 255) return bias + sparse_pair_max_avr<WB>(in + origin, p, (uint8_t)n);
    const int32_t a = window(in, origin), b = window(in, (index_t)(origin + 1));
    return a > b ? a : b;
  }
};

#undef DMC_AVR_TAPS_MAC
#undef DMC_AVR_TAPS_NEXT
#undef DMC_AVR_TAPS_REGISTERS
#undef DMC_AVR_TAPS_SHIFT
#undef DMC_AVR_TAPS_OPERANDS

}  // namespace dmc

#endif  // DMC_KERNELS_AVR_SPARSE_CONV2D_H
