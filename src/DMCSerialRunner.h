/* Serial runner for Arduino-style boards: streams inputs from a host (`dmc verify --port`,
 * `pio test`) through a model and answers with outputs and cycle counts.
 *
 *     #include <DeepMicroCompression.h>
 *     #include <DMCSerialRunner.h>
 *     #include "lenet.h"
 *     DMCSerialRunner<LenetModel> runner("lenet");
 *     void setup() { runner.begin(115200); }
 *     void loop() { runner.poll(); }
 */
#ifndef DMC_SERIAL_RUNNER_ARDUINO_H
#define DMC_SERIAL_RUNNER_ARDUINO_H

#include <Arduino.h>

#include "DeepMicroCompression.h"
#include "dmc/serial_runner.h"

#ifndef F_CPU
#define F_CPU 16000000UL
#endif

/* Exact instruction counts (see ArduinoSerialPort below). */
#if defined(DMC_INSTRUCTION_COUNTER)
uint32_t dmc_counter_ticks();
uint32_t dmc_counter_instructions(uint32_t tick_difference);
#endif

namespace dmc {
/* Port over the board's Serial and its micros() clock. A target that can count instructions
 * exactly (the QEMU boards of extras/platformio, run with -icount) defines
 * DMC_INSTRUCTION_COUNTER and the two functions declared above; INFER then reports
 * instructions rather than microseconds times the clock rate. */
struct ArduinoSerialPort {
  int read() { return Serial.read(); }
  void write(uint8_t b) { Serial.write(b); }
  void flush() { Serial.flush(); }
  uint32_t micros() { return ::micros(); }
#if defined(DMC_INSTRUCTION_COUNTER)
  uint32_t ticks() { return dmc_counter_ticks(); }
  uint32_t cycles(uint32_t d) { return dmc_counter_instructions(d); }
#else
  uint32_t ticks() { return ::micros(); }
  uint32_t cycles(uint32_t d) { return d * (F_CPU / 1000000UL); }
#endif
};
}  // namespace dmc

template <class Model>
class DMCSerialRunner {
 public:
  explicit DMCSerialRunner(const char *name) : runner_(port_, name, F_CPU) {}
  void begin(unsigned long baud) {
    Serial.begin(baud);
    runner_.begin();
  }
  void poll() { runner_.poll(); }

 private:
  dmc::ArduinoSerialPort port_;
  dmc::SerialRunner<Model, dmc::ArduinoSerialPort> runner_;
};

#endif  // DMC_SERIAL_RUNNER_ARDUINO_H
