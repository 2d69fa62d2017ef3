/*
 * dmc_simavr: run an ATmega328P firmware in simavr with its UART0 bridged to stdin/stdout.
 *
 *   dmc_simavr [-m MCU] [-f HZ] [-t SECONDS] [-a MILLIVOLTS] firmware.elf
 *
 * Bytes read from stdin are fed to UART0 RX (only once the firmware has enabled the receiver
 * and while the UART input FIFO has room: simavr drops bytes otherwise); bytes the firmware
 * transmits are written to stdout unchanged (binary safe). Cycle stamps: a write of V to
 * GPIOR0 prints "DMC_STAMP V CYCLE" on stderr; a write of V to GPIOR1 ends the run with exit
 * status V. The run also ends when stdin is closed and everything has been delivered and
 * echoed, or after -t seconds of simulated time (status 124). -a puts a constant voltage on the
 * analog input A0 (ADC0; AVCC and AREF are 5 V), as a sensor would.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <simavr/avr_adc.h>
#include <simavr/avr_uart.h>
#include <simavr/sim_avr.h>
#include <simavr/sim_elf.h>
#include <simavr/sim_io.h>
#include <simavr/sim_irq.h>

#define GPIOR0_ADDR 0x3E
#define GPIOR1_ADDR 0x4A
#define UCSR0B_ADDR 0xC1
#define RXEN0_BIT 4

static uint8_t in_buf[1 << 16];
static size_t in_len, in_pos;
static int stdin_open = 1;
static int uart_xoff;
static int exit_code = -1;
static avr_t *avr;

static void quiet_logger(avr_t *a, const int level, const char *fmt, va_list ap) {
  (void)a;
  if (level <= LOG_ERROR) {
    fprintf(stderr, "simavr: ");
    vfprintf(stderr, fmt, ap);
  }
}

static void no_sleep(avr_t *a, avr_cycle_count_t how_long) {
  (void)a;
  (void)how_long;
}

static void on_tx(struct avr_irq_t *irq, uint32_t value, void *param) {
  (void)irq;
  (void)param;
  uint8_t b = (uint8_t)value;
  fwrite(&b, 1, 1, stdout);
}

static void on_xon(struct avr_irq_t *irq, uint32_t value, void *param) {
  (void)irq;
  (void)value;
  (void)param;
  uart_xoff = 0;
}

static void on_xoff(struct avr_irq_t *irq, uint32_t value, void *param) {
  (void)irq;
  (void)value;
  (void)param;
  uart_xoff = 1;
}

static void on_gpior0(avr_t *a, avr_io_addr_t addr, uint8_t v, void *param) {
  (void)param;
  a->data[addr] = v;
  fflush(stdout);
  fprintf(stderr, "DMC_STAMP %u %llu\n", v, (unsigned long long)a->cycle);
}

static void on_gpior1(avr_t *a, avr_io_addr_t addr, uint8_t v, void *param) {
  (void)param;
  a->data[addr] = v;
  exit_code = v;
}

static void poll_stdin(void) {
  if (!stdin_open || in_pos < in_len) return;
  struct pollfd p = {0, POLLIN, 0};
  if (poll(&p, 1, 0) <= 0) return;
  ssize_t n = read(0, in_buf, sizeof in_buf);
  if (n > 0) {
    in_len = (size_t)n;
    in_pos = 0;
  } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
    stdin_open = 0;
  }
}

int main(int argc, char **argv) {
  const char *mcu = "atmega328p";
  unsigned long freq = 16000000UL;
  double limit_s = 600.0;
  long adc0_mv = -1;
  int opt;
  while ((opt = getopt(argc, argv, "m:f:t:a:")) != -1) {
    if (opt == 'm') mcu = optarg;
    else if (opt == 'f') freq = strtoul(optarg, NULL, 10);
    else if (opt == 't') limit_s = atof(optarg);
    else if (opt == 'a') adc0_mv = strtol(optarg, NULL, 10);
    else {
      fprintf(stderr, "usage: %s [-m mcu] [-f hz] [-t seconds] [-a millivolts] firmware.elf\n", argv[0]);
      return 2;
    }
  }
  if (optind >= argc) {
    fprintf(stderr, "usage: %s [-m mcu] [-f hz] [-t seconds] [-a millivolts] firmware.elf\n", argv[0]);
    return 2;
  }
  avr_global_logger_set(quiet_logger);
  elf_firmware_t fw;
  memset(&fw, 0, sizeof fw);
  if (elf_read_firmware(argv[optind], &fw) != 0) {
    fprintf(stderr, "dmc_simavr: cannot read firmware '%s'\n", argv[optind]);
    return 2;
  }
  avr = avr_make_mcu_by_name(mcu);
  if (!avr) {
    fprintf(stderr, "dmc_simavr: unknown MCU '%s'\n", mcu);
    return 2;
  }
  avr_init(avr);
  avr_load_firmware(avr, &fw);
  avr->frequency = (uint32_t)freq;
  avr->sleep = no_sleep;
  if (adc0_mv >= 0) {
    avr->vcc = avr->avcc = avr->aref = 5000;
    avr_raise_irq(avr_io_getirq(avr, AVR_IOCTL_ADC_GETIRQ, ADC_IRQ_ADC0), (uint32_t)adc0_mv);
  }

  uint32_t flags = 0;
  avr_ioctl(avr, AVR_IOCTL_UART_GET_FLAGS('0'), &flags);
  flags &= ~AVR_UART_FLAG_STDIO;
  avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &flags);
  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT), on_tx, NULL);
  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XON), on_xon, NULL);
  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XOFF), on_xoff, NULL);
  avr_irq_t *rx = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT);
  avr_register_io_write(avr, GPIOR0_ADDR, on_gpior0, NULL);
  avr_register_io_write(avr, GPIOR1_ADDR, on_gpior1, NULL);

  const avr_cycle_count_t limit = (avr_cycle_count_t)(limit_s * (double)freq);
  avr_cycle_count_t idle_since = 0;
  unsigned long steps = 0;
  for (;;) {
    int state = avr_run(avr);
    if (state == cpu_Done || state == cpu_Crashed) {
      fflush(stdout);
      fprintf(stderr, "dmc_simavr: firmware %s at cycle %llu\n", state == cpu_Done ? "stopped" : "crashed",
              (unsigned long long)avr->cycle);
      return state == cpu_Done ? 0 : 3;
    }
    if (exit_code >= 0) {
      fflush(stdout);
      return exit_code;
    }
    if ((++steps & 0x3FF) == 0) {
      poll_stdin();
      fflush(stdout);
    }
    const int rx_enabled = (avr->data[UCSR0B_ADDR] >> RXEN0_BIT) & 1;
    if (in_pos < in_len && rx_enabled && !uart_xoff) {
      avr_raise_irq(rx, in_buf[in_pos++]);
      idle_since = avr->cycle;
    }
    if (!stdin_open && in_pos >= in_len && avr->cycle - idle_since > (avr_cycle_count_t)freq * 5) {
      fflush(stdout);
      return 0;  // input exhausted and five simulated seconds without new input: done
    }
    if (avr->cycle > limit) {
      fflush(stdout);
      fprintf(stderr, "dmc_simavr: time limit of %g simulated seconds reached\n", limit_s);
      return 124;
    }
  }
}
