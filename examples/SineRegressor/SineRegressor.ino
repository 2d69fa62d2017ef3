/*
 * SineRegressor: the microcontroller "hello world" of machine learning. A 1-16-16-1 network
 * approximates y = sin(x) with 8-bit weights and integer-only inference; the sketch sweeps x
 * over [0, 2 pi] and prints x, the model's y and sin(x) (open the Serial Plotter at 115200).
 *
 * sine.h / sine.cpp are generated from sine.dmc (extras/scripts/regenerate_examples.py; train_sine.py
 * retrains sine.dmc). With PlatformIO, `custom_dmc_model` / `custom_dmc_name = sine` replace them
 * with your own model (this folder's platformio.ini does so with sine.dmc itself).
 */
#include <DeepMicroCompression.h>
#include "sine.h"

void setup() { Serial.begin(115200); }

void loop() {
  for (int step = 0; step <= 64; ++step) {
    const float x = step * (2.0f * 3.14159265f / 64);
    sine.set_input_float(0, x);  // quantized with the model's input scale
    sine.predict();              // integer-only
    Serial.print(x, 3);
    Serial.print(' ');
    Serial.print(sine.output_float(0), 3);
    Serial.print(' ');
    Serial.println(sin(x), 3);
  }
  delay(1000);
}
