/*
 * SineLedPwm: a sensor loop around a model. Read a sensor, run predict(), act, and time it.
 * A potentiometer on A0 sets the phase x in [0, 2 pi]; the sine model (sine.dmc, 8-bit,
 * integer-only) predicts y = sin(x); the LED on pin 9 glows with PWM duty (y + 1) / 2, and
 * every line on the serial port (115200) shows x, y, the duty and how long predict() took.
 *
 * Wiring: potentiometer ends to 5V and GND, its wiper to A0; LED + 220 ohm resistor from pin 9
 * (a PWM pin) to GND. Any analog sensor on A0 works the same way.
 *
 * sine.h / sine.cpp are generated from sine.dmc (extras/scripts/regenerate_examples.py); with
 * PlatformIO, `custom_dmc_model` / `custom_dmc_name = sine` replace them with your own model.
 */
#include <DeepMicroCompression.h>
#include "sine.h"

const uint8_t kSensorPin = A0;
const uint8_t kLedPin = 9;

void setup() {
  Serial.begin(115200);
  pinMode(kLedPin, OUTPUT);
}

void loop() {
  const int raw = analogRead(kSensorPin);                  // 0..1023
  const float x = raw * (2.0f * 3.14159265f / 1023.0f);
  sine.set_input_float(0, x);                              // quantized with the model's input scale

  const uint32_t t0 = micros();
  sine.predict();                                          // integer-only inference
  const uint32_t us = micros() - t0;

  const float y = sine.output_float(0);
  const int duty = constrain((int)((y + 1.0f) * 127.5f + 0.5f), 0, 255);
  analogWrite(kLedPin, duty);

  Serial.print(F("x="));
  Serial.print(x, 3);
  Serial.print(F(" y="));
  Serial.print(y, 3);
  Serial.print(F(" duty="));
  Serial.print(duty);
  Serial.print(F(" predict_us="));
  Serial.println(us);
  delay(100);
}
