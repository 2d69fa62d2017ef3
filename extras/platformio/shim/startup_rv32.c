/* Reset code for the QEMU virt (RV32) target: stack, data, bss, C++ constructors, main. */
#include <stdint.h>

extern uint32_t __data_load, __data_start, __data_end, __bss_start, __bss_end;
extern void (*__preinit_array_start[])(void), (*__preinit_array_end[])(void);
extern void (*__init_array_start[])(void), (*__init_array_end[])(void);
extern int main(void);

void reset_handler(void) {
  uint32_t *src = &__data_load, *dst = &__data_start;
  while (dst < &__data_end) *dst++ = *src++;
  for (dst = &__bss_start; dst < &__bss_end;) *dst++ = 0;
  for (void (**f)(void) = __preinit_array_start; f < __preinit_array_end; ++f) (*f)();
  for (void (**f)(void) = __init_array_start; f < __init_array_end; ++f) (*f)(); /* C++ constructors */
  main();
  for (;;) {
  }
}

/* The first instruction at 0x80000000: a stack, then C. */
__attribute__((naked, section(".text.start"))) void _start(void) {
  __asm__ volatile("la sp, __stack_top\n j reset_handler");
}

/* picolibc hook that the C++ runtime may reference; there is no OS underneath. */
void _exit(int code) {
  (void)code;
  for (;;) {
  }
}
