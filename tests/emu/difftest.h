/* Differential testing of the emulator against the host CPU: shared types. */
#ifndef GUREUM_TESTS_EMU_DIFFTEST_H
#define GUREUM_TESTS_EMU_DIFFTEST_H

#include "accel/emu/cpu_model.h"

#include <stdbool.h>
#include <stdint.h>

/* The CPU model the emulator runs, and the generator and the flag rules decode with. */
extern const struct emu_cpu_model *dt_model;

/* The sandbox: one code page (read+exec) and two data pages (read+write), with nothing mapped
 * right around them. */
#define DT_CODE	      0x100000000ULL
#define DT_DATA	      0x100010000ULL
#define DT_DATA_BYTES 8192
#define DT_PAGE	      4096

struct dt_regs {
	uint64_t gpr[16]; /* encoding order */
	uint64_t rip, rflags;
	uint8_t xmm[16][16];
	uint32_t mxcsr;
	/* The x87/MMX head of the FXSAVE image (64-bit layout); bytes 24-31 (MXCSR) unused. */
	uint8_t x87[160];
};

/* Copies the x87 head between FXSAVE images, leaving MXCSR alone. */
void dt_copy_x87(uint8_t *dst, const uint8_t *src);

struct dt_case {
	struct dt_regs regs;
	uint8_t code[64]; /* one instruction, or a sequence (--seq), then int3 */
	unsigned code_len;
	uint8_t data[DT_DATA_BYTES];
};

/* How a run ended: an exception vector (3 = the int3 after the instruction or one reached by
 * a branch), or a timeout. */
struct dt_outcome {
	struct dt_regs regs;
	int vector; /* -1: timeout, -2: native sandbox lost (skip) */
	uint32_t error_code;
	uint64_t fault_address;
	uint8_t data[DT_DATA_BYTES];
};

/* Native side: a forked child that runs cases on the host CPU. */
bool dt_native_start(void);
bool dt_native_run(const struct dt_case *c, struct dt_outcome *out);
void dt_native_stop(void);

/* Emulator side. */
bool dt_emu_init(void);
void dt_emu_run(const struct dt_case *c, struct dt_outcome *out);

/* Generator: a random instruction and state. `key` receives a coverage key (map << 8 | op). */
void dt_generate(uint64_t *rng, struct dt_case *c, unsigned *key);
uint64_t dt_rand(uint64_t *rng);

#endif
