/* libFuzzer target: the system-mode software CPU on arbitrary guest memory and state. The
 * input's first bytes pick the mode (real, 16/32-bit protected, long mode with paging) and the
 * control registers, descriptor-table bases and limits, CR3, RIP and RSP; the rest is guest RAM
 * (code, page tables, descriptor tables, IDT and TSS all come from it). Whatever it holds, the
 * CPU must end each run with an architectural outcome (instructions retired, faults delivered,
 * shutdown) or a clear internal error: never a crash, a sanitizer report or a hang (a budget of
 * instructions bounds each run). */
#include "accel/emu/sys.h"

#include <stdlib.h>
#include <string.h>

#define RAM_SIZE (1u << 20)
#define HEADER	 32

static struct emu_machine *machine;
static struct emu_cpu *cpu;
static uint8_t *ram;
static atomic_bool attention;
static int irq = -1;
static bool nmi;

static void pio(void *opaque, uint16_t port, void *data, unsigned size, bool is_write)
{
	(void)opaque;
	(void)port;
	if (!is_write)
		memset(data, 0xa5, size);
}

static void mmio(void *opaque, uint64_t gpa, void *data, unsigned size, bool is_write)
{
	(void)opaque;
	if (!is_write)
		memset(data, (int)(gpa & 0xff), size);
}

static int acknowledge(void *opaque)
{
	(void)opaque;
	int v = irq;
	irq = -1;
	atomic_store(&attention, nmi);
	return v;
}

static bool take_nmi(void *opaque)
{
	(void)opaque;
	bool r = nmi;
	nmi = false;
	atomic_store(&attention, irq >= 0);
	return r;
}

static void init(void)
{
	static struct guest_clock clock;
	guest_clock_init(&clock, 1000000000ULL);
	ram = aligned_alloc(4096, RAM_SIZE);
	machine = emu_machine_create(emu_cpu_model_find("intel-skylake"), &clock, 1);
	if (!ram || !machine || emu_machine_map(machine, 0, RAM_SIZE, ram, false) < 0)
		abort();
	/* a ROM above RAM, as firmware would be */
	static uint8_t rom[4096] __attribute__((aligned(4096)));
	memset(rom, 0xf4, sizeof(rom));
	if (emu_machine_map(machine, 0xfffff000ULL, sizeof(rom), rom, true) < 0)
		abort();
	struct accel_vcpu_hooks hooks = {.pio = pio,
					 .mmio = mmio,
					 .attention = &attention,
					 .acknowledge_interrupt = acknowledge,
					 .take_nmi = take_nmi};
	cpu = emu_cpu_create_system(machine, 0, &hooks);
	if (!cpu)
		abort();
}

static uint64_t get(const uint8_t *h, unsigned off, unsigned len)
{
	uint64_t v = 0;
	memcpy(&v, h + off, len);
	return v;
}

static void flat(struct vcpu_segment *s, uint16_t sel, uint8_t type, bool l, bool db, unsigned dpl)
{
	*s = (struct vcpu_segment){.selector = sel,
				   .limit = 0xffffffff,
				   .type = type,
				   .s = 1,
				   .dpl = (uint8_t)dpl,
				   .present = 1,
				   .l = l,
				   .db = db,
				   .g = 1};
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!cpu)
		init();
	if (size < HEADER)
		return 0;
	const uint8_t *h = data;
	memset(ram, 0, RAM_SIZE);
	size_t body = size - HEADER < RAM_SIZE ? size - HEADER : RAM_SIZE;
	/* the body at 0 and again at 0x10000 (code there, tables too) */
	memcpy(ram, data + HEADER, body);
	if (body <= RAM_SIZE - 0x10000)
		memcpy(ram + 0x10000, data + HEADER, body);
	emu_machine_written(machine, 0, RAM_SIZE);

	emu_sys_reset(cpu, false);
	struct vcpu_state *st = &cpu->state;
	unsigned mode = h[0] & 3, cpl = (h[0] >> 2) & 3;
	st->rip = get(h, 1, 4);
	st->gpr[GPR_RSP] = get(h, 5, 4);
	st->gdt = (struct vcpu_dtable){.base = get(h, 9, 3), .limit = (uint16_t)get(h, 12, 2)};
	st->idt = (struct vcpu_dtable){.base = get(h, 14, 3), .limit = (uint16_t)get(h, 17, 2)};
	st->cr3 = get(h, 19, 3) & ~0xfffULL;
	uint8_t bits = h[22];
	st->rflags = 2 | ((bits & 1) ? X86_RFLAGS_IF : 0) | ((uint64_t)(h[23] & 3) << 12);
	st->tr = (struct vcpu_segment){.selector = 0x28,
				       .base = get(h, 24, 3),
				       .limit = (uint32_t)get(h, 27, 2),
				       .type = 0xb,
				       .present = 1};
	for (int r = 0; r < SREG_COUNT; r++)
		flat(&st->seg[r], (uint16_t)(0x10 | cpl), 3, false, mode != 1, cpl);
	switch (mode) {
	case 0: /* real mode: the reset state, CS:IP from the header */
		for (int r = 0; r < SREG_COUNT; r++)
			st->seg[r] = (struct vcpu_segment){
			    .limit = 0xffff, .type = r == SREG_CS ? 0xb : 3, .s = 1, .present = 1};
		st->rip &= 0xffff;
		st->gpr[GPR_RSP] &= 0xffff;
		break;
	case 1: /* 16-bit protected mode */
	case 2: /* 32-bit protected mode, paging per the header */
		st->cr0 = X86_CR0_PE | X86_CR0_ET;
		flat(&st->seg[SREG_CS], (uint16_t)(0x08 | cpl), 0xb, false, mode == 2, cpl);
		if (bits & 2) {
			st->cr0 |= X86_CR0_PG | ((bits & 4) ? X86_CR0_WP : 0);
			st->cr4 = ((bits & 8) ? X86_CR4_PAE : 0) | ((bits & 16) ? X86_CR4_PSE : 0);
		}
		break;
	default: /* long mode */
		st->cr0 = X86_CR0_PE | X86_CR0_PG | X86_CR0_ET | ((bits & 4) ? X86_CR0_WP : 0);
		st->cr4 = X86_CR4_PAE | ((bits & 16) ? X86_CR4_PGE : 0) |
			  ((bits & 32) ? X86_CR4_SMEP : 0) | ((bits & 64) ? X86_CR4_SMAP : 0) |
			  (1u << 9) | (1u << 18);
		st->efer =
		    X86_EFER_LME | X86_EFER_LMA | X86_EFER_SCE | ((bits & 128) ? X86_EFER_NXE : 0);
		flat(&st->seg[SREG_CS], (uint16_t)(0x08 | cpl), 0xb, true, false, cpl);
		break;
	}
	emu_sys_state_changed(cpu);
	/* an interrupt or NMI waiting from the start, sometimes */
	irq = (h[30] & 1) ? h[31] : -1;
	nmi = h[30] & 2;
	atomic_store(&attention, irq >= 0 || nmi);
	cpu->sys->run_budget = 20000;
	struct vcpu_exit exit;
	for (int round = 0; round < 4; round++) {
		memset(&exit, 0, sizeof(exit));
		emu_sys_run(cpu, &exit);
		if (exit.reason != VCPU_EXIT_INTERRUPTED)
			break;
	}
	return 0;
}
