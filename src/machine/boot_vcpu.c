/* The boot vCPU's starting state: flat segments from a small GDT, and for 64-bit entry the
 * identity page tables long mode cannot run without. Linux's 64-bit boot protocol wants
 * __BOOT_CS = 0x10 and __BOOT_DS = 0x18, hence two null entries first. */
#include "machine/boot.h"

#include "machine/layout.h"

#include <string.h>

#define GDT_CODE_SEL 0x10
#define GDT_DATA_SEL 0x18
#define GDT_TSS_SEL  0x20
#define TSS_LIMIT    0x67 /* the minimal 104-byte TSS */

#define SEG_TYPE_CODE_EXEC_READ	 0xb /* accessed */
#define SEG_TYPE_DATA_READ_WRITE 0x3 /* accessed */
#define SEG_TYPE_TSS_BUSY	 0xb
#define SEG_TYPE_LDT		 0x2

/* Page table entry bits. */
#define PTE_PRESENT	   0x1ULL
#define PTE_WRITE	   0x2ULL
#define PTE_HUGE	   0x80ULL
#define PAGE_TABLE_ENTRIES 512
#define HUGE_PAGE_SIZE	   (2ULL << 20)
#define IDENTITY_MAP_GIB   4

static struct vcpu_segment flat_segment(uint16_t selector, uint8_t type, bool long_code)
{
	return (struct vcpu_segment){
	    .base = 0,
	    .limit = 0xffffffff,
	    .selector = selector,
	    .type = type,
	    .present = 1,
	    .s = 1,
	    .l = long_code,
	    .db = !long_code,
	    .g = 1,
	};
}

/* The descriptor encoding of `seg` (the hidden state the CPU would load from it). */
static uint64_t encode_descriptor(const struct vcpu_segment *seg)
{
	uint32_t limit = seg->g ? seg->limit >> 12 : seg->limit;
	uint64_t d = (limit & 0xffffULL) | ((seg->base & 0xffffffULL) << 16);
	d |= (uint64_t)(seg->type & 0xf) << 40 | (uint64_t)seg->s << 44;
	d |= (uint64_t)(seg->dpl & 3) << 45 | (uint64_t)seg->present << 47;
	d |= (uint64_t)((limit >> 16) & 0xf) << 48 | (uint64_t)seg->avl << 52;
	d |= (uint64_t)seg->l << 53 | (uint64_t)seg->db << 54 | (uint64_t)seg->g << 55;
	d |= ((seg->base >> 24) & 0xffULL) << 56;
	return d;
}

static bool write_gdt(const struct guest_memory *mem, const struct vcpu_state *state,
		      bool long_mode, uint16_t *limit)
{
	/* In long mode a system descriptor (the TSS) takes two slots; its upper half holds
	 * base bits 63:32, zero here. */
	uint64_t gdt[6] = {0,
			   0,
			   encode_descriptor(&state->seg[SREG_CS]),
			   encode_descriptor(&state->seg[SREG_DS]),
			   encode_descriptor(&state->tr),
			   0};
	size_t entries = long_mode ? 6 : 5;
	*limit = (uint16_t)(entries * sizeof(gdt[0]) - 1);
	return guest_memory_write(mem, LAYOUT_BOOT_GDT, gdt, entries * sizeof(gdt[0]));
}

/* PML4[0] -> PDPT, PDPT[0..3] -> four page directories of 2 MiB pages: 0..4 GiB identity. */
static bool write_identity_page_tables(const struct guest_memory *mem)
{
	uint64_t pml4[PAGE_TABLE_ENTRIES] = {LAYOUT_BOOT_PDPT | PTE_PRESENT | PTE_WRITE};
	uint64_t pdpt[PAGE_TABLE_ENTRIES] = {0};
	for (uint64_t i = 0; i < IDENTITY_MAP_GIB; i++)
		pdpt[i] = (LAYOUT_BOOT_PD + i * 0x1000) | PTE_PRESENT | PTE_WRITE;
	if (!guest_memory_write(mem, LAYOUT_BOOT_PML4, pml4, sizeof(pml4)) ||
	    !guest_memory_write(mem, LAYOUT_BOOT_PDPT, pdpt, sizeof(pdpt)))
		return false;
	for (uint64_t i = 0; i < IDENTITY_MAP_GIB; i++) {
		uint64_t pd[PAGE_TABLE_ENTRIES];
		for (uint64_t j = 0; j < PAGE_TABLE_ENTRIES; j++)
			pd[j] = (i * PAGE_TABLE_ENTRIES + j) * HUGE_PAGE_SIZE | PTE_PRESENT |
				PTE_WRITE | PTE_HUGE;
		if (!guest_memory_write(mem, LAYOUT_BOOT_PD + i * 0x1000, pd, sizeof(pd)))
			return false;
	}
	return true;
}

static void set_segments(struct vcpu_state *state, bool long_mode)
{
	for (int i = 0; i < SREG_COUNT; i++)
		state->seg[i] = flat_segment(GDT_DATA_SEL, SEG_TYPE_DATA_READ_WRITE, false);
	state->seg[SREG_CS] = flat_segment(GDT_CODE_SEL, SEG_TYPE_CODE_EXEC_READ, long_mode);
	/* VM entry insists on a present busy TSS in TR and accepts an unusable LDT. */
	state->tr = (struct vcpu_segment){
	    .selector = GDT_TSS_SEL, .limit = TSS_LIMIT, .type = SEG_TYPE_TSS_BUSY, .present = 1};
	state->ldt = (struct vcpu_segment){.type = SEG_TYPE_LDT, .unusable = 1};
}

int boot_setup_vcpu(const struct guest_memory *mem, const struct boot_entry *entry,
		    struct vcpu_state *state)
{
	bool long_mode = entry->mode == BOOT_MODE_LONG64;
	vcpu_state_reset(state);
	set_segments(state, long_mode);
	uint16_t gdt_limit;
	if (!write_gdt(mem, state, long_mode, &gdt_limit))
		return -1;
	state->gdt = (struct vcpu_dtable){.base = LAYOUT_BOOT_GDT, .limit = gdt_limit};
	/* No IDT: interrupts stay off until the kernel installs its own. */
	state->idt = (struct vcpu_dtable){0};
	state->rflags = X86_RFLAGS_FIXED;
	state->rip = entry->rip;
	if (long_mode) {
		if (!write_identity_page_tables(mem))
			return -1;
		state->cr3 = LAYOUT_BOOT_PML4;
		state->cr4 = X86_CR4_PAE;
		state->cr0 = X86_CR0_PE | X86_CR0_PG | X86_CR0_ET | X86_CR0_NE;
		state->efer = X86_EFER_LME | X86_EFER_LMA;
		state->gpr[GPR_RSI] = entry->rsi;
	} else {
		state->cr0 = X86_CR0_PE | X86_CR0_ET;
		state->gpr[GPR_RAX] = entry->eax;
		state->gpr[GPR_RBX] = entry->ebx;
	}
	return 0;
}
