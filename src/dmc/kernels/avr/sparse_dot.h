/* AVR inner loop of sparse_dot (kernels/sparse_dot.h) for 8-bit activations and 8-, 4- or 2-bit
 * weights, in inline assembly; other widths take the portable loop.
 *
 * The row is one flash stream walked by Z with post-increment (`lpm r, Z+`). Per code byte:
 * one `lpm`, `andi`/`swap` to split its two codes. Per code: add it to the activation pointer,
 * one compare for the escape. Per nonzero: `ld x, X+` (the post-increment is the code's "+1"),
 * the weight from the stream, `mulsu`, and a 4-byte add of the product made unsigned by
 * flipping its sign bit (p + 0x8000 is always in 0..65535, so no sign extension in the loop);
 * afterwards the sum subtracts 0x8000 per product, their count being how far Z moved beyond
 * the code bytes. With 4-bit weights the product is sign-extended instead (same cost, as the
 * count would take a register pair).
 * 4-bit weights are multiplied as w * 16 (the field moved to the high nibble of a register is
 * its sign-correct int8 value times 16): |x * w * 16| <= 255 * 128 fits the 16-bit product, and
 * the sum is shifted back by 4 exactly, every term being a multiple of 16. 2-bit weights alike,
 * as w * 64 (the field moved to the top two bits), shifted back by 6. */
#ifndef DMC_KERNELS_AVR_SPARSE_DOT_H
#define DMC_KERNELS_AVR_SPARSE_DOT_H

namespace dmc {

template <uint8_t WB, uint8_t IB>
struct SparseDotAvr {
  static DMC_INLINE int32_t run(const uint8_t *in, const uint8_t *&stream, uint16_t nbytes) {
    return sparse_dot_portable<WB, IB>(in, stream, nbytes);
  }
};

// one code of an 8-bit-weight row: %[c] holds it (0..15), the weight follows in the stream
#define DMC_AVR_SPARSE_CODE_W8(skip)  \
  "add %A[x], %[c]\n\t"               \
  "adc %B[x], %[zero]\n\t"            \
  "cpi %[c], 15\n\t"                  \
  "breq " skip "\n\t"                 \
  "ld %[xv], %a[x]+\n\t"              \
  "lpm %[wv], Z+\n\t"                 \
  "mulsu %[wv], %[xv]\n\t"            \
  "eor r1, %[k80]\n\t"                \
  "add %A[acc], r0\n\t"               \
  "adc %B[acc], r1\n\t"               \
  "adc %C[acc], %[zero]\n\t"          \
  "adc %D[acc], %[zero]\n\t"

template <>
struct SparseDotAvr<8, 8> {
  // not inlined: the loop needs most registers, a caller's loop would leave too few
  static __attribute__((noinline)) int32_t run(const uint8_t *in, const uint8_t *&stream, uint16_t nbytes) {
    if (!nbytes) return 0;
    const uint16_t n0 = nbytes;
    // registers pinned: the compiler's own choice saved 16 of them and made a frame on every call
    register uint32_t acc asm("r18") = 0;
    register const uint8_t *x asm("r26") = in;
    register const uint8_t *z asm("r30") = stream;
    register uint16_t n asm("r24") = nbytes;
    register uint8_t b asm("r22");
    register uint8_t c asm("r23");
    register uint8_t xv asm("r16");
    register uint8_t wv asm("r17");
    register uint8_t zero asm("r14") = 0;
    register uint8_t k80 asm("r15") = 0x80;
    asm volatile(
        "1:\n\t"
        "lpm %[b], Z+\n\t"
        "mov %[c], %[b]\n\t"
        "andi %[c], 0x0F\n\t"
        DMC_AVR_SPARSE_CODE_W8("2f")
        "2:\n\t"
        "mov %[c], %[b]\n\t"
        "swap %[c]\n\t"
        "andi %[c], 0x0F\n\t"
        DMC_AVR_SPARSE_CODE_W8("3f")
        "3:\n\t"
        "subi %A[n], 1\n\t"
        "sbci %B[n], 0\n\t"
        "brne 1b\n\t"
        "clr r1\n\t"
        : [acc] "+r"(acc), [x] "+e"(x), [z] "+z"(z), [n] "+d"(n), [b] "=&d"(b), [c] "=&d"(c), [xv] "=&a"(xv),
          [wv] "=&a"(wv)
        : [zero] "r"(zero), [k80] "r"(k80)
        : "r0", "memory");
    const uint16_t products = (uint16_t)((uint16_t)(z - stream) - n0);
    stream = z;
    // products * 0x8000 without a 15-step shift loop
    const uint32_t correction = ((uint32_t)(uint16_t)(products >> 1) << 16) | ((products & 1u) ? 0x8000u : 0u);
    return (int32_t)(acc - correction);
  }
};

// one code of a 4-bit-weight row: %[c] holds it; %[vb] holds the value fields (next in the low nibble)
#define DMC_AVR_SPARSE_CODE_W4(skip)  \
  "add %A[x], %[c]\n\t"               \
  "adc %B[x], %[zero]\n\t"            \
  "cpi %[c], 15\n\t"                  \
  "breq " skip "\n\t"                 \
  "ld %[xv], %a[x]+\n\t"              \
  "mov %[wv], %[vb]\n\t"              \
  "swap %[wv]\n\t"                    \
  "andi %[wv], 0xF0\n\t"              \
  "swap %[vb]\n\t"                    \
  "mulsu %[wv], %[xv]\n\t"            \
  "mov %[c], r1\n\t"                  \
  "lsl %[c]\n\t"                      \
  "sbc %[c], %[c]\n\t"                \
  "add %A[acc], r0\n\t"               \
  "adc %B[acc], r1\n\t"               \
  "adc %C[acc], %[c]\n\t"             \
  "adc %D[acc], %[c]\n\t"

template <>
struct SparseDotAvr<4, 8> {
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
        DMC_AVR_SPARSE_CODE_W4("2f")
        "2:\n\t"
        "mov %[c], %[b]\n\t"
        "swap %[c]\n\t"
        "andi %[c], 0x0F\n\t"
        DMC_AVR_SPARSE_CODE_W4("4f")
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
    return acc >> 4;
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
};

#undef DMC_AVR_SPARSE_CODE_W8
#undef DMC_AVR_SPARSE_CODE_W4
#undef DMC_AVR_SPARSE_CODE_W2

template <uint8_t WB, uint8_t IB>
DMC_INLINE int32_t sparse_dot(const uint8_t *in, const uint8_t *&stream, uint16_t nbytes) {
  return SparseDotAvr<WB, IB>::run(in, stream, nbytes);
}

}  // namespace dmc

#endif  // DMC_KERNELS_AVR_SPARSE_DOT_H
