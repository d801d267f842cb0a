/* System mode: paging (SDM Vol. 3 ch. 4). Page walks with 4 KiB, 2 MiB and 1 GiB pages,
 * 32-bit paging with PSE, PAE; every #PF error-code bit and CR2 (4.7); A and D bits (4.8);
 * NX, WP, SMEP, SMAP with EFLAGS.AC (4.6); invalidation by INVLPG, CR3 writes, PCID and
 * INVPCID, CR4 writes (4.10.4): each of those tests reads through a translation that was
 * changed behind the TLB, so a stale entry makes it fail. */
#include "sys_harness.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static struct harness h;
static uint64_t next_table;

static void setup(void)
{
	h_init(&h, 1);
	next_table = 0x200000;
}

static void teardown(void)
{
	h_fini(&h);
}

TestSuite(sys_paging, .init = setup, .fini = teardown, .timeout = 30);

#define P  1ULL
#define W  2ULL
#define U  4ULL
#define A  0x20ULL
#define D  0x40ULL
#define PS 0x80ULL
#define G  0x100ULL
#define NX (1ULL << 63)

static uint64_t table(void)
{
	uint64_t t = next_table;
	next_table += 0x1000;
	memset(h.ram + t, 0, 0x1000);
	return t;
}

/* The PTE slot for `va` in the 4-level tables at H_PML4 (tables made as needed, all U|W). */
static uint64_t pte_slot(uint64_t va)
{
	uint64_t t = H_PML4;
	for (int level = 3; level > 0; level--) {
		uint64_t slot = t + ((va >> (12 + 9 * level)) & 0x1ff) * 8;
		uint64_t e = h_rd64(&h, slot);
		if (!(e & P)) {
			e = table() | P | W | U;
			h_wr64(&h, slot, e);
		}
		t = e & 0xffffffffff000ULL;
	}
	return t + ((va >> 12) & 0x1ff) * 8;
}

static void map4k(uint64_t va, uint64_t pa, uint64_t flags)
{
	h_wr64(&h, pte_slot(va), pa | flags);
}

#define VA 0x8000000000ULL /* PML4 slot 1 */

static struct vcpu_state st;

static void run_code(const uint8_t *start, size_t len)
{
	h_load(&h, H_CODE, start, len);
	enum vcpu_exit_reason r = h_run(&h, 0, 10000);
	h_state(&h, 0, &st);
	cr_assert_eq(r, VCPU_EXIT_IO, "the guest did not finish: exit %d at rip %#llx", r,
		     (unsigned long long)st.rip);
	h_state(&h, 0, &st);
}

/* Each probe: set the fixup, touch, record (vector, error code, CR2) into r8..r15 pairs. */
GUEST_BLOB(pf_codes, ".code64\n"
		     "mov $0x8000000000, %rbx\n"
		     /* read of a not-present page: err 0 */
		     "lea 1f(%rip), %rax\n"
		     "mov %rax, 0x4050\n"
		     "mov (%rbx), %rax\n"
		     "1: mov 0x4008, %r8\n"
		     "mov 0x4010, %r9\n"
		     /* write to a read-only page: P|W */
		     "lea 1f(%rip), %rax\n"
		     "mov %rax, 0x4050\n"
		     "movq $1, 0x1008(%rbx)\n"
		     "1: mov 0x4008, %r10\n"
		     "mov 0x4010, %r11\n"
		     /* fetch from an NX page: P|I/D */
		     "lea 1f(%rip), %rax\n"
		     "mov %rax, 0x4050\n"
		     "lea 0x2000(%rbx), %rax\n"
		     "jmp *%rax\n"
		     "1: mov 0x4008, %r12\n"
		     "mov 0x4010, %r13\n"
		     /* a reserved bit: P|RSVD */
		     "lea 1f(%rip), %rax\n"
		     "mov %rax, 0x4050\n"
		     "mov 0x3010(%rbx), %rax\n"
		     "1: mov 0x4008, %r14\n"
		     "mov 0x4010, %r15\n"
		     "mov 0x4048, %rcx\n" GUEST_DONE);

