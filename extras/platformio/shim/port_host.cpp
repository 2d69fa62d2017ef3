// Host target: Serial is stdin/stdout (binary), the clock is CLOCK_MONOTONIC. The program
// ends when stdin is closed, so a host that has sent everything just closes the pipe.
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "Arduino.h"

static unsigned char rx_buf[4096];
static ssize_t rx_len = 0, rx_pos = 0;

static uint64_t now_us() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint32_t micros() { return (uint32_t)now_us(); }
uint32_t millis() { return (uint32_t)(now_us() / 1000u); }

void DmcShimSerial::begin(unsigned long) { setvbuf(stdout, NULL, _IOFBF, 1 << 16); }

int DmcShimSerial::available() {
  if (rx_pos < rx_len) return (int)(rx_len - rx_pos);
  struct pollfd p = {0, POLLIN, 0};
  if (poll(&p, 1, 1) <= 0) return 0;
  rx_len = ::read(0, rx_buf, sizeof rx_buf);
  rx_pos = 0;
  if (rx_len <= 0) {  // stdin closed: the host is done with us
    fflush(stdout);
    exit(0);
  }
  return (int)rx_len;
}

int DmcShimSerial::read() { return available() ? rx_buf[rx_pos++] : -1; }

size_t DmcShimSerial::write(uint8_t b) { return fputc(b, stdout) == EOF ? 0 : 1; }

void DmcShimSerial::flush() { fflush(stdout); }
