// Entry point and text helpers shared by the shim targets.
#include "Arduino.h"

DmcShimSerial Serial;

size_t DmcShimSerial::print(const char *s) {
  size_t n = 0;
  while (s[n]) write((uint8_t)s[n++]);
  return n;
}

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
