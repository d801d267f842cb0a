/* The boot vCPU state: GDT contents, page tables, control registers and segments, as a CPU
 * (or KVM's VM-entry checks) would read them. */
#include "machine/boot.h"
#include "machine/layout.h"
#include "test_boot_util.h"

#include <criterion/criterion.h>
#include <stdlib.h>

TestSuite(boot_vcpu);

struct decoded {
	uint32_t base, limit;
	uint8_t type, s, dpl, present, avl, l, db, g;
};

static struct decoded decode(uint64_t d)
{
	struct decoded r = {
	    .base = (uint32_t)(((d >> 16) & 0xffffff) | ((d >> 56) << 24)),
	    .limit = (uint32_t)((d & 0xffff) | (((d >> 48) & 0xf) << 16)),
	    .type = (d >> 40) & 0xf,
	    .s = (d >> 44) & 1,
	    .dpl = (d >> 45) & 3,
	    .present = (d >> 47) & 1,
	    .avl = (d >> 52) & 1,
	    .l = (d >> 53) & 1,
	    .db = (d >> 54) & 1,
	    .g = (d >> 55) & 1,
	};
	if (r.g)
		r.limit = (r.limit << 12) | 0xfff;
	return r;
}

/* The descriptor in the GDT must describe exactly the hidden state we hand to the CPU. */
static void assert_matches(const struct guest_memory *mem, const struct vcpu_segment *seg)
{
	struct decoded d = decode(tb_get64(tb_at(mem, LAYOUT_BOOT_GDT + seg->selector, 8)));
	cr_assert_eq(d.base, seg->base, "selector 0x%x base", seg->selector);
	cr_assert_eq(d.limit, seg->limit, "selector 0x%x limit", seg->selector);
	cr_assert_eq(d.type, seg->type, "selector 0x%x type", seg->selector);
	cr_assert_eq(d.s, seg->s);
	cr_assert_eq(d.present, seg->present);
	cr_assert_eq(d.l, seg->l);
	cr_assert_eq(d.db, seg->db);
	cr_assert_eq(d.g, seg->g);
}

static struct vcpu_state *setup(struct guest_memory *mem, const struct boot_entry *entry)
{
	struct vcpu_state *state = malloc(sizeof(*state));
	cr_assert_not_null(state);
	tb_guest(mem, TB_RAM_SIZE);
	cr_assert_eq(boot_setup_vcpu(mem, entry, state), 0);
	return state;
}

static void assert_common(const struct guest_memory *mem, const struct vcpu_state *s)
{
	cr_assert_eq(tb_get64(tb_at(mem, LAYOUT_BOOT_GDT, 8)), 0, "null descriptor");
	cr_assert_eq(tb_get64(tb_at(mem, LAYOUT_BOOT_GDT + 8, 8)), 0, "second null descriptor");
	cr_assert_eq(s->gdt.base, LAYOUT_BOOT_GDT);
	cr_assert_geq(s->gdt.limit, 0x27, "GDT covers the TSS descriptor");
	cr_assert_eq(s->seg[SREG_CS].selector, 0x10);
	for (int i = 0; i < SREG_COUNT; i++) {
		if (i == SREG_CS)
			continue;
		cr_assert_eq(s->seg[i].selector, 0x18, "segment %d", i);
		cr_assert_eq(s->seg[i].base, 0);
		cr_assert_eq(s->seg[i].limit, 0xffffffff);
		cr_assert_eq(s->seg[i].type & 0xa, 0x2, "data, writable");
		cr_assert(s->seg[i].present && s->seg[i].s && !s->seg[i].unusable);
	}
	assert_matches(mem, &s->seg[SREG_CS]);
	assert_matches(mem, &s->seg[SREG_DS]);
	assert_matches(mem, &s->tr);
	cr_assert_eq(s->tr.selector, 0x20);
	cr_assert_eq(s->tr.type, 0xb, "busy TSS");
	cr_assert(s->tr.present && !s->tr.s && !s->tr.unusable);
	cr_assert(s->ldt.unusable, "LDT unusable");
	cr_assert_eq(s->rflags, 2);
	cr_assert_eq(s->cr0 & (1ULL << 30 | 1ULL << 29), 0, "caches on (CD/NW clear)");
}