Test(sys_paging, page_fault_error_codes_and_cr2)
{
	map4k(VA + 0x1000, H_DATA, P);
	map4k(VA + 0x2000, H_DATA, P | W | NX);
	map4k(VA + 0x3000, H_DATA | (1ULL << 45), P | W);
	h_long_mode(&h, 0, H_CODE);
	run_code(pf_codes_start, BLOB_LEN(pf_codes));
	cr_assert_eq(st.gpr[GPR_RCX], 4, "four #PF");
	cr_assert_eq(st.gpr[GPR_R8], 0, "not present read: 0");
	cr_assert_eq(st.gpr[GPR_R9], VA);
	cr_assert_eq(st.gpr[GPR_R10], 3, "write to read-only: P|W");
	cr_assert_eq(st.gpr[GPR_R11], VA + 0x1008);
	cr_assert_eq(st.gpr[GPR_R12], 0x11, "fetch from NX: P|I/D");
	cr_assert_eq(st.gpr[GPR_R13], VA + 0x2000);
	cr_assert_eq(st.gpr[GPR_R14], 9, "reserved bit: P|RSVD");
	cr_assert_eq(st.gpr[GPR_R15], VA + 0x3010);
	cr_assert_eq(h_rd64(&h, REC(REC_VEC)), 14);
}

/* User-mode accesses: iretq to CPL 3, which reads a supervisor page (P|U) and writes a
 * read-only user page (P|W|U); the last fixup leaves through INT 0x7f (gate DPL 3). */
GUEST_BLOB(pf_user, ".code64\n"
		    "lea user(%rip), %rax\n"
		    "pushq $0x23\n"
		    "pushq $0xa0000\n"
		    "pushq $0x3002\n" /* IF=0, IOPL 3 */
		    "pushq $0x2b\n"
		    "push %rax\n"
		    "iretq\n"
		    "user:\n"
		    "mov $0x8000000000, %rbx\n"
		    "lea 1f(%rip), %rax\n"
		    "mov %rax, 0x4050\n"
		    "mov 0x4000(%rbx), %rax\n"
		    "1: mov 0x4008, %r8\n"
		    "lea 1f(%rip), %rax\n"
		    "mov %rax, 0x4050\n"
		    "movq $5, 0x5000(%rbx)\n"
		    "1: mov 0x4008, %r9\n"
		    "mov 0x4020, %r10\n" GUEST_DONE);

Test(sys_paging, user_access_error_codes)
{
	map4k(VA + 0x4000, H_DATA, P | W);
	map4k(VA + 0x5000, H_DATA, P | U);
	h_long_mode(&h, 0, H_CODE);
	run_code(pf_user_start, BLOB_LEN(pf_user));
	cr_assert_eq(st.gpr[GPR_R8], 5, "user read of a supervisor page: P|U");
	cr_assert_eq(st.gpr[GPR_R9], 7, "user write to a read-only page: P|W|U");
	cr_assert_eq(st.gpr[GPR_R10], 0x2b, "the fault came from CPL 3");
	cr_assert_eq(st.seg[SREG_CS].selector, 0x2b);
}

GUEST_BLOB(ad_bits, ".code64\n"
		    "mov $0x8000000000, %rbx\n"
		    "mov 0x6000(%rbx), %rax\n"
		    "movq $7, 0x7000(%rbx)\n" GUEST_DONE);

Test(sys_paging, accessed_and_dirty_bits)
{
	map4k(VA + 0x6000, H_DATA, P | W);
	map4k(VA + 0x7000, H_DATA + 0x1000, P | W);
	h_long_mode(&h, 0, H_CODE);
	run_code(ad_bits_start, BLOB_LEN(ad_bits));
	uint64_t read_pte = h_rd64(&h, pte_slot(VA + 0x6000));
	uint64_t write_pte = h_rd64(&h, pte_slot(VA + 0x7000));
	cr_assert(read_pte & A, "a read sets A");
	cr_assert(!(read_pte & D), "a read leaves D clear");
	cr_assert((write_pte & (A | D)) == (A | D), "a write sets A and D");
	cr_assert(h_rd64(&h, H_PML4 + 8) & A, "A in the upper levels too");
	cr_assert_eq(h_rd64(&h, H_DATA + 0x1000), 7);
}

/* 1 GiB page: PML4 slot 2 -> PDPT entry with PS -> physical 0. */
GUEST_BLOB(big_pages, ".code64\n"
		      "mov $0x10000000000, %rbx\n"
		      "mov 0x100000(%rbx), %r8\n" /* through the 1 GiB page */
		      "mov 0x100000, %r9\n"	  /* through the harness's 2 MiB identity map */
		      "mov $0x8000000000, %rbx\n"
		      "mov 0x8000(%rbx), %r10\n" /* through a 4 KiB page */
	   GUEST_DONE);

