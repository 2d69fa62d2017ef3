/* Flash access: the one place that knows how weights and constants are read.
 * On AVR, constants live in program memory (PROGMEM) and are read with pgm_read_*;
 * elsewhere flash is memory-mapped and constants are plain `const` data. */
#ifndef DMC_PLATFORM_H
#define DMC_PLATFORM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__AVR__)
#include <avr/pgmspace.h>
#define DMC_FLASH PROGMEM
#define DMC_READ_U8(p) pgm_read_byte(p)
#define DMC_READ_I16(p) ((int16_t)pgm_read_word(p))
#define DMC_READ_I32(p) ((int32_t)pgm_read_dword(p))
#define DMC_FLASH_COPY(dst, src, n) memcpy_P((dst), (src), (n))
#else
#define DMC_FLASH
#define DMC_READ_U8(p) (*(const uint8_t *)(p))
#define DMC_READ_I16(p) (*(const int16_t *)(p))
#define DMC_READ_I32(p) (*(const int32_t *)(p))
#define DMC_FLASH_COPY(dst, src, n) memcpy((dst), (src), (n))
#endif

namespace dmc {
typedef DMC_INDEX_T index_t;
}  // namespace dmc

#endif  // DMC_PLATFORM_H
