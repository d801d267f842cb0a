/* CPUID of the emulated CPU, derived from its model (cpu_model.h). */
#ifndef GUREUM_ACCEL_EMU_CPUID_H
#define GUREUM_ACCEL_EMU_CPUID_H

#include "accel/emu/cpu_model.h"

#include <stdint.h>

/* EAX EBX ECX EDX of model `m` for leaf `leaf`, subleaf `subleaf`. */
void emu_cpuid(const struct emu_cpu_model *m, uint32_t leaf, uint32_t subleaf, uint32_t out[4]);

#endif
