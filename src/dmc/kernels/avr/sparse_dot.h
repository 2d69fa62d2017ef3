/* AVR inner loop of sparse_dot (kernels/sparse_dot.h) for 8-bit activations and 8-, 4- or 2-bit
 * weights, in inline assembly; other widths take the portable loop.
 *
 * The row is one flash stream walked by Z with post-increment (`lpm r, Z+`). Per code byte:
 * one `lpm`, `andi` (low code), `swap`/`andi` (high code) and `dec`/`brne` on the byte count
 * (a second count byte for rows over 256 code bytes). Per code: add it to the activation
 * pointer, one compare for the escape. Per nonzero: `ld x, X+` (the post-increment is the
 * code's "+1"), the weight, `mulsu`, and a 2-byte add whose signed overflow (rare: V set)
 * branches out of line to count a wrap of 65536 in the upper half of the sum: the sum is
 * (upper half) * 65536 + (lower half as int16), exact for any row length. With 8-bit weights
 * the sum starts from the layer's bias, so the kernel adds nothing per row.
 * 4-bit weights are multiplied as w * 16 (the field moved to the high nibble of a register is
 * its sign-correct int8 value times 16): |x * w * 16| <= 255 * 128 fits the 16-bit product, and
 * the sum is shifted back by 4 exactly, every term being a multiple of 16. The low code's value
 * is moved up, the high code's is in place (a byte whose low code is an escape swaps it out of
 * line). The 8- and 4-bit loops are inlined into the kernel's row loop: no call and no register
 * saves per row (sparse_linear 32 x 256 at 90%: 0.244 and 0.237 of the dense cycles,
 * extras/benchmarks/results/sparse_kernels.md). 2-bit weights (an out-of-line loop) are
 * multiplied as w * 64 (the field moved to the top two bits), shifted back by 6. */
#ifndef DMC_KERNELS_AVR_SPARSE_DOT_H
#define DMC_KERNELS_AVR_SPARSE_DOT_H

