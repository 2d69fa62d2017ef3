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

/* Per-step markers for `dmc profile`: generated predict() functions call DMC_PROFILE_STEP(k)
 * after step k. They cost nothing unless DMC_PROFILE is defined; then, on AVR, the step number
 * (with bit 7 set, so it never reads as the serial runner's 1 / 2 stamps) is written to GPIOR0,
 * which the simavr harness stamps with the exact cycle. A board port that defines DMC_PORT_STAMPS
 * provides dmc_port_stamp(value) instead; another target can define DMC_PROFILE_HOOK(k). */
#if defined(DMC_PROFILE) && defined(DMC_PROFILE_HOOK)
#define DMC_PROFILE_STEP(k) DMC_PROFILE_HOOK(k)
#elif defined(DMC_PROFILE) && defined(DMC_PORT_STAMPS)
/* A board port that records stamps itself (the QEMU Cortex-M4 reads its instruction counter
 * and reports the stamps after the inference, see extras/platformio/shim/port_mps2.cpp). */
void dmc_port_stamp(uint8_t value);
#define DMC_PROFILE_STEP(k) dmc_port_stamp((uint8_t)(0x80u | ((k) & 0x7Fu)))
#elif defined(DMC_PROFILE) && defined(__AVR__)
#include <avr/io.h>
#define DMC_PROFILE_STEP(k) (GPIOR0 = (uint8_t)(0x80u | ((k) & 0x7Fu)))
#else
#define DMC_PROFILE_STEP(k) ((void)0)
#endif

namespace dmc {
typedef DMC_INDEX_T index_t;
}  // namespace dmc

#endif  // DMC_PLATFORM_H
