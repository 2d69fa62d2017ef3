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

namespace dmc {
/* Port over the board's Serial and its micros() clock. */
struct ArduinoSerialPort {
  int read() { return Serial.read(); }
  void write(uint8_t b) { Serial.write(b); }
  void flush() { Serial.flush(); }
  uint32_t micros() { return ::micros(); }
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