Test(sys_paging, four_kib_two_mib_one_gib_pages)
{
	uint64_t pdpt = table();
	h_wr64(&h, H_PML4 + 2 * 8, pdpt | P | W);
	h_wr64(&h, pdpt, 0 | P | W | PS);
	map4k(VA + 0x8000, H_DATA + 0x2000, P);
	h_wr64(&h, H_DATA, 0x1111);
	h_wr64(&h, H_DATA + 0x2000, 0x4444);
	h_long_mode(&h, 0, H_CODE);
	run_code(big_pages_start, BLOB_LEN(big_pages));
	cr_assert_eq(st.gpr[GPR_R8], 0x1111);
	cr_assert_eq(st.gpr[GPR_R9], 0x1111);
	cr_assert_eq(st.gpr[GPR_R10], 0x4444);
}

/* 32-bit paging with a 4 MiB (PSE) page and a 4 KiB page, then PAE with a 2 MiB page and a
 * 4 KiB page, all from 32-bit protected mode. */
GUEST_BLOB(legacy_paging, ".code32\n"
			  "mov %cr4, %eax\n"
			  "or $0x10, %eax\n" /* PSE */
			  "mov %eax, %cr4\n"
			  "mov $0x200000, %eax\n"
			  "mov %eax, %cr3\n"
			  "mov %cr0, %eax\n"
			  "or $0x80000000, %eax\n"
			  "mov %eax, %cr0\n"
			  "mov 0x40100000, %esi\n" /* 4 MiB page at 0x40000000 -> 0 */
			  "mov 0x80000000, %edi\n" /* 4 KiB page -> H_DATA + 0x2000 */
			  "mov %cr0, %eax\n"
			  "and $0x7fffffff, %eax\n"
			  "mov %eax, %cr0\n"
			  "mov %cr4, %eax\n"
			  "or $0x20, %eax\n" /* PAE */
			  "mov %eax, %cr4\n"
			  "mov $0x203000, %eax\n"
			  "mov %eax, %cr3\n"
			  "mov %cr0, %eax\n"
			  "or $0x80000000, %eax\n"
			  "mov %eax, %cr0\n"
			  "mov 0x40100000, %ebx\n" /* 2 MiB page at 0x40000000 -> 0 */
			  "mov 0x80000000, %ecx\n" /* 4 KiB page -> H_DATA + 0x3000 */
	   GUEST_DONE);

static void protected_mode_32(uint64_t rip)
{
	h_long_mode(&h, 0, rip); /* GDT, IDT pieces; then turn it into flat 32-bit mode */
	h_state(&h, 0, &st);
	for (int r = 0; r < SREG_COUNT; r++) {
		st.seg[r].l = 0;
		st.seg[r].db = 1;
	}
	st.seg[SREG_CS].selector = SEL_CODE32;
	st.cr0 = X86_CR0_PE | X86_CR0_ET;
	st.cr4 = 0;
	st.efer = 0;
	st.cr3 = 0;
	st.gpr[GPR_RSP] = 0x7000;
	st.tr.type = 0xb;
	h_set_state(&h, 0, &st);
}

