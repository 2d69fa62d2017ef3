/*
 * DeepMicroCompression: integer-only neural network inference for microcontrollers.
 *
 * Include this header, then the header that `dmc export` (or the PlatformIO build hook)
 * generated for your model:
 *
 *     #include <DeepMicroCompression.h>
 *     #include "lenet.h"
 *     ...
 *     for (i = 0; i < LENET_INPUT_SIZE; ++i) lenet.set_input(i, pixel[i]);
 *     lenet.predict();
 *     uint8_t label = lenet.argmax();
 *
 * No malloc, no exceptions, no RTTI, no float (except in the optional float helpers, which
 * link only when called). Weights live in flash; activations in one static arena.
 */
#ifndef DEEP_MICRO_COMPRESSION_H
#define DEEP_MICRO_COMPRESSION_H

#define DMC_VERSION_MAJOR 0
#define DMC_VERSION_MINOR 1
#define DMC_VERSION_PATCH 0

#include "dmc/config.h"
#include "dmc/platform.h"
#include "dmc/packing.h"
#include "dmc/requant.h"
#include "dmc/kernels/dot.h"
#include "dmc/kernels/conv2d.h"
#include "dmc/kernels/depthwise_conv2d.h"
#include "dmc/kernels/linear.h"
#include "dmc/kernels/sparse_dot.h"
#include "dmc/kernels/sparse_linear.h"
#include "dmc/kernels/sparse_conv2d.h"
#include "dmc/kernels/pool2d.h"
#include "dmc/kernels/elementwise.h"
#include "dmc/kernels/grouped_conv2d.h"
#include "dmc/kernels/channel_shift.h"
#include "dmc/kernels/hard_activation.h"
#include "dmc/kernels/channel_mul.h"
#include "dmc/model.h"

#endif  // DEEP_MICRO_COMPRESSION_H
