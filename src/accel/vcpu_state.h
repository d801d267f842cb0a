/* The portable vCPU state: everything that defines an x86-64 vCPU at an instruction boundary.
 * Both accelerators (kvm, and the software emulator) read and write exactly this struct, and
 * snapshots/migration serialise only this struct, so a VM saved on one backend can resume on
 * the other. Layout changes bump VCPU_STATE_VERSION. */
#ifndef GUREUM_ACCEL_VCPU_STATE_H
#define GUREUM_ACCEL_VCPU_STATE_H

#include <stdbool.h>
#include <stdint.h>

#define VCPU_STATE_VERSION 2 /* 2: debug registers */

/* General-purpose registers in x86 encoding order (ModRM reg/rm numbering), so that a decoder
 * indexes gpr[] directly. */
enum vcpu_gpr {
	GPR_RAX,
	GPR_RCX,
	GPR_RDX,
	GPR_RBX,
	GPR_RSP,
	GPR_RBP,
	GPR_RSI,
	GPR_RDI,
	GPR_R8,
	GPR_R9,
	GPR_R10,
	GPR_R11,
	GPR_R12,
	GPR_R13,
	GPR_R14,
	GPR_R15,
	GPR_COUNT
};

/* Segment registers in x86 encoding order (as in the sreg field of MOV Sreg). */
enum vcpu_sreg { SREG_ES, SREG_CS, SREG_SS, SREG_DS, SREG_FS, SREG_GS, SREG_COUNT };

struct vcpu_segment {
	uint64_t base;
	uint32_t limit; /* byte granular, already expanded when g=1 */
	uint16_t selector;
	uint8_t type; /* 4-bit descriptor type */
	uint8_t present, dpl, db, s, l, g, avl;
	uint8_t unusable;
};

struct vcpu_dtable {
	uint64_t base;
	uint16_t limit;
};

struct vcpu_msr {
	uint32_t index;
	uint32_t reserved;
	uint64_t value;
};

#define VCPU_MAX_MSRS	 256
#define VCPU_XSAVE_BYTES 4096 /* legacy region + header + AVX/AVX-512 state (KVM_GET_XSAVE) */
#define VCPU_LAPIC_BYTES 1024 /* the xAPIC register page as KVM_GET_LAPIC presents it */

/* Events pending delivery or in flight (mirrors what hardware keeps outside the registers). */
struct vcpu_events {
	struct {
		bool injected, pending, has_error_code;
		uint8_t vector;
		uint32_t error_code;
		bool has_payload;
		uint64_t payload;
	} exception;
	struct {
		bool injected, soft;
		uint8_t vector;
		uint8_t shadow; /* STI / MOV SS interrupt shadow */
	} interrupt;
	struct {
		bool injected, pending, masked;
	} nmi;
	uint32_t sipi_vector;
	struct {
		bool smm, pending, smm_inside_nmi, latched_init;
	} smi;
};

enum vcpu_mp_state {
	VCPU_MP_RUNNABLE,
	VCPU_MP_UNINITIALIZED, /* application processor waiting for INIT */
	VCPU_MP_INIT_RECEIVED, /* waiting for SIPI */
	VCPU_MP_HALTED,
};

struct vcpu_state {
	uint32_t version;
	uint64_t gpr[GPR_COUNT];
	uint64_t rip, rflags;

	struct vcpu_segment seg[SREG_COUNT];
	struct vcpu_segment tr, ldt;
	struct vcpu_dtable gdt, idt;
	uint64_t cr0, cr2, cr3, cr4, cr8;
	uint64_t efer, apic_base;
	/* Debug registers: the breakpoint addresses DR0-3, the status DR6 and the control DR7
	 * (DR4/DR5 are aliases of DR6/DR7). */
	uint64_t dr[4], dr6, dr7;

	uint32_t nr_msrs;
	struct vcpu_msr msrs[VCPU_MAX_MSRS];

	uint64_t xcr0;
	uint8_t xsave[VCPU_XSAVE_BYTES] __attribute__((aligned(64)));

	bool has_lapic;
	uint8_t lapic[VCPU_LAPIC_BYTES];

	struct vcpu_events events;
	enum vcpu_mp_state mp_state;
};

/* Well-known architectural bits the machine and loaders need. */
#define X86_CR0_PE	 (1ULL << 0)
#define X86_CR0_MP	 (1ULL << 1)
#define X86_CR0_ET	 (1ULL << 4)
#define X86_CR0_NE	 (1ULL << 5)
#define X86_CR0_WP	 (1ULL << 16)
#define X86_CR0_PG	 (1ULL << 31)
#define X86_CR4_PAE	 (1ULL << 5)
#define X86_EFER_SCE	 (1ULL << 0)
#define X86_EFER_LME	 (1ULL << 8)
#define X86_EFER_LMA	 (1ULL << 10)
#define X86_EFER_NXE	 (1ULL << 11)
#define X86_RFLAGS_FIXED (1ULL << 1)
#define X86_RFLAGS_IF	 (1ULL << 9)
#define X86_RFLAGS_RF	 (1ULL << 16)
#define X86_DR6_RESET	 0xffff0ff0ULL /* DR6 and DR7 after power-on: the reserved-1 bits */
#define X86_DR7_RESET	 0x400ULL

/* Architectural reset state of a vCPU (real mode, CS:IP = f000:fff0), as after power-on. */
void vcpu_state_reset(struct vcpu_state *state);

/* Value of MSR `index` in the state's MSR list, or `fallback` when it is absent. */
uint64_t vcpu_state_get_msr(const struct vcpu_state *state, uint32_t index, uint64_t fallback);
/* Sets or appends MSR `index`; false when the list is full. */
bool vcpu_state_set_msr(struct vcpu_state *state, uint32_t index, uint64_t value);

#endif
