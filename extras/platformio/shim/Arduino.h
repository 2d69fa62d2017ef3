/* The slice of the Arduino API that DeepMicroCompression's firmware uses (setup/loop, Serial,
 * micros/millis), for the targets without an Arduino core: the host (stdin/stdout), the QEMU
 * Cortex-M4 (CMSDK UART) and the QEMU RISC-V RV32 (ns16550 UART). Real boards and the
 * simulated Uno use the real Arduino core. */
#ifndef DMC_SHIM_ARDUINO_H
#define DMC_SHIM_ARDUINO_H

#include <stddef.h>
#include <stdint.h>

void setup();
void loop();

uint32_t micros();
uint32_t millis();

/* Constants in flash are memory-mapped on these targets (as on the ARM Arduino cores), so
 * sketches written for the Uno's PROGMEM compile unchanged. */
#define PROGMEM
#define pgm_read_byte(p) (*(const uint8_t *)(p))

class DmcShimSerial {
 public:
  void begin(unsigned long baud);
  int available();
  int read();
  size_t write(uint8_t b);
  size_t print(const char *s);
  size_t print(char c);
  size_t print(int v);
  size_t print(unsigned int v);
  size_t print(long v);
  size_t print(unsigned long v);
  size_t println(const char *s = "");
  void flush();
};

extern DmcShimSerial Serial;

#endif  // DMC_SHIM_ARDUINO_H
