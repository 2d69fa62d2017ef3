// QEMU virt (RV32): Serial is the ns16550 UART at 0x10000000, the clock is the CLINT's mtime
// (10 MHz), and the instret CSR counts instructions for the serial runner
// (DMC_INSTRUCTION_COUNTER).
#include "Arduino.h"

namespace {
volatile uint8_t *const uart = reinterpret_cast<volatile uint8_t *>(0x10000000u);
const uint8_t kRbr = 0, kThr = 0, kLsr = 5;
const uint8_t kDataReady = 0x01, kThrEmpty = 0x20;

volatile uint32_t *const mtime_lo = reinterpret_cast<volatile uint32_t *>(0x0200BFF8u);
volatile uint32_t *const mtime_hi = reinterpret_cast<volatile uint32_t *>(0x0200BFFCu);
const uint32_t kMtimeHz = 10000000u;

uint64_t mtime() {
  uint32_t hi, lo;
  do {  // the two halves of a 64-bit counter on a 32-bit bus: reread when the high half moved
    hi = *mtime_hi;
    lo = *mtime_lo;
  } while (hi != *mtime_hi);
  return ((uint64_t)hi << 32) | lo;
}
}  // namespace

/* QEMU runs this board with -icount shift=DMC_QEMU_ICOUNT_SHIFT (0). With -icount, QEMU's
 * instret is the virtual clock in ns, and at shift 0 that advances by exactly one per executed
 * instruction: a difference of two reads is the exact instruction count. The CSR is read with
 * Zicsr enabled for this one instruction, since the picolibc multilib is built for rv32imc. */
#if !defined(DMC_QEMU_ICOUNT_SHIFT) || DMC_QEMU_ICOUNT_SHIFT != 0
#error "build with -DDMC_QEMU_ICOUNT_SHIFT=0 and run QEMU with -icount shift=0"
#endif
uint32_t dmc_counter_ticks() {
  uint32_t v;
  __asm__ volatile(".option push\n.option arch, +zicsr\ncsrr %0, instret\n.option pop" : "=r"(v));
  return v;
}

uint32_t dmc_counter_instructions(uint32_t tick_difference) { return tick_difference; }

uint32_t micros() { return (uint32_t)(mtime() / (kMtimeHz / 1000000u)); }
uint32_t millis() { return (uint32_t)(mtime() / (kMtimeHz / 1000u)); }

// The UART is left as reset (no FIFO, one byte of receive buffer): switching the FIFO on would
// clear it and drop what the host already sent.
void DmcShimSerial::begin(unsigned long) {}

int DmcShimSerial::available() { return (uart[kLsr] & kDataReady) ? 1 : 0; }

int DmcShimSerial::read() { return available() ? (int)uart[kRbr] : -1; }

size_t DmcShimSerial::write(uint8_t b) {
  while (!(uart[kLsr] & kThrEmpty)) {
  }
  uart[kThr] = b;
  return 1;
}

void DmcShimSerial::flush() {}