namespace dmc {

template <uint8_t WB, uint8_t IB>
struct SparseDotAvr {
  static DMC_INLINE int32_t run(const uint8_t *in, const uint8_t *&stream, uint16_t nbytes) {
    return sparse_dot_portable<WB, IB>(in, stream, nbytes);
  }
  static DMC_INLINE int32_t bias(const int32_t *b, const uint8_t *in, const uint8_t *&stream, uint16_t nbytes) {
    return DMC_READ_I32(b) + run(in, stream, nbytes);
  }
};

// the 2-byte part's signed overflow (V after `adc`): a positive sum wrapped negative adds one
// 65536 to the carry (the upper half of `s`), a negative one wrapped positive takes one; then
// back to `back`
#define DMC_AVR_SPARSE_WRAP(back)  \
  "sbrs %B[s], 7\n\t"              \
  "rjmp 8f\n\t"                    \
  "subi %C[s], 0xFF\n\t"           \
  "sbci %D[s], 0xFF\n\t"           \
  "rjmp " back "\n\t"              \
  "8:\n\t"                         \
  "subi %C[s], 1\n\t"              \
  "sbci %D[s], 0\n\t"              \
  "rjmp " back "\n\t"

// one nonzero's product r1:r0 into the 2-byte part
#define DMC_AVR_SPARSE_ADD(wrapped) \
  "add %A[s], r0\n\t"               \
  "adc %B[s], r1\n\t"               \
  "brvs " wrapped "\n\t"

// one code of an 8-bit-weight row: `c` holds it (0..15), the weight follows in the stream
#define DMC_AVR_SPARSE_CODE_W8(c, skip, wrapped)  \
  "add %A[x], " c "\n\t"                          \
  "adc %B[x], %[zero]\n\t"                        \
  "cpi " c ", 15\n\t"                             \
  "breq " skip "\n\t"                             \
  "ld %[xv], %a[x]+\n\t"                          \
  "lpm %[wv], Z+\n\t"                             \
  "mulsu %[wv], %[xv]\n\t"                        \
  DMC_AVR_SPARSE_ADD(wrapped)

// int32 `s` to and from the loop's form: the sum is (upper half) * 65536 + (lower half as int16)
#define DMC_AVR_SPARSE_SPLIT  \
  "sbrs %B[s], 7\n\t"         \
  "rjmp 1f\n\t"               \
  "subi %C[s], 0xFF\n\t"      \
  "sbci %D[s], 0xFF\n\t"      \
  "1:\n\t"
#define DMC_AVR_SPARSE_JOIN   \
  "sbrs %B[s], 7\n\t"         \
  "rjmp 9f\n\t"               \
  "subi %C[s], 1\n\t"         \
  "sbci %D[s], 0\n\t"         \
  "9:\n\t"

/* s + the products of an 8-bit-weight row of nbytes >= 1 code bytes; `lo` is nbytes' low byte
 * (0: 256), `hi` the number of further blocks of 256. */
DMC_INLINE int32_t sparse_dot_avr_w8(int32_t s, const uint8_t *&x, const uint8_t *&z, uint8_t lo, uint8_t hi) {
  uint8_t b, c, xv, wv;
  asm volatile(
      DMC_AVR_SPARSE_SPLIT
      "1:\n\t"
      "lpm %[b], Z+\n\t"
      "mov %[c], %[b]\n\t"
      "andi %[c], 0x0F\n\t"
      DMC_AVR_SPARSE_CODE_W8("%[c]", "2f", "4f")
      "2:\n\t"
      "swap %[b]\n\t"
      "andi %[b], 0x0F\n\t"
      DMC_AVR_SPARSE_CODE_W8("%[b]", "3f", "5f")
      "3:\n\t"
      "dec %[lo]\n\t"
      "brne 1b\n\t"
      "subi %[hi], 1\n\t"
      "brcc 1b\n\t"
      "rjmp 6f\n\t"
      "4:\n\t"
      DMC_AVR_SPARSE_WRAP("2b")
      "5:\n\t"
      DMC_AVR_SPARSE_WRAP("3b")
      "6:\n\t"
      "clr r1\n\t"
      DMC_AVR_SPARSE_JOIN
      : [s] "+d"(s), [x] "+x"(x), [z] "+z"(z), [lo] "+r"(lo), [hi] "+d"(hi), [b] "=&d"(b), [c] "=&d"(c),
        [xv] "=&a"(xv), [wv] "=&a"(wv)
      : [zero] "r"((uint8_t)0)
      : "r0", "memory");
  return s;
}

/* The products of a 4-bit-weight row (the loop sums 16 * x * w, shifted back at the end). The low code's
 * value is the low field of the value byte (moved to the high nibble), the high code's the high
 * field in place; a byte whose low code is an escape (rare) has its high code's value in the low
 * field: swapped out of line. */
DMC_INLINE int32_t sparse_dot_avr_w4(const uint8_t *&x, const uint8_t *&z, uint8_t lo, uint8_t hi) {
  int32_t s = 0;  // in the loop's form already
  uint8_t b, c, vb, xv, wv;
  asm volatile(
      "1:\n\t"
      "lpm %[b], Z+\n\t"
      "mov %[c], %[b]\n\t"
      "andi %[c], 0x0F\n\t"
      "add %A[x], %[c]\n\t"
      "adc %B[x], %[zero]\n\t"
      "cpi %[c], 15\n\t"
      "breq 6f\n\t"
      "lpm %[vb], Z+\n\t"
      "ld %[xv], %a[x]+\n\t"
      "mov %[wv], %[vb]\n\t"
      "swap %[wv]\n\t"
      "andi %[wv], 0xF0\n\t"
      "mulsu %[wv], %[xv]\n\t"
      DMC_AVR_SPARSE_ADD("4f")
      "2:\n\t"  // the high code; its value in the high nibble of vb
      "swap %[b]\n\t"
      "andi %[b], 0x0F\n\t"
      "add %A[x], %[b]\n\t"
      "adc %B[x], %[zero]\n\t"
      "cpi %[b], 15\n\t"
      "breq 3f\n\t"
      "ld %[xv], %a[x]+\n\t"
      "andi %[vb], 0xF0\n\t"
      "mulsu %[vb], %[xv]\n\t"
      DMC_AVR_SPARSE_ADD("5f")
      "3:\n\t"
      "dec %[lo]\n\t"
      "brne 1b\n\t"
      "subi %[hi], 1\n\t"
      "brcc 1b\n\t"
      "rjmp 0f\n\t"
      "6:\n\t"  // low code an escape
      "cpi %[b], 0xF0\n\t"
      "brsh 7f\n\t"
      "lpm %[vb], Z+\n\t"
      "swap %[vb]\n\t"
      "rjmp 2b\n\t"
      "7:\n\t"  // both escapes: no value byte
      "subi %A[x], lo8(-15)\n\t"
      "sbci %B[x], hi8(-15)\n\t"
      "rjmp 3b\n\t"
      "4:\n\t"
      DMC_AVR_SPARSE_WRAP("2b")
      "5:\n\t"
      DMC_AVR_SPARSE_WRAP("3b")
      "0:\n\t"
      "clr r1\n\t"
      DMC_AVR_SPARSE_JOIN
      // every term a multiple of 16: back to x * w exactly
      "asr %D[s]\n\t" "ror %C[s]\n\t" "ror %B[s]\n\t" "ror %A[s]\n\t"
      "asr %D[s]\n\t" "ror %C[s]\n\t" "ror %B[s]\n\t" "ror %A[s]\n\t"
      "asr %D[s]\n\t" "ror %C[s]\n\t" "ror %B[s]\n\t" "ror %A[s]\n\t"
      "asr %D[s]\n\t" "ror %C[s]\n\t" "ror %B[s]\n\t" "ror %A[s]\n\t"
      : [s] "+d"(s), [x] "+x"(x), [z] "+z"(z), [lo] "+r"(lo), [hi] "+d"(hi), [b] "=&d"(b), [c] "=&d"(c),
        [vb] "=&a"(vb), [xv] "=&a"(xv), [wv] "=&a"(wv)
      : [zero] "r"((uint8_t)0)
      : "r0", "memory");
  return s;
}

#undef DMC_AVR_SPARSE_WRAP
#undef DMC_AVR_SPARSE_ADD
#undef DMC_AVR_SPARSE_SPLIT
#undef DMC_AVR_SPARSE_JOIN

/* The flash bias + the row's sum of products (8- and 4-bit weights); `stream` advances past the
 * row. With 8-bit weights the sum starts from the bias; with 4-bit ones the bias is read after
 * the loop (fewer registers live across it). */
template <uint8_t WB>
DMC_INLINE int32_t sparse_dot_avr_bias(const int32_t *bias, const uint8_t *in, const uint8_t *&stream,
                                       uint16_t nbytes) {
  const uint8_t *x = in;
  const uint8_t *z = stream;
  const uint8_t lo = (uint8_t)nbytes, hi = (uint8_t)((uint16_t)(nbytes - 1) >> 8);
  int32_t acc;
  if (WB == 8) {
    acc = DMC_READ_I32(bias);
    if (nbytes) acc = sparse_dot_avr_w8(acc, x, z, lo, hi);
  } else {
    acc = nbytes ? sparse_dot_avr_w4(x, z, lo, hi) : 0;
    acc += DMC_READ_I32(bias);
  }
  stream = z;
  return acc;
}

template <>
struct SparseDotAvr<8, 8> {
  static DMC_INLINE int32_t bias(const int32_t *b, const uint8_t *in, const uint8_t *&stream, uint16_t nbytes) {
    return sparse_dot_avr_bias<8>(b, in, stream, nbytes);
  }
  static DMC_INLINE int32_t run(const uint8_t *in, const uint8_t *&stream, uint16_t nbytes) {
    static const int32_t zero DMC_FLASH = 0;
    return sparse_dot_avr_bias<8>(&zero, in, stream, nbytes);
  }
};

template <>
struct SparseDotAvr<4, 8> {
  static DMC_INLINE int32_t bias(const int32_t *b, const uint8_t *in, const uint8_t *&stream, uint16_t nbytes) {
    return sparse_dot_avr_bias<4>(b, in, stream, nbytes);
  }
  static DMC_INLINE int32_t run(const uint8_t *in, const uint8_t *&stream, uint16_t nbytes) {
    static const int32_t zero DMC_FLASH = 0;
    return sparse_dot_avr_bias<4>(&zero, in, stream, nbytes);
  }
};

// one code of a 2-bit-weight row: %[c] holds it; %[vb] holds the value fields (next in the low two bits)
#define DMC_AVR_SPARSE_CODE_W2(skip)  \
  "add %A[x], %[c]\n\t"               \
  "adc %B[x], %[zero]\n\t"            \
  "cpi %[c], 15\n\t"                  \
  "breq " skip "\n\t"                 \
  "ld %[xv], %a[x]+\n\t"              \
  "mov %[wv], %[vb]\n\t"              \
  "swap %[wv]\n\t"                    \
  "lsl %[wv]\n\t"                     \
  "lsl %[wv]\n\t"                     \
  "andi %[wv], 0xC0\n\t"              \
  "lsr %[vb]\n\t"                     \
  "lsr %[vb]\n\t"                     \
  "mulsu %[wv], %[xv]\n\t"            \
  "mov %[c], r1\n\t"                  \
  "lsl %[c]\n\t"                      \
  "sbc %[c], %[c]\n\t"                \
  "add %A[acc], r0\n\t"               \
  "adc %B[acc], r1\n\t"               \
  "adc %C[acc], %[c]\n\t"             \
  "adc %D[acc], %[c]\n\t"

template <>
struct SparseDotAvr<2, 8> {
  static __attribute__((noinline)) int32_t run(const uint8_t *in, const uint8_t *&stream, uint16_t nbytes) {
    if (!nbytes) return 0;
    const uint8_t *x = in;
    const uint8_t *z = stream;
    int32_t acc = 0;
    uint8_t b, c, vb, xv, wv;
    asm volatile(
        "1:\n\t"
        "lpm %[b], Z+\n\t"
        "cpi %[b], 0xFF\n\t"
        "breq 3f\n\t"  // two escapes: no value byte, nothing to multiply
        "lpm %[vb], Z+\n\t"
        "mov %[c], %[b]\n\t"
        "andi %[c], 0x0F\n\t"
        DMC_AVR_SPARSE_CODE_W2("2f")
        "2:\n\t"
        "mov %[c], %[b]\n\t"
        "swap %[c]\n\t"
        "andi %[c], 0x0F\n\t"
        DMC_AVR_SPARSE_CODE_W2("4f")
        "rjmp 4f\n\t"
        "3:\n\t"
        "subi %A[x], lo8(-30)\n\t"
        "sbci %B[x], hi8(-30)\n\t"
        "4:\n\t"
        "subi %A[n], 1\n\t"
        "sbci %B[n], 0\n\t"
        "brne 1b\n\t"
        "clr r1\n\t"
        : [acc] "+r"(acc), [x] "+e"(x), [z] "+z"(z), [n] "+d"(nbytes), [b] "=&d"(b), [c] "=&d"(c),
          [vb] "=&r"(vb), [xv] "=&a"(xv), [wv] "=&a"(wv)
        : [zero] "r"((uint8_t)0)
        : "r0", "memory");
    stream = z;
    return acc >> 6;
  }
  static DMC_INLINE int32_t bias(const int32_t *b, const uint8_t *in, const uint8_t *&stream, uint16_t nbytes) {
    return DMC_READ_I32(b) + run(in, stream, nbytes);
  }
};

#undef DMC_AVR_SPARSE_CODE_W8
#undef DMC_AVR_SPARSE_CODE_W2

template <uint8_t WB, uint8_t IB>
DMC_INLINE int32_t sparse_dot(const uint8_t *in, const uint8_t *&stream, uint16_t nbytes) {
  return SparseDotAvr<WB, IB>::run(in, stream, nbytes);
}
template <uint8_t WB, uint8_t IB>
DMC_INLINE int32_t sparse_dot_bias(const int32_t *bias, const uint8_t *in, const uint8_t *&stream,
                                   uint16_t nbytes) {
  return SparseDotAvr<WB, IB>::bias(bias, in, stream, nbytes);
}

}  // namespace dmc

#endif  // DMC_KERNELS_AVR_SPARSE_DOT_H
