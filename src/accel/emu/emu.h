/* The software x86 CPU: a decoder and an interpreter over the portable vcpu_state.
 *
 * The architectural state lives in the struct vcpu_state that emu_cpu_state() returns: gpr[] in
 * encoding order, rip, rflags, seg[] (FS/GS bases are seg[SREG_FS/GS].base), xsave (the legacy
 * FXSAVE region holds x87, MXCSR and XMM0-15), efer/cr0 (they select the CPU mode). Between two
 * emu_run() calls the caller may read and change that state freely; emu_run() reads it on entry
 * and writes it back before it returns. Emulator-private caches (lazy flags, decoded blocks, the
 * soft TLB) are never visible.
 *
 * Guest memory is reached through a soft TLB of host pointers, filled by a callback. User mode
 * maps guest-virtual pages 1:1 onto a host region; system mode walks page tables. */
#ifndef GUREUM_ACCEL_EMU_EMU_H
#define GUREUM_ACCEL_EMU_EMU_H

#include "accel/emu/cpu_model.h"
#include "accel/vcpu_state.h"

#include <stdbool.h>
#include <stdint.h>

#define EMU_PAGE_SIZE 4096ULL
#define EMU_PAGE_MASK (~(EMU_PAGE_SIZE - 1))

enum emu_access {
	EMU_ACCESS_READ = 1,
	EMU_ACCESS_WRITE = 2,
	EMU_ACCESS_EXEC = 4,
};

struct emu_memory {
	/* Host address of the 4 KiB guest page at `page` (page aligned) for `access`, or false when
	 * the page is unmapped or does not permit that access (the CPU then raises #PF with
	 * CR2 = the faulting address). The host page must stay valid until the caller invalidates
	 * it with emu_invalidate() or emu_flush(). */
	bool (*translate)(void *opaque, uint64_t page, enum emu_access access, uint8_t **host);
	void *opaque;
};

enum emu_exit_reason {
	EMU_EXIT_BUDGET,    /* executed `budget` instructions */
	EMU_EXIT_SYSCALL,   /* SYSCALL: rip is after it, rcx = that rip, r11 = rflags */
	EMU_EXIT_EXCEPTION, /* a fault (rip at the instruction) or a trap (rip after it) */
	EMU_EXIT_HLT,	    /* HLT: rip after it */
	EMU_EXIT_INTERNAL,  /* system mode: something this CPU does not implement (sys.h) */
};

/* Exception vectors the interpreter raises. */
enum emu_vector {
	EMU_VEC_DE = 0,
	EMU_VEC_DB = 1,
	EMU_VEC_BP = 3,
	EMU_VEC_OF = 4,
	EMU_VEC_BR = 5,
	EMU_VEC_NMI = 2,
	EMU_VEC_DF = 8,
	EMU_VEC_TS = 10,
	EMU_VEC_NP = 11,
	EMU_VEC_SS = 12,
	EMU_VEC_UD = 6,
	EMU_VEC_NM = 7,
	EMU_VEC_GP = 13,
	EMU_VEC_PF = 14,
	EMU_VEC_MF = 16,
	EMU_VEC_AC = 17,
	EMU_VEC_XM = 19,
};

/* Bits of the #PF error code. */
#define EMU_PF_PRESENT (1u << 0)
#define EMU_PF_WRITE   (1u << 1)
#define EMU_PF_USER    (1u << 2)
#define EMU_PF_FETCH   (1u << 4)

struct emu_exit {
	enum emu_exit_reason reason;
	uint64_t executed; /* instructions completed in this emu_run() call */
	/* EMU_EXIT_EXCEPTION only: */
	uint8_t vector;
	bool has_error_code;
	bool software; /* INT n / INT3 / INTO: rip is after the instruction */
	uint32_t error_code;
	uint64_t fault_address; /* #PF: the linear address (also stored in state cr2) */
	/* RFLAGS as the CPU pushes it when it delivers the exception (and Linux copies it into a
	 * signal frame): the state's RFLAGS, with RF (resume flag, bit 16) set for a fault (rip
	 * at the instruction, which will run again) and clear for a trap (INT3, INT n). The
	 * state itself never holds RF: it only suppresses instruction breakpoints, which the
	 * emulator does not have, and an instruction that completes clears it. */
	uint64_t rflags;
	uint8_t insn_len; /* software interrupts: the INT's length (system mode rewinds to it when
			   * its delivery faults) */
};

struct emu_cpu;

/* A CPU of `model` (cpu_model.h; NULL: emu_cpu_model_default()) in 64-bit user mode (CS.L,
 * EFER.LMA, CPL 3, flat segments, MXCSR/FCW at reset values). `memory` is copied. NULL when out
 * of memory. */
struct emu_cpu *emu_cpu_create(const struct emu_memory *memory, const struct emu_cpu_model *model);
void emu_cpu_destroy(struct emu_cpu *cpu);

/* The model the CPU was created with: what its CPUID reports and whose vendor behaviours it
 * follows. */
const struct emu_cpu_model *emu_cpu_get_model(const struct emu_cpu *cpu);

/* The architectural register file; valid for the CPU's lifetime. */
struct vcpu_state *emu_cpu_state(struct emu_cpu *cpu);

/* The first 512 bytes of the state's XSAVE area (x87, MXCSR, XMM0-15) as the model's XSAVE64
 * stores them: what Linux puts in a signal frame, what a guest's own FXSAVE64 would write. It
 * differs from state->xsave only in the x87 pointers (FOP, FIP, FDP), which the state holds as
 * the FPU does and the model may store as zero (AMD, without an x87 exception pending). */
void emu_cpu_save_fxsave(const struct emu_cpu *cpu, uint8_t out[512]);
/* Loads such an image as XRSTOR64 would (what Linux's sigreturn does with a signal frame's):
 * MXCSR bits the CPU does not have are dropped, the x87 control, status and tag words come out
 * as the hardware keeps them. */
void emu_cpu_load_fxsave(struct emu_cpu *cpu, const uint8_t in[512]);

/* Runs until an exit or until `budget` instructions have completed. */
enum emu_exit_reason emu_run(struct emu_cpu *cpu, uint64_t budget, struct emu_exit *exit);

/* The mapping or contents of guest range [addr, addr+len) changed behind the CPU's back
 * (munmap, mprotect, mmap over it, a write by the host to code): drops TLB entries and
 * decoded code for the pages it touches. Guest writes through the CPU need no call. */
void emu_invalidate(struct emu_cpu *cpu, uint64_t addr, uint64_t len);
/* Drops every TLB entry and all decoded code. */
void emu_flush(struct emu_cpu *cpu);

#endif