Test(boot_vcpu, long64_entry_has_paging_long_mode_and_identity_map)
{
	struct guest_memory mem;
	struct boot_entry entry = {.mode = BOOT_MODE_LONG64, .rip = 0x1000200, .rsi = 0x7000};
	struct vcpu_state *s = setup(&mem, &entry);
	assert_common(&mem, s);
	cr_assert_eq(s->rip, 0x1000200);
	cr_assert_eq(s->gpr[GPR_RSI], 0x7000);
	uint64_t cr0 = X86_CR0_PE | X86_CR0_PG | X86_CR0_ET | X86_CR0_NE;
	cr_assert_eq(s->cr0 & cr0, cr0);
	cr_assert(s->cr4 & X86_CR4_PAE);
	cr_assert_eq(s->efer & (X86_EFER_LME | X86_EFER_LMA), X86_EFER_LME | X86_EFER_LMA);
	cr_assert_eq(s->cr3, LAYOUT_BOOT_PML4);
	cr_assert(s->seg[SREG_CS].l && !s->seg[SREG_CS].db, "64-bit code segment");
	cr_assert_eq(s->gdt.limit, 0x2f, "16-byte TSS descriptor in long mode");

	/* Walk the tables for a few addresses up to 4 GiB, as the MMU would. */
	uint64_t probes[] = {0, 0x1000200, 0x3fe00000, 0xbfffffff, 0xfee00000, 0xffffffff};
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		uint64_t va = probes[i];
		uint64_t pml4e = tb_get64(tb_at(&mem, s->cr3 + ((va >> 39) & 511) * 8, 8));
		cr_assert_eq(pml4e & 3, 3, "PML4E present+writable");
		uint64_t pdpte =
		    tb_get64(tb_at(&mem, (pml4e & ~0xfffULL) + ((va >> 30) & 511) * 8, 8));
		cr_assert_eq(pdpte & 3, 3);
		cr_assert_eq(pdpte & 0x80, 0, "PDPTE points to a page directory");
		uint64_t pde =
		    tb_get64(tb_at(&mem, (pdpte & ~0xfffULL) + ((va >> 21) & 511) * 8, 8));
		cr_assert_eq(pde & 0x83, 0x83, "2 MiB page present+writable");
		uint64_t pa = (pde & ~0x1fffffULL) | (va & 0x1fffff);
		cr_assert_eq(pa, va, "identity map for 0x%llx", (unsigned long long)va);
	}
	free(s);
	guest_memory_destroy(&mem);
}

Test(boot_vcpu, flat32_entry_is_protected_mode_without_paging)
{
	struct guest_memory mem;
	struct boot_entry entry = {
	    .mode = BOOT_MODE_FLAT32, .rip = 0x100010, .eax = 0x2badb002, .ebx = 0x7000};
	struct vcpu_state *s = setup(&mem, &entry);
	assert_common(&mem, s);
	cr_assert_eq(s->rip, 0x100010);
	cr_assert_eq(s->gpr[GPR_RAX], 0x2badb002);
	cr_assert_eq(s->gpr[GPR_RBX], 0x7000);
	cr_assert(s->cr0 & X86_CR0_PE);
	cr_assert_eq(s->cr0 & X86_CR0_PG, 0);
	cr_assert_eq(s->efer & X86_EFER_LMA, 0);
	cr_assert(s->seg[SREG_CS].db && !s->seg[SREG_CS].l, "32-bit code segment");
	cr_assert_eq(s->seg[SREG_CS].limit, 0xffffffff);
	free(s);
	guest_memory_destroy(&mem);
}

Test(boot_vcpu, tiny_guest_without_room_for_tables_fails_cleanly)
{
	struct guest_memory mem;
	tb_guest(&mem, 0x1000); /* one page: the page tables at 0x9000 do not fit */
	struct vcpu_state *s = malloc(sizeof(*s));
	struct boot_entry entry = {.mode = BOOT_MODE_LONG64};
	cr_assert_eq(boot_setup_vcpu(&mem, &entry, s), -1);
	free(s);
	guest_memory_destroy(&mem);
}
