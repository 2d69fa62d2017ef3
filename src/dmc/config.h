/* Build options. Define any of these before including DeepMicroCompression.h (or with -D). */
#ifndef DMC_CONFIG_H
#define DMC_CONFIG_H

/* Index type for activation tensors: 16 bits on AVR (2 KB of SRAM can never hold a larger
 * tensor), 32 bits elsewhere. Generated code checks its tensors fit. */
#ifndef DMC_INDEX_T
#if defined(__AVR__)
#define DMC_INDEX_T uint16_t
#else
#define DMC_INDEX_T uint32_t
#endif
#endif

#endif  // DMC_CONFIG_H
