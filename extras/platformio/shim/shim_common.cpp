// Entry point and text helpers shared by the shim targets.
#include "Arduino.h"

DmcShimSerial Serial;

size_t DmcShimSerial::print(const char *s) {
  size_t n = 0;
  while (s[n]) write((uint8_t)s[n++]);
  return n;
}

size_t DmcShimSerial::print(char c) { return write((uint8_t)c); }

// decimal by hand: printf would pull newlib's malloc into the bare-metal M4 build
size_t DmcShimSerial::print(unsigned long v) {
  char buf[24];
  char *p = buf + sizeof buf - 1;
  *p = '\0';
  do {
    *--p = (char)('0' + v % 10u);
    v /= 10u;
  } while (v);
  return print(p);
}

size_t DmcShimSerial::print(long v) {
  if (v >= 0) return print((unsigned long)v);
  return print('-') + print(0ul - (unsigned long)v);
}

size_t DmcShimSerial::print(int v) { return print((long)v); }

size_t DmcShimSerial::print(unsigned int v) { return print((unsigned long)v); }

size_t DmcShimSerial::println(const char *s) {
  const size_t n = print(s);
  write('\r');
  write('\n');
  return n + 2;
}

int main() {
  setup();
  for (;;) loop();
}
