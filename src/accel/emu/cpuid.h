/* The CPUID model of the emulated CPU. */
#ifndef GUREUM_ACCEL_EMU_CPUID_H
#define GUREUM_ACCEL_EMU_CPUID_H

#include <stdint.h>

/* EAX EBX ECX EDX for leaf `leaf`, subleaf `subleaf`. */
void emu_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4]);

#endif
