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

/* Cortex-M DSP-extension kernels (SMLAD on 16-bit lane pairs; kernels/arm/) for conv2d and
 * linear where the compiler targets the extension (__ARM_FEATURE_DSP: M4, M7, M33 ...).
 * Define DMC_NO_ARM_DSP to build the portable kernels instead. */
#if defined(__ARM_FEATURE_DSP) && !defined(DMC_NO_ARM_DSP)
#define DMC_ARM_DSP 1
#else
#define DMC_ARM_DSP 0
#endif

#endif  // DMC_CONFIG_H
