/* Fixed-length bit packing: the same contract as extras/python/dmc/packing.py.
 *
 * A tensor of n elements of BITS bits (8, 4 or 2) is one flat stream in row-major (CHW)
 * order; rows are not padded. Element i lives in byte i*BITS/8 at bit offset (i*BITS)%8,
 * least-significant bits first; only the last byte is padded (with zeros). Weights are
 * signed (two's complement in BITS bits, sign-extended on read); activations unsigned.
 *
 * Worked example: 4-bit [1, 2, 3, 4] -> bytes {0x21, 0x43}; 2-bit [1, 2, 3] -> {0x39};
 * signed 4-bit [-1, 7] -> {0x7F}.
 *
 * Kernels unpack inside their inner loops with shifts and masks: Packed<BITS> for
 * activations in SRAM, WeightStream<BITS> for weights read sequentially from flash.
 */
#ifndef DMC_PACKING_H
#define DMC_PACKING_H

#include "platform.h"

DMC_OPTIMIZE_BEGIN

namespace dmc {

/* Unsigned activation codes in SRAM. */
template <uint8_t BITS>
struct Packed;

template <>
struct Packed<8> {
  static DMC_INLINE uint8_t get(const uint8_t *buf, index_t i) { return buf[i]; }
  static DMC_INLINE void set(uint8_t *buf, index_t i, uint8_t v) { buf[i] = v; }
};

template <>
struct Packed<4> {
  static DMC_INLINE uint8_t get(const uint8_t *buf, index_t i) {
    const uint8_t b = buf[i >> 1];
    return (i & 1) ? (uint8_t)(b >> 4) : (uint8_t)(b & 0x0F);
  }
  static DMC_INLINE void set(uint8_t *buf, index_t i, uint8_t v) {
    uint8_t *p = buf + (i >> 1);
    *p = (i & 1) ? (uint8_t)((*p & 0x0F) | (v << 4)) : (uint8_t)((*p & 0xF0) | (v & 0x0F));
  }
};

template <>
struct Packed<2> {
  static DMC_INLINE uint8_t get(const uint8_t *buf, index_t i) {
    return (uint8_t)((buf[i >> 2] >> ((i & 3) << 1)) & 0x03);
  }
  static DMC_INLINE void set(uint8_t *buf, index_t i, uint8_t v) {
    uint8_t *p = buf + (i >> 2);
    const uint8_t shift = (uint8_t)((i & 3) << 1);
    *p = (uint8_t)((*p & ~(0x03 << shift)) | ((v & 0x03) << shift));
  }
};

/* Run-time bit width versions, for user code (the seed's get_packed_value). */
inline uint8_t get_packed_value(const uint8_t *buf, index_t i, uint8_t bits) {
  return bits == 8 ? Packed<8>::get(buf, i) : bits == 4 ? Packed<4>::get(buf, i) : Packed<2>::get(buf, i);
}

inline void set_packed_value(uint8_t *buf, index_t i, uint8_t v, uint8_t bits) {
  if (bits == 8) {
    Packed<8>::set(buf, i, v);
  } else if (bits == 4) {
    Packed<4>::set(buf, i, v);
  } else {
    Packed<2>::set(buf, i, v);
  }
}

/* Signed weights read in storage order from flash. seek() positions the stream at an
 * element index (a row may start mid-byte); next() returns one sign-extended weight. */
template <uint8_t BITS>
class WeightStream;

template <>
class WeightStream<8> {
 public:
  WeightStream() : p_(0) {}
  DMC_INLINE void seek(const uint8_t *base, uint32_t index) { p_ = base + index; }
  DMC_INLINE int8_t next() { return (int8_t)DMC_READ_U8(p_++); }

 private:
  const uint8_t *p_;
};

template <>
class WeightStream<4> {
 public:
  WeightStream() : p_(0), byte_(0), high_(0) {}
  DMC_INLINE void seek(const uint8_t *base, uint32_t index) {
    p_ = base + (index >> 1);
    high_ = (uint8_t)(index & 1);
    if (high_) byte_ = DMC_READ_U8(p_++);
  }
  DMC_INLINE int8_t next() {
    uint8_t v;
    if (high_) {
      v = (uint8_t)(byte_ >> 4);
    } else {
      byte_ = DMC_READ_U8(p_++);
      v = (uint8_t)(byte_ & 0x0F);
    }
    high_ ^= 1;
    return (int8_t)((int8_t)(v ^ 0x08) - 8);  // sign-extend 4 bits
  }

 private:
  const uint8_t *p_;
  uint8_t byte_;
  uint8_t high_;
};

template <>
class WeightStream<2> {
 public:
  WeightStream() : p_(0), byte_(0), pos_(0) {}
  DMC_INLINE void seek(const uint8_t *base, uint32_t index) {
    p_ = base + (index >> 2);
    pos_ = (uint8_t)(index & 3);
    if (pos_) byte_ = (uint8_t)(DMC_READ_U8(p_++) >> (pos_ << 1));
  }
  DMC_INLINE int8_t next() {
    if (pos_ == 0) byte_ = DMC_READ_U8(p_++);
    const uint8_t v = (uint8_t)(byte_ & 0x03);
    byte_ >>= 2;
    pos_ = (uint8_t)((pos_ + 1) & 3);
    return (int8_t)((int8_t)(v ^ 0x02) - 2);  // sign-extend 2 bits
  }

 private:
  const uint8_t *p_;
  uint8_t byte_;
  uint8_t pos_;
};

}  // namespace dmc

DMC_OPTIMIZE_END

#endif  // DMC_PACKING_H
