/* A small machine for system-mode tests of the software CPU, driven through the accelerator
 * interface (emu_accel_ops): guest RAM, fake hooks (port 0xe9 captures output, a write to port
 * 0xf4 ends the run, port 0xf5 raises an NMI, port 0xf6 the vector written, a fake LAPIC that
 * raises a vector on demand, a timer deadline), and a 64-bit environment built in C (GDT, IDT whose
 * handlers record each event, TSS with IST, identity page tables) for tests that start in long
 * mode.
 *
 * Guest code is assembled by the host assembler from inline asm blobs (GUEST_BLOB), copied to
 * guest RAM; it may use only position-independent or absolute references. */
#ifndef TESTS_UNIT_EMU_SYS_HARNESS_H
#define TESTS_UNIT_EMU_SYS_HARNESS_H

#include "accel/accel.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define H_MAX_VCPUS 4

/* Guest-physical layout of the long-mode environment. */
#define H_GDT	   0x1000
#define H_IDT	   0x2000
#define H_TSS	   0x3000
#define H_REC	   0x4000 /* what the handlers record (struct below, as u64 slots) */
#define H_PML4	   0x8000
#define H_PDPT	   0x9000
#define H_PD	   0xa000
#define H_CODE	   0x10000
#define H_STUBS	   0x30000
#define H_STACK	   0x80000
#define H_IST1	   0x90000
#define H_USTACK   0xa0000
#define H_DATA	   0x100000
#define H_RAM_SIZE (8u << 20)

/* Record slots at H_REC (u64 each). */
enum {
	REC_VEC,
	REC_ERR,
	REC_CR2,
	REC_RIP,
	REC_CS,
	REC_RFLAGS,
	REC_RSP,
	REC_SS,
	REC_HRSP,
	REC_COUNT,
	REC_FIXUP, /* where to resume after the next event (0: where it happened) */
	REC_FLAGS, /* RFLAGS inside the handler */
	REC_SCRATCH,
};
#define REC(n) (H_REC + 8 * (n))

/* Selectors of the long-mode GDT. */
#define SEL_CODE64 0x08
#define SEL_DATA   0x10
#define SEL_CODE32 0x18
#define SEL_UDATA  0x23 /* index 4, RPL 3 (SYSRET: STAR[63:48] + 8) */
#define SEL_UCODE  0x2b /* index 5, RPL 3 (SYSRET: STAR[63:48] + 16) */
#define SEL_TSS	   0x30

struct harness {
	const struct accel_ops *ops;
	struct accel_vm *vm;
	struct accel_vcpu *vcpu[H_MAX_VCPUS];
	unsigned nr_vcpus;
	uint8_t *ram;
	size_t ram_size;
	struct guest_clock clock;

	/* per vCPU fake LAPIC */
	struct hvcpu {
		struct harness *h;
		unsigned index;
		atomic_bool attention;
		atomic_int irq; /* vector to deliver, -1 none */
		atomic_bool nmi, init;
		atomic_int sipi; /* -1 none */
		_Atomic uint64_t deadline;
		int timer_vector;
		atomic_int irqs_taken;
		atomic_bool done;
		uint8_t tpr;
	} v[H_MAX_VCPUS];

	char out[8192];
	atomic_size_t out_len;
	uint64_t mmio_last_addr;
	uint8_t mmio_last[8];
	unsigned mmio_count;
	/* a write to port 0xf7 calls this (a "device" acting on the vCPU's thread) */
	void (*on_port_f7)(struct harness *h);
};

/* The machine, `nr_vcpus` vCPUs (vCPU 0 at the reset vector, the others waiting for INIT). */
void h_init(struct harness *h, unsigned nr_vcpus);
void h_fini(struct harness *h);
/* Copies bytes into guest RAM. */
void h_load(struct harness *h, uint64_t gpa, const void *src, size_t len);
uint64_t h_rd64(struct harness *h, uint64_t gpa);
void h_wr64(struct harness *h, uint64_t gpa, uint64_t v);
/* Builds the long-mode environment and puts vCPU `k` at CPL 0 in 64-bit mode at `rip`. */
void h_long_mode(struct harness *h, unsigned k, uint64_t rip);
/* The real-mode state: CS:IP = 0:ip, all segments 0. */
void h_real_mode(struct harness *h, unsigned k, uint16_t ip);
/* Runs vCPU `k` until port 0xf4 is written or an exit other than INTERRUPTED (or
 * `timeout_ms` passes: then VCPU_EXIT_UNKNOWN). */
enum vcpu_exit_reason h_run(struct harness *h, unsigned k, unsigned timeout_ms);
/* The state of vCPU `k`. */
void h_state(struct harness *h, unsigned k, struct vcpu_state *st);
void h_set_state(struct harness *h, unsigned k, const struct vcpu_state *st);
/* IDT entry `vec` of the long-mode environment: a 64-bit gate to `off` (type 0xe interrupt,
 * 0xf trap). */
void h_gate(struct harness *h, unsigned vec, uint64_t off, unsigned dpl, unsigned ist,
	    unsigned type);
#define H_STUB(vec) (H_STUBS + 16 * (vec))
/* Raises vector `v` at the fake LAPIC of vCPU `k` (from any thread). */
void h_raise(struct harness *h, unsigned k, int v);

/* The end of a test program: ends the run (the vCPU stops at its next check, so spin). */
#define GUEST_DONE "out %al, $0xf4\n9999: jmp 9999b\n"

/* A blob of guest code between two labels, assembled by the host assembler. */
#define GUEST_BLOB(name, code)                                                                     \
	extern const uint8_t name##_start[], name##_end[];                                         \
	__asm__(".pushsection .rodata\n" #name "_start:\n" code "\n" #name                         \
		"_end:\n.code64\n.popsection\n")
#define BLOB_LEN(name) ((size_t)(name##_end - name##_start))

#endif
