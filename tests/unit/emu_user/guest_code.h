/* A few x86-64 instruction encoders, enough to write small guest programs that make system
 * calls, and a runner that wraps them in a static ELF and runs it under emu_process. */
#ifndef GUREUM_TESTS_EMU_USER_GUEST_CODE_H
#define GUREUM_TESTS_EMU_USER_GUEST_CODE_H

#include "accel/vcpu_state.h"

#include <stddef.h>
#include <stdint.h>

/* The program's layout: code at CODE_ADDR (R+X, up to 3.75 KiB), a RW data page at DATA_ADDR whose
 * first bytes are the `data` given to guest_run. */
#define GUEST_CODE_ADDR 0x400100ULL /* after the ELF headers, in the text page */
#define GUEST_DATA_ADDR 0x402000ULL

struct guest_code {
	uint8_t bytes[0xf00];
	size_t len;
};

void gc_mov_imm(struct guest_code *c, int reg, uint64_t imm);
void gc_mov_reg(struct guest_code *c, int dst, int src);
/* mov dst32, dword [abs32] */
void gc_load32(struct guest_code *c, int dst, uint32_t addr);
/* mov rdi, fs:[0] */
void gc_load_fs0_rdi(struct guest_code *c);
void gc_shr_imm(struct guest_code *c, int reg, uint8_t count);
/* A syscall with up to six arguments (unused ones are set to 0). */
void gc_syscall(struct guest_code *c, uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2,
		uint64_t a3, uint64_t a4, uint64_t a5);
/* exit_group(rax & 0xff): lets a test observe the last syscall's result as the exit status. */
void gc_exit_with_rax(struct guest_code *c);
/* Raw instruction bytes. */
void gc_raw(struct guest_code *c, const char *bytes, size_t len);
/* test rax, rax; jnz over the next `skip` bytes. */
void gc_jnz_rax(struct guest_code *c, uint8_t skip);

/* Writes the program as an executable static ELF to an unlinked file; returns its fd. */
int guest_program_fd(const struct guest_code *c, const void *data, size_t data_len);
/* Runs the program in a fresh emu_process and returns its exit status (128 + signal on a
 * fault). A guest fork child never returns from here: it exits with its own status. */
int guest_run(const struct guest_code *c, const void *data, size_t data_len);

#endif