Test(sys_paging, legacy_32bit_pse_and_pae)
{
	/* 32-bit: PD at 0x200000, PT at 0x201000 */
	uint32_t pd[1024] = {0}, pt[1024] = {0};
	pd[0] = 0x000000 | 0x83;		   /* 0-4 MiB identity (code, stack) */
	pd[0x40000000 >> 22] = 0x000000 | 0x83;	   /* 4 MiB page */
	pd[0x80000000 >> 22] = 0x201000 | 0x3;	   /* page table */
	pt[0] = (uint32_t)(H_DATA + 0x2000) | 0x3; /* 4 KiB page */
	h_load(&h, 0x200000, pd, sizeof(pd));
	h_load(&h, 0x201000, pt, sizeof(pt));
	/* PAE: PDPT at 0x203000 (4 entries), PDs at 0x204000 (0-1G), 0x205000 (1-2G),
	 * 0x206000 (2-3G), PT at 0x207000 */
	uint64_t pdpt[4] = {0x204000 | 1, 0x205000 | 1, 0x206000 | 1, 0};
	h_load(&h, 0x203000, pdpt, sizeof(pdpt));
	memset(h.ram + 0x204000, 0, 0x4000);
	h_wr64(&h, 0x204000, 0 | 0x83);		     /* 0-2 MiB identity */
	h_wr64(&h, 0x205000 + 0 * 8, 0 | 0x83);	     /* 0x40000000: 2 MiB -> 0 */
	h_wr64(&h, 0x206000, 0x207000 | 3);	     /* 0x80000000: page table */
	h_wr64(&h, 0x207000, (H_DATA + 0x3000) | 3); /* 4 KiB page */
	h_wr64(&h, 0x100000, 0x11110000);
	h_wr64(&h, H_DATA + 0x2000, 0x22220000);
	h_wr64(&h, H_DATA + 0x3000, 0x33330000);
	h_load(&h, H_CODE, legacy_paging_start, BLOB_LEN(legacy_paging));
	protected_mode_32(H_CODE);
	cr_assert_eq(h_run(&h, 0, 10000), VCPU_EXIT_IO);
	h_state(&h, 0, &st);
	cr_assert_eq(st.gpr[GPR_RSI], 0x11110000, "4 MiB PSE page");
	cr_assert_eq(st.gpr[GPR_RDI], 0x22220000, "32-bit 4 KiB page");
	cr_assert_eq(st.gpr[GPR_RBX], 0x11110000, "PAE 2 MiB page");
	cr_assert_eq(st.gpr[GPR_RCX], 0x33330000, "PAE 4 KiB page");
}

/* WP: a supervisor write to a read-only page faults with CR0.WP and not without; SMEP: a
 * supervisor fetch from a user page faults; SMAP: a supervisor read of a user page faults
 * unless EFLAGS.AC (STAC), and again after CLAC. */
GUEST_BLOB(protections, ".code64\n"
			"mov $0x8000000000, %rbx\n"
			"lea 1f(%rip), %rax\n"
			"mov %rax, 0x4050\n"
			"movq $9, 0x9000(%rbx)\n" /* WP=1: faults */
			"1: mov 0x4048, %r8\n"
			"mov %cr0, %rax\n"
			"and $~0x10000, %rax\n"
			"mov %rax, %cr0\n"
			"movq $9, 0x9000(%rbx)\n" /* WP=0: allowed */
			"mov 0x4048, %r9\n"
			"mov %cr4, %rax\n"
			"or $0x300000, %rax\n" /* SMEP SMAP */
			"mov %rax, %cr4\n"
			"lea 1f(%rip), %rax\n"
			"mov %rax, 0x4050\n"
			"lea 0xa000(%rbx), %rax\n"
			"jmp *%rax\n" /* user page: SMEP */
			"1: mov 0x4008, %r10\n"
			"lea 1f(%rip), %rax\n"
			"mov %rax, 0x4050\n"
			"mov 0xb000(%rbx), %rax\n" /* user data, AC=0: SMAP */
			"1: mov 0x4008, %r11\n"
			"stac\n"
			"mov 0xb000(%rbx), %r12\n" /* AC=1: allowed */
			"clac\n"
			"lea 1f(%rip), %rax\n"
			"mov %rax, 0x4050\n"
			"movq $0, %r13\n"
			"mov 0xb000(%rbx), %r13\n" /* AC=0 again: faults */
			"1: mov 0x4048, %r14\n" GUEST_DONE);

Test(sys_paging, wp_smep_smap)
{
	map4k(VA + 0x9000, H_DATA, P);
	map4k(VA + 0xa000, H_DATA + 0x1000, P | W | U);
	map4k(VA + 0xb000, H_DATA + 0x2000, P | W | U);
	h_wr64(&h, H_DATA + 0x2000, 0xabcd);
	h_long_mode(&h, 0, H_CODE);
	for (unsigned e = 0; e < 512; e++) /* the code and handlers on supervisor pages */
		h_wr64(&h, H_PD + 8 * e, ((uint64_t)e << 21) | P | W | PS);
	run_code(protections_start, BLOB_LEN(protections));
	cr_assert_eq(st.gpr[GPR_R8], 1, "WP=1: the write faulted");
	cr_assert_eq(st.gpr[GPR_R9], 1, "WP=0: no fault");
	cr_assert_eq(h_rd64(&h, H_DATA), 9);
	cr_assert_eq(st.gpr[GPR_R10], 0x11, "SMEP: P|I/D");
	cr_assert_eq(st.gpr[GPR_R11], 1, "SMAP: P");
	cr_assert_eq(st.gpr[GPR_R12], 0xabcd, "STAC allows the read");
	cr_assert_eq(st.gpr[GPR_R13], 0, "CLAC: the read faulted again");
	cr_assert_eq(st.gpr[GPR_R14], 4);
}

