/* Helpers shared by generated models: reading outputs and (optionally) quantizing float input.
 * The float helpers are inline and link float routines only if a sketch calls them. */
#ifndef DMC_MODEL_H
#define DMC_MODEL_H

#include <math.h>

#include "packing.h"

namespace dmc {

/* Index of the largest code (the first one on ties), e.g. the predicted class. */
inline index_t argmax(const uint8_t *codes, index_t size, uint8_t bits) {
  index_t best = 0;
  uint8_t best_v = get_packed_value(codes, 0, bits);
  for (index_t i = 1; i < size; ++i) {
    const uint8_t v = get_packed_value(codes, i, bits);
    if (v > best_v) {
      best_v = v;
      best = i;
    }
  }
  return best;
}

/* clamp(rint(x / scale) + zero_point, 0, qmax) in float32 with round half to even: exactly
 * what IntModel.quantize_input computes on the host. */
inline uint8_t quantize_float(float x, float scale, uint8_t zero_point, uint8_t qmax) {
  const float r = x / scale;
  const float f = floorf(r);
  const float frac = r - f;
  long q = (long)f;
  if (frac > 0.5f || (frac == 0.5f && (q & 1))) ++q;
  q += zero_point;
  return (uint8_t)(q < 0 ? 0 : q > qmax ? qmax : q);
}

inline float dequantize(uint8_t code, float scale, uint8_t zero_point) {
  return ((int16_t)code - zero_point) * scale;
}

}  // namespace dmc

#endif  // DMC_MODEL_H
