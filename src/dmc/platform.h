/* Flash access: the one place that knows how weights and constants are read.
 * On AVR, constants live in program memory (PROGMEM) and are read with pgm_read_*;
 * elsewhere flash is memory-mapped and constants are plain `const` data. */
#ifndef DMC_PLATFORM_H
#define DMC_PLATFORM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config.h"

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

/* The kernels are compiled at -O2 even in -Os builds (Arduino's default): on AVR that halves
 * their cycles for a few hundred bytes of flash. Every runtime header wraps its code in
 * DMC_OPTIMIZE_BEGIN / DMC_OPTIMIZE_END; define DMC_NO_OPTIMIZE_PRAGMA to keep -Os. */
#if defined(__GNUC__) && !defined(__clang__) && !defined(DMC_NO_OPTIMIZE_PRAGMA)
#define DMC_OPTIMIZE_BEGIN _Pragma("GCC push_options") _Pragma("GCC optimize(\"O2\")")
#define DMC_OPTIMIZE_END _Pragma("GCC pop_options")
#else
#define DMC_OPTIMIZE_BEGIN
#define DMC_OPTIMIZE_END
#endif

/* Hot helpers must be inlined into the kernels' inner loops; -Os would otherwise call them. */
#ifndef DMC_INLINE
#if defined(__GNUC__)
#define DMC_INLINE inline __attribute__((always_inline))
#else
#define DMC_INLINE inline
#endif
#endif

namespace dmc {
typedef DMC_INDEX_T index_t;
}  // namespace dmc

#endif  // DMC_PLATFORM_H
