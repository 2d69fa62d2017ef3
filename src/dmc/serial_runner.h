/* Firmware side of the serial protocol (extras/python/dmc/protocol.py has the host side and the
 * frame format). A SerialRunner answers HELLO with the model's facts, INFER by running the
 * model on the received input and returning cycles + output, and STATS with the stack
 * high-water mark. It keeps about 16 bytes of state: INFER payloads are received straight
 * into the model's input buffer.
 *
 * Port: any type with  int read() (-1 when nothing arrived), void write(uint8_t),
 * void flush(), uint32_t micros(), and the counter that times INFER: uint32_t ticks() (free
 * running, wrapping) and uint32_t cycles(uint32_t tick_difference). On a board ticks are
 * microseconds times the clock rate; in QEMU they come from a timer on an instruction-driven
 * virtual clock (-icount), and cycles() returns the exact instruction count.
 * Model: a generated model struct. */
#ifndef DMC_SERIAL_RUNNER_H
#define DMC_SERIAL_RUNNER_H

#include "platform.h"

#if defined(__AVR__)
#include <avr/io.h>
#endif

namespace dmc {

namespace proto {
const uint8_t kSync = 0xD3;
const uint8_t kVersion = 1;
const uint8_t kHello = 0x01, kInfer = 0x02, kStats = 0x03;
const uint8_t kInfo = 0x81, kResult = 0x82, kStatsReply = 0x83, kError = 0x7F;
const uint8_t kBadCrc = 1, kBadLength = 2, kUnknownType = 3, kBadVersion = 4, kTimeout = 5;
const uint32_t kByteTimeoutUs = 250000UL;  // silence inside a frame that abandons it

inline uint16_t crc16_update(uint16_t crc, uint8_t b) {
  crc ^= (uint16_t)b << 8;
  for (uint8_t i = 0; i < 8; ++i) crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
  return crc;
}
}  // namespace proto

/* Stack high-water mark: on AVR the free SRAM between the heap start and the stack is painted
 * once and the untouched bytes are counted; elsewhere it reports "unknown" (0xFFFF, 0). */
class StackMeter {
 public:
  void paint();
  uint16_t free_min() const;
  uint16_t sram_total() const;
};

#if defined(__AVR__)
extern "C" uint8_t __heap_start;
inline void StackMeter::paint() {
  uint8_t *p = &__heap_start;
  uint8_t *sp = (uint8_t *)SP;
  while (p + 16 < sp) *p++ = 0xA5;
}
inline uint16_t StackMeter::free_min() const {
  const uint8_t *p = &__heap_start;
  uint16_t n = 0;
  while (p[n] == 0xA5 && p + n < (const uint8_t *)RAMEND) ++n;
  return n;
}
inline uint16_t StackMeter::sram_total() const { return (uint16_t)(RAMEND - RAMSTART + 1); }
#else
inline void StackMeter::paint() {}
inline uint16_t StackMeter::free_min() const { return 0xFFFF; }
inline uint16_t StackMeter::sram_total() const { return 0; }
#endif

template <class Model, class Port>
class SerialRunner {
 public:
  SerialRunner(Port &port, const char *name, uint32_t cpu_hz)
      : port_(port), name_(name), cpu_hz_(cpu_hz), state_(kWaitSync), type_(0), len_(0), pos_(0), crc_(0),
        last_us_(0) {}

  void begin() { stack_.paint(); }

  /* Call often (from loop()): consumes the bytes that arrived and answers complete frames. */
  void poll() {
    if (state_ != kWaitSync && port_.micros() - last_us_ > proto::kByteTimeoutUs) fail(proto::kTimeout);
    int c;
    while ((c = port_.read()) >= 0) {
      last_us_ = port_.micros();
      consume((uint8_t)c);
    }
  }

 private:
  enum State { kWaitSync, kVersionByte, kType, kLenLo, kLenHi, kPayload, kCrcLo, kCrcHi };

