// On-device parity test firmware: the library's serial runner around the model that the build
// hook generated from custom_dmc_model. test/test_custom_runner.py streams the test set.
#include <Arduino.h>
#include <DeepMicroCompression.h>
#include <DMCSerialRunner.h>

#include "lenet.h"

static DMCSerialRunner<LenetModel> runner("lenet");

void setup() { runner.begin(115200); }

void loop() { runner.poll(); }
