// QEMU mps2-an386 (Cortex-M4): Serial is CMSDK UART0 at 0x40004000, the clock is SysTick
// counting the 25 MHz core clock (wrapped into a 64-bit count on every poll), and CMSDK TIMER0
// counts instructions for the serial runner (DMC_INSTRUCTION_COUNTER).
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

/* QEMU runs this board with -icount shift=DMC_QEMU_ICOUNT_SHIFT: every instruction advances the
 * virtual clock by exactly 2^shift ns, and TIMER0 (32-bit, 25 MHz: one tick per 40 ns) counts
 * that clock. A tick difference d is within one tick of n * 2^shift / 40 for n instructions,
 * so with 2^shift >= 80 ns (shift 7: 3.2 ticks per instruction) n = round(d * 40 / 2^shift)
 * is exact. At shift 0 one tick would be 40 instructions. */
#ifndef DMC_QEMU_ICOUNT_SHIFT
#error "build with -DDMC_QEMU_ICOUNT_SHIFT=<the -icount shift the launcher passes to QEMU>"
#endif
struct CmsdkTimer {
  volatile uint32_t ctrl, value, reload, intstatus;
};
CmsdkTimer *const timer0 = reinterpret_cast<CmsdkTimer *>(0x40000000u);
const uint32_t kTimerNs = 1000000000u / kCoreHz;
}  // namespace

uint32_t dmc_counter_ticks() {
  if (!(timer0->ctrl & 1u)) {
    timer0->reload = 0xFFFFFFFFu;
    timer0->value = 0xFFFFFFFFu;
    timer0->ctrl = 1u;  // enable, no interrupt
  }
  return ~timer0->value;  // counts down: complement counts up, and wraps like a uint32_t
}

uint32_t dmc_counter_instructions(uint32_t tick_difference) {
  const uint64_t ns = (uint64_t)tick_difference * kTimerNs;
  return (uint32_t)((ns + (1u << DMC_QEMU_ICOUNT_SHIFT >> 1)) >> DMC_QEMU_ICOUNT_SHIFT);
}

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

/* Per-step stamps for `dmc profile` (DMC_PORT_STAMPS, see dmc/platform.h): each stamp stores the
 * timer, and the last one (2, the end of the inference) writes them all as "DMC_STAMP value
 * instructions" lines to UART1, which the launcher sends to stderr: the writing happens after
 * the measured run, so the counts hold only the steps (and about a dozen instructions per
 * stamp for the call itself). */
namespace {
CmsdkUart *const uart1 = reinterpret_cast<CmsdkUart *>(0x40005000u);
const uint8_t kMaxStamps = 128;
uint8_t stamp_values[kMaxStamps];
uint32_t stamp_ticks[kMaxStamps];
uint8_t n_stamps = 0;

void uart1_print(const char *s) {
  for (; *s; ++s) {
    while (uart1->state & kTxFull) {
    }
    uart1->data = (uint8_t)*s;
  }
}

void uart1_print(uint32_t v) {
  char buf[12];
  char *p = buf + sizeof buf - 1;
  *p = '\0';
  do {
    *--p = (char)('0' + v % 10u);
    v /= 10u;
  } while (v);
  uart1_print(p);
}
}  // namespace

void dmc_port_stamp(uint8_t value) {
  const uint32_t t = dmc_counter_ticks();
  if (value == 1) n_stamps = 0;
  if (n_stamps < kMaxStamps) {
    stamp_values[n_stamps] = value;
    stamp_ticks[n_stamps++] = t;
  }
  if (value != 2) return;
  uart1->ctrl = 1u;  // TX enabled
  for (uint8_t i = 0; i < n_stamps; ++i) {
    uart1_print("DMC_STAMP ");
    uart1_print((uint32_t)stamp_values[i]);
    uart1_print(" ");
    uart1_print(dmc_counter_instructions(stamp_ticks[i] - stamp_ticks[0]));
    uart1_print("\n");
  }
}