  void consume(uint8_t b) {
    switch (state_) {
      case kWaitSync:
        if (b == proto::kSync) {
          crc_ = 0xFFFF;
          state_ = kVersionByte;
        }
        return;
      case kVersionByte:
        crc_ = proto::crc16_update(crc_, b);
        if (b != proto::kVersion) return fail(proto::kBadVersion);
        state_ = kType;
        return;
      case kType:
        crc_ = proto::crc16_update(crc_, b);
        type_ = b;
        state_ = kLenLo;
        return;
      case kLenLo:
        crc_ = proto::crc16_update(crc_, b);
        len_ = b;
        state_ = kLenHi;
        return;
      case kLenHi:
        crc_ = proto::crc16_update(crc_, b);
        len_ |= (uint16_t)b << 8;
        pos_ = 0;
        if (type_ != proto::kInfer && type_ != proto::kHello && type_ != proto::kStats) return fail(proto::kUnknownType);
        if (len_ != (type_ == proto::kInfer ? Model::input_bytes() : 0)) return fail(proto::kBadLength);
        state_ = len_ ? kPayload : kCrcLo;
        return;
      case kPayload:
        crc_ = proto::crc16_update(crc_, b);
        model_.input()[pos_++] = b;
        if (pos_ == len_) state_ = kCrcLo;
        return;
      case kCrcLo:
        pos_ = b;
        state_ = kCrcHi;
        return;
      case kCrcHi:
        state_ = kWaitSync;
        if ((uint16_t)(pos_ | ((uint16_t)b << 8)) != crc_) return fail(proto::kBadCrc);
        handle();
        return;
    }
  }

  void handle() {
    if (type_ == proto::kHello) {
      const uint8_t n = (uint8_t)strlen(name_);
      start(proto::kInfo, (uint16_t)(23 + n));
      put(proto::kVersion);
      put16(Model::input_bytes());
      put16(Model::output_bytes());
      put(Model::input_bits());
      put(Model::output_bits());
      put32(Model::arena_bytes());
      put32(Model::model_bytes());
      put32(Model::macs());
      put32(cpu_hz_);
      for (uint8_t i = 0; i < n; ++i) put((uint8_t)name_[i]);
    } else if (type_ == proto::kInfer) {
      const uint32_t t0 = port_.ticks();
#if defined(__AVR__)
      GPIOR0 = 1;  // exact cycle stamps for simulators (one cycle each on hardware)
#elif defined(DMC_PROFILE) && defined(DMC_PORT_STAMPS)
      dmc_port_stamp(1);
#endif
      model_.predict();
#if defined(__AVR__)
      GPIOR0 = 2;
#elif defined(DMC_PROFILE) && defined(DMC_PORT_STAMPS)
      dmc_port_stamp(2);
#endif
      const uint32_t cycles = port_.cycles(port_.ticks() - t0);
      start(proto::kResult, (uint16_t)(4 + Model::output_bytes()));
      put32(cycles);
      for (uint16_t i = 0; i < Model::output_bytes(); ++i) put(model_.output()[i]);
    } else {
      start(proto::kStatsReply, 4);
      put16(stack_.free_min());
      put16(stack_.sram_total());
    }
    finish();
  }

  void fail(uint8_t code) {
    state_ = kWaitSync;
    start(proto::kError, 1);
    put(code);
    finish();
  }

  void start(uint8_t type, uint16_t len) {
    port_.write(proto::kSync);
    out_crc_ = 0xFFFF;
    put(proto::kVersion);
    put(type);
    put16(len);
  }
  void put(uint8_t b) {
    out_crc_ = proto::crc16_update(out_crc_, b);
    port_.write(b);
  }
  void put16(uint16_t v) {
    put((uint8_t)v);
    put((uint8_t)(v >> 8));
  }
  void put32(uint32_t v) {
    put16((uint16_t)v);
    put16((uint16_t)(v >> 16));
  }
  void finish() {
    const uint16_t crc = out_crc_;
    port_.write((uint8_t)crc);
    port_.write((uint8_t)(crc >> 8));
    port_.flush();
  }

  Port &port_;
  const char *name_;
  uint32_t cpu_hz_;
  Model model_;
  StackMeter stack_;
  uint8_t state_, type_;
  uint16_t len_, pos_, crc_, out_crc_;
  uint32_t last_us_;
};

}  // namespace dmc

#endif  // DMC_SERIAL_RUNNER_H