/* The guest changes a PTE (the test's C side has it point to a page of 'A' or 'B') between
 * reads; each invalidation must make the next read see the new frame. */
GUEST_BLOB(invalidation, ".code64\n"
			 "mov $0x8000000000, %rbx\n"
			 "mov 0x4060, %rdx\n" /* address of the PTE */
			 "mov (%rbx), %r8\n"  /* 'A', now in the TLB */
			 "movq $0x102003, (%rdx)\n"
			 "invlpg (%rbx)\n"
			 "mov (%rbx), %r9\n" /* 'B' */
			 "movq $0x101003, (%rdx)\n"
			 "mov %cr3, %rax\n"
			 "mov %rax, %cr3\n"
			 "mov (%rbx), %r10\n" /* 'A' */
			 /* PCID: CR4.PCIDE, CR3 with PCID 1, then PCID 2 with the no-flush bit */
			 "mov %cr4, %rax\n"
			 "or $0x20000, %rax\n"
			 "mov %rax, %cr4\n"
			 "mov %cr3, %rax\n"
			 "or $1, %rax\n"
			 "mov %rax, %cr3\n"
			 "mov (%rbx), %r11\n" /* 'A' under PCID 1 */
			 "movq $0x102003, (%rdx)\n"
			 "mov %cr3, %rax\n"
			 "and $~0xfff, %rax\n"
			 "or $2, %rax\n"
			 "bts $63, %rax\n"
			 "mov %rax, %cr3\n"
			 "mov (%rbx), %r12\n" /* 'B': PCID 2 never saw 'A' */
			 "movq $0x101003, (%rdx)\n"
			 "movq $2, 0x4070\n" /* INVPCID descriptor: PCID 2, address */
			 "mov %rbx, 0x4078\n"
			 "xor %eax, %eax\n"
			 "invpcid 0x4070, %rax\n" /* type 0: one address */
			 "mov (%rbx), %r13\n"	  /* 'A' */
			 "movq $0x102103, (%rdx)\n"
			 "mov $2, %eax\n"
			 "invpcid 0x4070, %rax\n" /* type 2: everything incl. global */
			 "mov (%rbx), %r14\n"	  /* 'B' (now global) */
			 "movq $0x101103, (%rdx)\n"
			 "mov %cr4, %rax\n"
			 "or $0x80, %rax\n" /* PGE on: flushes */
			 "mov %rax, %cr4\n"
			 "mov (%rbx), %r15\n" /* 'A' */
	   GUEST_DONE);

Test(sys_paging, invlpg_cr3_pcid_invpcid_cr4_invalidate)
{
	map4k(VA, 0x101000, P | W);
	h_wr64(&h, 0x4060, pte_slot(VA));
	h_wr64(&h, 0x101000, 'A');
	h_wr64(&h, 0x102000, 'B');
	h_long_mode(&h, 0, H_CODE);
	run_code(invalidation_start, BLOB_LEN(invalidation));
	cr_assert_eq(st.gpr[GPR_R8], 'A');
	cr_assert_eq(st.gpr[GPR_R9], 'B', "INVLPG");
	cr_assert_eq(st.gpr[GPR_R10], 'A', "MOV CR3");
	cr_assert_eq(st.gpr[GPR_R11], 'A');
	cr_assert_eq(st.gpr[GPR_R12], 'B', "another PCID");
	cr_assert_eq(st.gpr[GPR_R13], 'A', "INVPCID type 0");
	cr_assert_eq(st.gpr[GPR_R14], 'B', "INVPCID type 2");
	cr_assert_eq(st.gpr[GPR_R15], 'A', "CR4.PGE change");
	cr_assert_eq(h_rd64(&h, REC(REC_COUNT)), 0, "no exception");
}
