// QEMU mps2-an386 (Cortex-M4): Serial is CMSDK UART0 at 0x40004000, the clock is SysTick
// counting the 25 MHz core clock (wrapped into a 64-bit count on every poll).
#include "Arduino.h"

namespace {
struct CmsdkUart {
  volatile uint32_t data, state, ctrl, intstatus, bauddiv;
};
CmsdkUart *const uart0 = reinterpret_cast<CmsdkUart *>(0x40004000u);
const uint32_t kTxFull = 1u, kRxFull = 2u;

volatile uint32_t *const syst_csr = reinterpret_cast<volatile uint32_t *>(0xE000E010u);
volatile uint32_t *const syst_rvr = reinterpret_cast<volatile uint32_t *>(0xE000E014u);
volatile uint32_t *const syst_cvr = reinterpret_cast<volatile uint32_t *>(0xE000E018u);
const uint32_t kCoreHz = 25000000u;
uint64_t ticks = 0;
uint32_t last = 0;
bool started = false;

uint64_t now_ticks() {
  if (!started) {
    *syst_rvr = 0x00FFFFFFu;
    *syst_cvr = 0;
    *syst_csr = 5u;  // enable, core clock, no interrupt
    started = true;
    last = *syst_cvr;
  }
  const uint32_t v = *syst_cvr;  // counts down, 24 bits
  ticks += (last - v) & 0x00FFFFFFu;
  last = v;
  return ticks;
}
}  // namespace

uint32_t micros() { return (uint32_t)(now_ticks() / (kCoreHz / 1000000u)); }
uint32_t millis() { return (uint32_t)(now_ticks() / (kCoreHz / 1000u)); }

void DmcShimSerial::begin(unsigned long) {
  uart0->bauddiv = 16;
  uart0->ctrl = 3u;  // TX and RX enabled
}

int DmcShimSerial::available() { return (uart0->state & kRxFull) ? 1 : 0; }

int DmcShimSerial::read() { return available() ? (int)(uart0->data & 0xFFu) : -1; }

size_t DmcShimSerial::write(uint8_t b) {
  while (uart0->state & kTxFull) {
  }
  uart0->data = b;
  return 1;
}

void DmcShimSerial::flush() {}
