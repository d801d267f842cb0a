/* sysbehaviour: system behaviour of the CPU the VMM gives its guest, one transcript line per
 * case, for a differential test (tests/guests/test_sysbehaviour.c compares the transcript with
 * sysbehaviour.expected, the lines the SDM implies). Entered through PVH in long mode
 * (pvh_entry.S); sets up its own GDT, TSS, IDT and 4-level page tables, then:
 *  - page walks and faults: 4K, 2M and 1G pages, not-present entries at each level, the
 *    read/write/fetch x user/supervisor x R/W x U/S matrix, CR0.WP, NX, reserved bits, SMEP,
 *    SMAP (only where CPUID advertises them), the #PF error code and CR2, A/D bits, INVLPG and
 *    CR3 loads;
 *  - exceptions through gates: #DE #UD #GP #SS #NP #BP #OF #DB, interrupt vs trap gates, ring 3
 *    to ring 0 through RSP0 and IST, IRETQ back, SYSCALL/SYSRET, #DF.
 * Each case runs a snippet (sysbehaviour_asm.S) through run_probe; the exception handler
 * records what the CPU pushed and either returns (traps under test) or abandons the snippet.
 * The transcript only says what happened; what should have happened is in the expectations
 * file. Lines starting "info " report behaviour the SDM leaves open, for people, not for the
 * comparison. Output goes through the UART's FIFO, 16 bytes per THRE poll: every port access
 * is an exit, and in the nested lab an exit costs about a millisecond. */
#include "sysbehaviour.h"
#include "guest.h"
#include "guest_exit.h"
#include "idt64.h"
#include "portio.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UART_FCR	2
#define UART_FCR_ENABLE 0x01
#define UART_FCR_CLEAR	0x06
#define UART_FIFO_SIZE	16
#define PIC1_DATA	0x21
#define PIC2_DATA	0xa1

#define PAGE_SIZE 4096ull

/* Paging-structure entry bits (SDM Vol. 3A, 4.5). */
#define PTE_P	(1ull << 0)
#define PTE_RW	(1ull << 1)
#define PTE_US	(1ull << 2)
#define PTE_A	(1ull << 5)
#define PTE_D	(1ull << 6)
#define PTE_PS	(1ull << 7)
#define PTE_G	(1ull << 8)
#define PTE_XD	(1ull << 63)
#define PTE_DEF (PTE_P | PTE_RW | PTE_US)
/* Stands for bit MAXPHYADDR (the lowest reserved address bit) in a case's entry; replaced at
 * run time. Bit 52 itself is ignored by 4-level paging and never reaches a table. */
#define MAXPA_MARK (1ull << 52)

#define CR0_WP	    (1ull << 16)
#define CR4_PGE	    (1ull << 7)
#define CR4_SMEP    (1ull << 20)
#define CR4_SMAP    (1ull << 21)
#define MSR_EFER    0xc0000080
#define MSR_STAR    0xc0000081
#define MSR_LSTAR   0xc0000082
#define MSR_FMASK   0xc0000084
#define EFER_SCE    (1ull << 0)
#define EFER_NXE    (1ull << 11)
#define RFLAGS_TF   (1ull << 8)
#define RFLAGS_IF   (1ull << 9)
#define RFLAGS_RF   (1ull << 16)
#define DR6_B0	    (1ull << 0)
#define DR6_BS	    (1ull << 14)
#define DR7_L0	    (1ull << 0)
#define DR7_FIXED   0x400ull
#define USER_RFLAGS 0x202ull /* IF = 1 in ring 3: interrupts are masked at the PICs */

/* The test region: PML4 slot 1, its own PDPT, PD and PT. 4K pages at TEST_BASE + n * 4K, a
 * 2M page at TEST_BASE + 2M (physical 2M), a 1G page at TEST_BASE + 1G (physical 0). */
#define TEST_BASE      0x8000000000ull
#define VA_4K(n)       (TEST_BASE + (n)*PAGE_SIZE)
#define VA_2M	       (TEST_BASE + 0x200000ull)
#define VA_1G	       (TEST_BASE + 0x40000000ull)
#define PA_2M	       0x200000ull
#define TEST_OFFSET    0x120ull
#define WALK_PAGE      1 /* the 4K page the walk cases use */
#define TLB_PAGE       2 /* the 4K page the TLB cases remap */
#define DF_PAGE	       3 /* never present: the #PF stack of the double-fault case */
#define GUARD_PAGE     4 /* never present: below ALT_STACK_PAGE */
#define ALT_STACK_PAGE 5 /* a small stack for the recursive-#PF case */
#define NP_CODE_PAGE   6 /* never present: where that case's #PF gate points */
#define TLB_OLD	       0x0101010101010101ull
#define TLB_NEW	       0x0202020202020202ull

#define MAX_EVENTS 4

/* ---- Symbols from sysbehaviour_asm.S ---- */

void run_probe(uint64_t snippet, uint64_t arg, uint64_t user, uint64_t user_rflags);
void reload_segments(void);
void syscall_entry(void);
extern const uint64_t isr_table[];
extern char user_text_start[], user_text_end[], user_data_start[], user_data_end[];
extern char user_stack_top[];

#define SNIPPET(name) extern char name[], name##_at[], name##_next[]
SNIPPET(k_read);
SNIPPET(k_read_alt_stack);
SNIPPET(k_write);
SNIPPET(k_exec);
SNIPPET(k_read_stac);
SNIPPET(k_write_stac);
SNIPPET(k_read_clac);
SNIPPET(k_div0);
SNIPPET(k_ud2);
SNIPPET(k_into64);
SNIPPET(k_load_ds);
SNIPPET(k_load_ss);
SNIPPET(k_noncanonical);
SNIPPET(k_noncanonical_ss);
SNIPPET(k_int3);
SNIPPET(k_int_3);
SNIPPET(k_int25);
SNIPPET(k_int_a0);
SNIPPET(k_int21_sti);
SNIPPET(k_int22_sti);
SNIPPET(k_int22_aligned);
SNIPPET(k_int22_misaligned);
SNIPPET(k_int23);
SNIPPET(k_single_step);
SNIPPET(k_ibp);
SNIPPET(k_into_of1);
SNIPPET(k_into_of0);
SNIPPET(u_read);
SNIPPET(u_write);
SNIPPET(u_exec);
SNIPPET(u_ud2);
SNIPPET(u_cli);
SNIPPET(u_int21);
SNIPPET(u_int3);
SNIPPET(u_int25);
SNIPPET(u_int23);
SNIPPET(u_int24);
SNIPPET(u_ss_null);
SNIPPET(u_syscall);

/* Written by the assembly. */
uint64_t probe_rsp, probe_value, rsp_before_int, alt_stack_top;
uint64_t sc_rcx, sc_r11, sc_rsp, sc_rflags, sc_cs, sc_ss;

struct frame;
void guest_main64(const uint32_t *start_info);
int exc_dispatch(struct frame *f);

/* ---- Transcript output ---- */

static char line[192];
static unsigned line_len;

static void uart_write(const char *p, unsigned n)
{
	while (n) {
		while (!(inb(PORT_UART0 + UART_LSR) & UART_LSR_THRE))
			;
		/* THRE with the FIFO on: the transmit FIFO is empty, 16 bytes fit. */
		unsigned chunk = n < UART_FIFO_SIZE ? n : UART_FIFO_SIZE;
		for (unsigned i = 0; i < chunk; i++)
			outb(PORT_UART0 + UART_THR, (uint8_t)p[i]);
		p += chunk;
		n -= chunk;
	}
}

static void put_c(char c)
{
	if (line_len < sizeof(line) - 1)
		line[line_len++] = c;
}

static void put_s(const char *s)
{
	while (*s)
		put_c(*s++);
}

static void put_hex(uint64_t v)
{
	static const char digits[] = "0123456789abcdef";
	int shift = 60;
	while (shift > 0 && !(v >> shift))
		shift -= 4;
	for (; shift >= 0; shift -= 4)
		put_c(digits[(v >> shift) & 0xf]);
}

static void put_dec(uint64_t v)
{
	char buf[20];
	int n = 0;
	do {
		buf[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		put_c(buf[--n]);
}

static void put_field_hex(const char *name, uint64_t v)
{
	put_c(' ');
	put_s(name);
	put_c('=');
	put_hex(v);
}

static void put_field_dec(const char *name, uint64_t v)
{
	put_c(' ');
	put_s(name);
	put_c('=');
	put_dec(v);
}

static void line_end(void)
{
	put_c('\n');
	uart_write(line, line_len);
	line_len = 0;
}

static unsigned cases;

static void begin(const char *name)
{
	put_s(name);
	cases++;
}

/* A line the comparison ignores: behaviour the SDM leaves open. */
static void begin_info(const char *name)
{
	put_s("info ");
	put_s(name);
}

static void skip(const char *name, const char *reason)
{
	begin(name);
	put_s(" skip: ");
	put_s(reason);
	line_end();
}

/* ---- CPU access ---- */

static inline uint64_t read_cr0(void)
{
	uint64_t v;
	__asm__ volatile("mov %%cr0, %0" : "=r"(v));
	return v;
}

static inline void write_cr0(uint64_t v)
{
	__asm__ volatile("mov %0, %%cr0" : : "r"(v) : "memory");
}

static inline uint64_t read_cr2(void)
{
	uint64_t v;
	__asm__ volatile("mov %%cr2, %0" : "=r"(v));
	return v;
}

static inline void write_cr3(uint64_t v)
{
	__asm__ volatile("mov %0, %%cr3" : : "r"(v) : "memory");
}

static inline uint64_t read_cr4(void)
{
	uint64_t v;
	__asm__ volatile("mov %%cr4, %0" : "=r"(v));
	return v;
}

static inline void write_cr4(uint64_t v)
{
	__asm__ volatile("mov %0, %%cr4" : : "r"(v) : "memory");
}

static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}

static inline void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

static inline void invlpg(uint64_t va)
{
	__asm__ volatile("invlpg (%0)" : : "r"(va) : "memory");
}

static inline uint64_t read_dr6(void)
{
	uint64_t v;
	__asm__ volatile("mov %%dr6, %0" : "=r"(v));
	return v;
}

static inline void write_dr(int n, uint64_t v)
{
	switch (n) {
	case 0:
		__asm__ volatile("mov %0, %%dr0" : : "r"(v));
		break;
	case 6:
		__asm__ volatile("mov %0, %%dr6" : : "r"(v));
		break;
	case 7:
		__asm__ volatile("mov %0, %%dr7" : : "r"(v));
		break;
	}
}

static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	__asm__ volatile("cpuid"
			 : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
			 : "a"(leaf), "c"(sub));
}

static struct {
	bool nx, gbpages, pge, smep, smap;
	unsigned maxphyaddr;
	char vendor[13];
} cpu;

static void read_cpuid(void)
{
	uint32_t r[4];
	cpuid(0, 0, r);
	uint32_t max_leaf = r[0];
	const uint32_t vendor[3] = {r[1], r[3], r[2]};
	for (int i = 0; i < 12; i++)
		cpu.vendor[i] = (char)(vendor[i / 4] >> (8 * (i % 4)));
	cpuid(1, 0, r);
	cpu.pge = r[3] & (1u << 13);
	if (max_leaf >= 7) {
		cpuid(7, 0, r);
		cpu.smep = r[1] & (1u << 7);
		cpu.smap = r[1] & (1u << 20);
	}
	cpuid(0x80000000, 0, r);
	uint32_t max_ext = r[0];
	if (max_ext >= 0x80000001) {
		cpuid(0x80000001, 0, r);
		cpu.nx = r[3] & (1u << 20);
		cpu.gbpages = r[3] & (1u << 26);
	}
	cpu.maxphyaddr = 36;
	if (max_ext >= 0x80000008) {
		cpuid(0x80000008, 0, r);
		cpu.maxphyaddr = r[0] & 0xff;
	}
}

/* The control state a case asks for, written only when it changes (each write of CR0, CR4 or
 * EFER may be an exit). */
static uint64_t cur_cr0, cur_cr4, cur_efer;

static void set_cr0(uint64_t v)
{
	if (v != cur_cr0)
		write_cr0(cur_cr0 = v);
}

static void set_cr4(uint64_t v)
{
	if (v != cur_cr4)
		write_cr4(cur_cr4 = v);
}

static void set_efer(uint64_t v)
{
	if (v != cur_efer)
		wrmsr(MSR_EFER, cur_efer = v);
}

/* ---- Descriptor tables ---- */

struct __attribute__((packed)) tss64 {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
};

#define GATE_INTR 0x8e /* present, 64-bit interrupt gate */
#define GATE_TRAP 0x8f /* present, 64-bit trap gate */
#define GATE_DPL3 0x60

static uint64_t gdt[GDT_ENTRIES] __attribute__((aligned(16)));
static struct tss64 tss __attribute__((aligned(16)));
static struct idt_gate idt[256] __attribute__((aligned(16)));

#define STACK_SIZE 4096
static uint8_t rsp0_stack[STACK_SIZE] __attribute__((aligned(16)));
static uint8_t ist1_stack[STACK_SIZE] __attribute__((aligned(16)));
static uint8_t ist2_stack[STACK_SIZE] __attribute__((aligned(16)));
#define RSP0_TOP ((uint64_t)(uintptr_t)(rsp0_stack + STACK_SIZE))
#define IST1_TOP ((uint64_t)(uintptr_t)(ist1_stack + STACK_SIZE))
/* Deliberately 8 bytes off a 16-byte boundary: the CPU aligns it (SDM Vol. 3A, 6.14.2). */
#define IST2_VALUE ((uint64_t)(uintptr_t)(ist2_stack + STACK_SIZE - 8))

static void set_gate(unsigned vector, uint64_t handler, uint8_t type_attr, uint8_t ist)
{
	idt[vector] = idt64_gate(handler, SEL_KCODE, type_attr, ist);
}

static void setup_descriptor_tables(void)
{
	gdt[SEL_KCODE >> 3] = 0x00af9a000000ffffull;
	gdt[SEL_KDATA >> 3] = 0x00cf92000000ffffull;
	gdt[SEL_UCODE32 >> 3] = 0x00cffa000000ffffull;
	gdt[SEL_UDATA >> 3] = 0x00cff2000000ffffull;
	gdt[SEL_UCODE64 >> 3] = 0x00affa000000ffffull;
	gdt[SEL_KCODE32 >> 3] = 0x00cf9a000000ffffull;
	gdt[SEL_XO_CODE >> 3] = 0x00af98000000ffffull;
	gdt[SEL_RO_DATA >> 3] = 0x00cf90000000ffffull;
	gdt[SEL_NP_DATA >> 3] = 0x00cf12000000ffffull;
	uint64_t base = (uint64_t)(uintptr_t)&tss, limit = sizeof(tss) - 1;
	gdt[SEL_TSS >> 3] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ull << 40) |
			    ((limit >> 16 & 0xf) << 48) | ((base >> 24 & 0xff) << 56);
	gdt[(SEL_TSS >> 3) + 1] = base >> 32;
	tss.rsp[0] = RSP0_TOP;
	tss.ist[0] = IST1_TOP;
	tss.ist[1] = IST2_VALUE;
	tss.iomap_base = sizeof(tss);

	struct __attribute__((packed)) {
		uint16_t limit;
		uint64_t base;
	} gdtr = {sizeof(gdt) - 1, (uint64_t)(uintptr_t)gdt},
	  idtr = {IDT_LIMIT_VECTOR * sizeof(struct idt_gate) - 1, (uint64_t)(uintptr_t)idt};
	__asm__ volatile("lgdt %0" : : "m"(gdtr) : "memory");
	reload_segments();
	__asm__ volatile("ltr %w0" : : "r"(SEL_TSS));

	for (unsigned v = 0; v < 32; v++)
		set_gate(v, isr_table[v], GATE_INTR, 0);
	set_gate(3, isr_table[3], GATE_INTR | GATE_DPL3, 0); /* INT3 from ring 3 */
	set_gate(8, isr_table[8], GATE_INTR, 1);	     /* #DF on IST1 */
	set_gate(VEC_INTR_GATE, isr_table[32], GATE_INTR, 0);
	set_gate(VEC_TRAP_GATE, isr_table[33], GATE_TRAP, 0);
	set_gate(VEC_IST_GATE, isr_table[34], GATE_INTR | GATE_DPL3, 2);
	set_gate(VEC_RETURN_GATE, isr_table[35], GATE_TRAP | GATE_DPL3, 0);
	set_gate(VEC_NOT_PRESENT, isr_table[32], (GATE_INTR | GATE_DPL3) & ~0x80, 0);
	set_gate(VEC_DONE, isr_table[36], GATE_INTR | GATE_DPL3, 0);
	__asm__ volatile("lidt %0" : : "m"(idtr) : "memory");

	wrmsr(MSR_STAR, (0x18ull << 48) | ((uint64_t)SEL_KCODE << 32));
	wrmsr(MSR_LSTAR, (uint64_t)(uintptr_t)syscall_entry);
	wrmsr(MSR_FMASK, SYSCALL_FMASK);
}

/* ---- Page tables ---- */

typedef uint64_t table_t[512] __attribute__((aligned(4096)));
static table_t pml4, pdpt0, pd0, pt0; /* identity map of the first 4 MiB */
static table_t tpdpt, tpd, tpt;	      /* the test region */
static uint8_t tpage[5][PAGE_SIZE] __attribute__((aligned(4096)));

#define PA(p) ((uint64_t)(uintptr_t)(p))

static bool in_range(uint64_t a, const char *start, const char *end)
{
	return a >= PA(start) && a < PA(end);
}

/* The kernel's identity map: 4K pages for the first 2 MiB (user pages U/S = 1, page 0 not
 * present), one 2M page for the next (the 2M and 1G test pages' data), supervisor-only. Upper
 * levels allow everything, so each PTE decides. */
static void setup_paging(void)
{
	pml4[0] = PA(pdpt0) | PTE_DEF;
	pdpt0[0] = PA(pd0) | PTE_DEF;
	pd0[0] = PA(pt0) | PTE_DEF;
	pd0[1] = PA_2M | PTE_P | PTE_RW | PTE_PS;
	for (uint64_t i = 1; i < 512; i++) {
		uint64_t a = i * PAGE_SIZE;
		bool user = in_range(a, user_text_start, user_text_end) ||
			    in_range(a, user_data_start, user_data_end);
		pt0[i] = a | PTE_P | PTE_RW | (user ? PTE_US : 0);
	}
	write_cr3(PA(pml4));
}

enum { L_PML4E, L_PDPTE, L_PDE, L_PTE };
enum { SIZE_4K, SIZE_2M, SIZE_1G };

/* The entries of one walk through the test region; `leaf` is the level that maps the page. */
struct walk {
	uint64_t *entry[4];
	int leaf;
};

/* Builds the walk for `size` (4K: test page `page`) with entry flags PTE_DEF | set & ~clr per
 * level and A = D = 0 everywhere, then loads CR3 (which drops every non-global translation and
 * the paging-structure caches, SDM Vol. 3A, 4.10.4.1). */
static struct walk build_walk(int size, int page, uint64_t pa, const uint64_t set[4],
			      const uint64_t clr[4])
{
	uint64_t f[4];
	for (int l = 0; l < 4; l++) {
		uint64_t s = set ? set[l] : 0, c = clr ? clr[l] : 0;
		if (s & MAXPA_MARK)
			s = (s & ~MAXPA_MARK) | (1ull << cpu.maxphyaddr);
		f[l] = (PTE_DEF | s) & ~c;
	}
	struct walk w = {{&pml4[1], NULL, NULL, NULL}, size == SIZE_4K ? L_PTE : L_PTE - size};
	pml4[1] = PA(tpdpt) | f[L_PML4E];
	switch (size) {
	case SIZE_4K:
		tpdpt[0] = PA(tpd) | f[L_PDPTE];
		tpd[0] = PA(tpt) | f[L_PDE];
		tpt[page] = pa | f[L_PTE];
		w.entry[L_PDPTE] = &tpdpt[0];
		w.entry[L_PDE] = &tpd[0];
		w.entry[L_PTE] = &tpt[page];
		break;
	case SIZE_2M:
		tpdpt[0] = PA(tpd) | f[L_PDPTE];
		tpd[1] = PA_2M | PTE_PS | f[L_PDE];
		w.entry[L_PDPTE] = &tpdpt[0];
		w.entry[L_PDE] = &tpd[1];
		break;
	case SIZE_1G:
		tpdpt[1] = 0 | PTE_PS | f[L_PDPTE];
		w.entry[L_PDPTE] = &tpdpt[1];
		break;
	}
	write_cr3(PA(pml4));
	return w;
}

/* ---- Exceptions ---- */

struct frame {
	uint64_t handler_ss, handler_rflags;
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error_code, rip, cs, rflags, rsp, ss;
};

struct event {
	uint64_t vector, error_code, rip, cs, rflags, rsp, ss;
	uint64_t cr2, dr6, frame_end, handler_rflags, handler_ss;
};

static struct {
	int n;
	struct event ev[MAX_EVENTS];
	uint64_t user_rax, user_rbx, user_rcx, user_rdx; /* at `int $0x80` */
} rec;

static volatile int probe_active;
static uint8_t resume_vector[256]; /* handlers that return instead of abandoning the snippet */

static const char *const vector_names[32] = {"DE",  "DB",  "NMI", "BP",	 "OF", "BR", "UD",  "NM",
					     "DF",  "CSO", "TS",  "NP",	 "SS", "GP", "PF",  "V15",
					     "MF",  "AC",  "MC",  "XM",	 "VE", "CP", "V22", "V23",
					     "V24", "V25", "V26", "V27", "HV", "VC", "SX",  "V31"};

static bool has_error_code(uint64_t v)
{
	return v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21 || v == 29 || v == 30;
}

static void put_vector(uint64_t v)
{
	put_c(' ');
	if (v < 32) {
		put_s(vector_names[v]);
	} else {
		put_s("INT");
		put_hex(v);
	}
}

static __attribute__((noreturn)) void fatal(const struct frame *f, const char *what)
{
	if (line_len)
		line_end();
	put_s("FATAL ");
	put_s(what);
	put_vector(f->vector);
	put_field_hex("e", f->error_code);
	put_field_hex("rip", f->rip);
	put_field_hex("cs", f->cs);
	put_field_hex("cr2", read_cr2());
	line_end();
	debug_exit(GUEST_EXIT_FAILURE);
}

int exc_dispatch(struct frame *f)
{
	if (!probe_active)
		fatal(f, "exception outside a case:");
	if (f->vector == VEC_DONE && (f->cs & 3) == 3) {
		rec.user_rax = f->rax;
		rec.user_rbx = f->rbx;
		rec.user_rcx = f->rcx;
		rec.user_rdx = f->rdx;
		return 1;
	}
	if (rec.n == MAX_EVENTS)
		fatal(f, "too many exceptions in one case:");
	struct event *e = &rec.ev[rec.n++];
	*e = (struct event){
	    .vector = f->vector,
	    .error_code = f->error_code,
	    .rip = f->rip,
	    .cs = f->cs,
	    .rflags = f->rflags,
	    .rsp = f->rsp,
	    .ss = f->ss,
	    .cr2 = read_cr2(),
	    .dr6 = read_dr6(),
	    .frame_end = (uint64_t)(uintptr_t)(&f->ss + 1),
	    .handler_rflags = f->handler_rflags,
	    .handler_ss = f->handler_ss,
	};
	if (!resume_vector[f->vector])
		return 1;
	if (f->vector == 1) {
		/* Single step: stop stepping. Instruction breakpoint: resume with RF = 1 so that
		 * the instruction runs (SDM Vol. 3A, 17.3.1.1); should RF not work, the second
		 * hit disarms the breakpoint instead of looping. */
		f->rflags &= ~RFLAGS_TF;
		if (e->dr6 & DR6_B0) {
			f->rflags |= RFLAGS_RF;
			if (rec.n >= 2)
				write_dr(7, DR7_FIXED);
		}
	}
	return 0;
}

static void probe(const char *snippet, uint64_t arg, bool user)
{
	rec.n = 0;
	probe_value = 0;
	probe_active = 1;
	run_probe((uint64_t)(uintptr_t)snippet, arg, user, USER_RFLAGS);
	probe_active = 0;
}

/* What a case prints about the first exception beyond the vector, error code and RIP. */
enum {
	X_CS = 1 << 0,	     /* pushed CS */
	X_USTACK = 1 << 1,   /* pushed SS and whether RSP is the user's */
	X_RF = 1 << 2,	     /* pushed RFLAGS.RF */
	X_IF = 1 << 3,	     /* pushed RFLAGS.IF */
	X_TF = 1 << 4,	     /* pushed RFLAGS.TF */
	X_HIF = 1 << 5,	     /* RFLAGS.IF inside the handler */
	X_HSS = 1 << 6,	     /* SS inside the handler */
	X_STK_RSP0 = 1 << 7, /* where the frame is, relative to TSS.RSP0 */
	X_STK_IST1 = 1 << 8, /* ... to TSS.IST1 */
	X_STK_IST2 = 1 << 9, /* ... to TSS.IST2 */
	X_STK_CUR = 1 << 10, /* ... to RSP before the INT (rsp_before_int) */
	X_KRSP = 1 << 11,    /* whether the pushed RSP is rsp_before_int */
	X_CR2 = 1 << 12,     /* CR2 */
	X_NO_RIP = 1 << 13,  /* RIP undefined (#DF) */
	X_DR6 = 1 << 14,     /* DR6.B0 and DR6.BS */
	X_COUNT = 1 << 15,   /* number of exceptions */
};

static uint64_t rsp0_value; /* what TSS.RSP0 held during the case */

static void put_stack(const char *ref_name, uint64_t ref, uint64_t frame_end)
{
	put_s(" stk=");
	put_s(ref_name);
	int64_t d = (int64_t)(frame_end - ref);
	if (d > 0) {
		put_c('+');
		put_dec((uint64_t)d);
	} else if (d < 0) {
		put_c('-');
		put_dec((uint64_t)-d);
	}
}

static void put_rip(uint64_t rip, uint64_t at, uint64_t next)
{
	if (rip == at)
		put_s(" rip=at");
	else if (rip == next)
		put_s(" rip=next");
	else
		put_field_hex("rip", rip);
}

/* "ok" when nothing was raised, else the first exception: vector, error code, then what
 * `extras` asks for. `at` and `next` are the addresses of the instruction under test and of
 * the one after it. */
static void put_outcome(uint64_t at, uint64_t next, unsigned extras)
{
	if (rec.n == 0) {
		put_s(" ok");
		return;
	}
	const struct event *e = &rec.ev[0];
	put_vector(e->vector);
	if (has_error_code(e->vector))
		put_field_hex("e", e->error_code);
	if (extras & X_CR2)
		put_field_hex("cr2", e->cr2);
	if (!(extras & X_NO_RIP))
		put_rip(e->rip, at, next);
	if (extras & X_CS)
		put_field_hex("cs", e->cs);
	if (extras & X_USTACK) {
		put_field_hex("ss", e->ss);
		if (e->rsp == PA(user_stack_top))
			put_s(" rsp=user");
		else
			put_field_hex("rsp", e->rsp);
	}
	if (extras & X_KRSP) {
		if (e->rsp == rsp_before_int)
			put_s(" rsp=cur");
		else
			put_field_hex("rsp", e->rsp);
	}
	if (extras & X_RF)
		put_field_dec("rf", !!(e->rflags & RFLAGS_RF));
	if (extras & X_IF)
		put_field_dec("if", !!(e->rflags & RFLAGS_IF));
	if (extras & X_TF)
		put_field_dec("tf", !!(e->rflags & RFLAGS_TF));
	if (extras & X_HIF)
		put_field_dec("hif", !!(e->handler_rflags & RFLAGS_IF));
	if (extras & X_HSS)
		put_field_hex("hss", e->handler_ss);
	if (extras & X_STK_RSP0)
		put_stack("rsp0", rsp0_value, e->frame_end);
	if (extras & X_STK_IST1)
		put_stack("ist1", IST1_TOP, e->frame_end);
	if (extras & X_STK_IST2)
		put_stack("ist2", IST2_VALUE, e->frame_end);
	if (extras & X_STK_CUR)
		put_stack("cur", rsp_before_int, e->frame_end);
	if (extras & X_DR6) {
		put_field_dec("b0", !!(e->dr6 & DR6_B0));
		put_field_dec("bs", !!(e->dr6 & DR6_BS));
	}
	if (extras & X_COUNT)
		put_field_dec("n", (uint64_t)rec.n);
}

/* ---- Page walks and faults (SDM Vol. 3A, chapter 4) ---- */

enum { ACC_R, ACC_W, ACC_X };
enum {
	C_WP0 = 1 << 0,	 /* CR0.WP = 0 (default 1) */
	C_NXE0 = 1 << 1, /* EFER.NXE = 0 (default 1 where NX exists) */
	C_SMEP = 1 << 2, /* CR4.SMEP = 1 */
	C_SMAP = 1 << 3, /* CR4.SMAP = 1 */
	C_STAC = 1 << 4, /* the supervisor access runs with EFLAGS.AC = 1 */
	C_CLAC = 1 << 5, /* ... after STAC then CLAC */
	C_AD = 1 << 6,	 /* print the A and D bits of the walk afterwards */
	C_RW = 1 << 7,	 /* a read, then a write through the translation the read cached */
};

struct walk_case {
	const char *name;
	uint8_t size, access, user;
	uint16_t ctl;
	uint64_t set[4], clr[4];
};

static const char *walk_case_skip(const struct walk_case *c)
{
	uint64_t set = c->set[0] | c->set[1] | c->set[2] | c->set[3];
	if ((c->ctl & C_SMEP) && !cpu.smep)
		return "no SMEP (CPUID.(EAX=7,ECX=0):EBX[7] = 0)";
	if ((c->ctl & (C_SMAP | C_STAC | C_CLAC)) && !cpu.smap)
		return "no SMAP (CPUID.(EAX=7,ECX=0):EBX[20] = 0)";
	if (c->size == SIZE_1G && !cpu.gbpages)
		return "no 1-GByte pages (CPUID.80000001H:EDX[26] = 0)";
	/* Without NX, EFER.NXE stays 0: XD is reserved, and a fetch fault's I/D flag is 0. */
	if (!cpu.nx && !(c->ctl & C_NXE0) && ((set & PTE_XD) || c->access == ACC_X))
		return "no NX (CPUID.80000001H:EDX[20] = 0)";
	if ((set & MAXPA_MARK) && cpu.maxphyaddr >= 52)
		return "MAXPHYADDR is 52: no reserved address bits";
	return NULL;
}

static uint64_t walk_va(int size)
{
	switch (size) {
	case SIZE_2M:
		return VA_2M + TEST_OFFSET;
	case SIZE_1G:
		return VA_1G + PA_2M + TEST_OFFSET; /* physical 2M + offset, like the 2M page */
	default:
		return VA_4K(WALK_PAGE) + TEST_OFFSET;
	}
}

static void fill_ret(uint8_t *p, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = 0xc3;
}

static void run_walk_case(const struct walk_case *c)
{
	const char *why = walk_case_skip(c);
	if (why) {
		skip(c->name, why);
		return;
	}
	set_cr0((cur_cr0 | CR0_WP) & ~((c->ctl & C_WP0) ? CR0_WP : 0));
	set_efer((c->ctl & C_NXE0) || !cpu.nx ? cur_efer & ~EFER_NXE : cur_efer | EFER_NXE);
	uint64_t cr4 = cur_cr4 & ~(CR4_SMEP | CR4_SMAP);
	cr4 |= (c->ctl & C_SMEP) ? CR4_SMEP : 0;
	cr4 |= (c->ctl & C_SMAP) ? CR4_SMAP : 0;
	set_cr4(cr4);

	/* The bytes a fetch executes and a read reads: RET. Written through the identity map. */
	fill_ret(tpage[WALK_PAGE] + TEST_OFFSET, 16);
	fill_ret((uint8_t *)(uintptr_t)(PA_2M + TEST_OFFSET), 16);
	struct walk w = build_walk(c->size, WALK_PAGE, PA(tpage[WALK_PAGE]), c->set, c->clr);
	uint64_t va = walk_va(c->size);

	const char *snippet;
	const char *at;
	if (c->user) {
		static const struct {
			const char *snippet, *at;
		} u[] = {{u_read, u_read_at}, {u_write, u_write_at}, {u_exec, u_exec_at}};
		snippet = u[c->access].snippet;
		at = u[c->access].at;
	} else if (c->ctl & C_STAC) {
		snippet = c->access == ACC_W ? k_write_stac : k_read_stac;
		at = c->access == ACC_W ? k_write_stac_at : k_read_stac_at;
	} else if (c->ctl & C_CLAC) {
		snippet = k_read_clac;
		at = k_read_clac_at;
	} else {
		static const struct {
			const char *snippet, *at;
		} k[] = {{k_read, k_read_at}, {k_write, k_write_at}, {k_exec, k_exec_at}};
		snippet = k[c->access].snippet;
		at = k[c->access].at;
	}
	if (c->ctl & C_RW) {
		probe(k_read, va, false);
		snippet = k_write;
		at = k_write_at;
	}
	probe(snippet, va, c->user);
	/* A fetch faults on the target itself: the pushed RIP is the address fetched. */
	uint64_t fault_rip = c->access == ACC_X ? va : PA(at);

	begin(c->name);
	put_outcome(fault_rip, ~0ull, X_CR2);
	if (c->ctl & C_AD) {
		put_s(" A=");
		for (int l = 0; l <= w.leaf; l++)
			put_c(*w.entry[l] & PTE_A ? '1' : '0');
		put_field_dec("D", !!(*w.entry[w.leaf] & PTE_D));
	}
	line_end();
	set_cr4(cur_cr4 & ~(CR4_SMEP | CR4_SMAP));
}

#define SET(l, bits) .set[l] = (bits)
#define CLR(l, bits) .clr[l] = (bits)
#define K	     .user = 0
#define U	     .user = 1

/* The access-rights matrix on the PTE of a 4K page, every upper level allowing everything:
 * {supervisor, user} x {read, write, fetch} x PTE {U/S, R/W}, with CR0.WP = 1 and NXE = 1. */
static void run_matrix(void)
{
	static const struct {
		const char *tag;
		uint64_t clr;
	} kinds[] = {{"srw", PTE_US}, {"sro", PTE_US | PTE_RW}, {"urw", 0}, {"uro", PTE_RW}};
	static const struct {
		const char *tag;
		uint8_t access, user;
	} accesses[] = {{"sr", ACC_R, 0}, {"sw", ACC_W, 0}, {"sx", ACC_X, 0},
			{"ur", ACC_R, 1}, {"uw", ACC_W, 1}, {"ux", ACC_X, 1}};
	for (unsigned k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		for (unsigned a = 0; a < sizeof(accesses) / sizeof(accesses[0]); a++) {
			char name[16] = "m.";
			unsigned n = 2;
			for (const char *s = kinds[k].tag; *s;)
				name[n++] = *s++;
			name[n++] = '.';
			for (const char *s = accesses[a].tag; *s;)
				name[n++] = *s++;
			name[n] = '\0';
			struct walk_case c = {.name = name,
					      .access = accesses[a].access,
					      .user = accesses[a].user,
					      CLR(L_PTE, kinds[k].clr)};
			run_walk_case(&c);
		}
	}
}

static const struct walk_case walk_cases[] = {
    /* CR0.WP = 0: supervisor writes ignore R/W; user writes do not. */
    {"wp0.sro.sw", .access = ACC_W, K, .ctl = C_WP0, CLR(L_PTE, PTE_US | PTE_RW)},
    {"wp0.uro.sw", .access = ACC_W, K, .ctl = C_WP0, CLR(L_PTE, PTE_RW)},
    {"wp0.uro.uw", .access = ACC_W, U, .ctl = C_WP0, CLR(L_PTE, PTE_RW)},
    /* Rights combine over all levels: one restrictive upper entry is enough. */
    {"lvl.pml4e-ro.uw", .access = ACC_W, U, CLR(L_PML4E, PTE_RW)},
    {"lvl.pdpte-ro.uw", .access = ACC_W, U, CLR(L_PDPTE, PTE_RW)},
    {"lvl.pde-ro.uw", .access = ACC_W, U, CLR(L_PDE, PTE_RW)},
    {"lvl.pde-ro.sw", .access = ACC_W, K, CLR(L_PDE, PTE_RW)},
    {"lvl.pml4e-ro.sw.wp0", .access = ACC_W, K, .ctl = C_WP0, CLR(L_PML4E, PTE_RW)},
    {"lvl.pml4e-s.ur", .access = ACC_R, U, CLR(L_PML4E, PTE_US)},
    {"lvl.pdpte-s.ur", .access = ACC_R, U, CLR(L_PDPTE, PTE_US)},
    {"lvl.pde-s.ur", .access = ACC_R, U, CLR(L_PDE, PTE_US)},
    {"lvl.pde-s.sr", .access = ACC_R, K, CLR(L_PDE, PTE_US)},
    {"lvl.pml4e-xd.ux", .access = ACC_X, U, SET(L_PML4E, PTE_XD)},
    {"lvl.pdpte-xd.sx", .access = ACC_X, K, SET(L_PDPTE, PTE_XD)},
    {"lvl.pde-xd.sx", .access = ACC_X, K, SET(L_PDE, PTE_XD)},
    {"lvl.pml4e-xd.sr", .access = ACC_R, K, SET(L_PML4E, PTE_XD)},
    /* Not present at each level: P = 0 in the error code, W/U/I describe the access. */
    {"np.pml4e.sr", .access = ACC_R, K, CLR(L_PML4E, PTE_P)},
    {"np.pml4e.uw", .access = ACC_W, U, CLR(L_PML4E, PTE_P)},
    {"np.pml4e.sx", .access = ACC_X, K, CLR(L_PML4E, PTE_P)},
    {"np.pdpte.sr", .access = ACC_R, K, CLR(L_PDPTE, PTE_P)},
    {"np.pdpte.uw", .access = ACC_W, U, CLR(L_PDPTE, PTE_P)},
    {"np.pdpte.sx", .access = ACC_X, K, CLR(L_PDPTE, PTE_P)},
    {"np.pde.sr", .access = ACC_R, K, CLR(L_PDE, PTE_P)},
    {"np.pde.uw", .access = ACC_W, U, CLR(L_PDE, PTE_P)},
    {"np.pde.sx", .access = ACC_X, K, CLR(L_PDE, PTE_P)},
    {"np.pte.sr", .access = ACC_R, K, CLR(L_PTE, PTE_P)},
    {"np.pte.uw", .access = ACC_W, U, CLR(L_PTE, PTE_P)},
    {"np.pte.sx", .access = ACC_X, K, CLR(L_PTE, PTE_P)},
    {"np.pte-rsvd.sr", .access = ACC_R, K, SET(L_PTE, MAXPA_MARK), CLR(L_PTE, PTE_P)},
    {"np.pde-rsvd.sr", .access = ACC_R, K, SET(L_PDE, MAXPA_MARK), CLR(L_PDE, PTE_P)},
    /* Reserved bits in present entries: P = 1 and RSVD = 1. */
    {"rsvd.pml4e-ps.sr", .access = ACC_R, K, SET(L_PML4E, PTE_PS)},
    {"rsvd.pml4e-maxpa.sr", .access = ACC_R, K, SET(L_PML4E, MAXPA_MARK)},
    {"rsvd.pdpte-maxpa.sr", .access = ACC_R, K, SET(L_PDPTE, MAXPA_MARK)},
    {"rsvd.pde-maxpa.sr", .access = ACC_R, K, SET(L_PDE, MAXPA_MARK)},
    {"rsvd.pte-maxpa.sr", .access = ACC_R, K, SET(L_PTE, MAXPA_MARK)},
    {"rsvd.pte-maxpa.uw", .access = ACC_W, U, SET(L_PTE, MAXPA_MARK)},
    {"rsvd.pte-maxpa.sx", .access = ACC_X, K, SET(L_PTE, MAXPA_MARK)},
    {"rsvd.2m-bit13.sr", .size = SIZE_2M, .access = ACC_R, K, SET(L_PDE, 1ull << 13)},
    {"rsvd.2m-maxpa.sr", .size = SIZE_2M, .access = ACC_R, K, SET(L_PDE, MAXPA_MARK)},
    {"rsvd.1g-bit13.sr", .size = SIZE_1G, .access = ACC_R, K, SET(L_PDPTE, 1ull << 13)},
    {"rsvd.1g-bit29.sr", .size = SIZE_1G, .access = ACC_R, K, SET(L_PDPTE, 1ull << 29)},
    {"rsvd.pte-xd-nxe0.sr", .access = ACC_R, K, .ctl = C_NXE0, SET(L_PTE, PTE_XD)},
    {"rsvd.pde-xd-nxe0.sr", .access = ACC_R, K, .ctl = C_NXE0, SET(L_PDE, PTE_XD)},
    {"rsvd.pml4e-xd-nxe0.uw", .access = ACC_W, U, .ctl = C_NXE0, SET(L_PML4E, PTE_XD)},
    /* NX. */
    {"nx.pte-xd.sx", .access = ACC_X, K, SET(L_PTE, PTE_XD)},
    {"nx.pte-xd.ux", .access = ACC_X, U, SET(L_PTE, PTE_XD)},
    {"nx.pte-xd.sr", .access = ACC_R, K, SET(L_PTE, PTE_XD)},
    {"nx.pte-xd.uw", .access = ACC_W, U, SET(L_PTE, PTE_XD)},
    {"nx.nxe0.sx", .access = ACC_X, K, .ctl = C_NXE0},
    {"nx.nxe0.ux-spage", .access = ACC_X, U, .ctl = C_NXE0, CLR(L_PTE, PTE_US)},
    /* SMEP. */
    {"smep.upage.sx", .access = ACC_X, K, .ctl = C_SMEP},
    {"smep.upage.sx.nxe0", .access = ACC_X, K, .ctl = C_SMEP | C_NXE0},
    {"smep.upage.sr", .access = ACC_R, K, .ctl = C_SMEP},
    {"smep.upage.ux", .access = ACC_X, U, .ctl = C_SMEP},
    {"smep.spage.sx", .access = ACC_X, K, .ctl = C_SMEP, CLR(L_PTE, PTE_US)},
    {"smep.pde-s.sx", .access = ACC_X, K, .ctl = C_SMEP, CLR(L_PDE, PTE_US)},
    {"smep.2m-u.sx", .size = SIZE_2M, .access = ACC_X, K, .ctl = C_SMEP},
    /* SMAP. */
    {"smap.upage.sr", .access = ACC_R, K, .ctl = C_SMAP},
    {"smap.upage.sw", .access = ACC_W, K, .ctl = C_SMAP},
    {"smap.upage.sr.ac", .access = ACC_R, K, .ctl = C_SMAP | C_STAC},
    {"smap.upage.sw.ac", .access = ACC_W, K, .ctl = C_SMAP | C_STAC},
    {"smap.upage.sr.clac", .access = ACC_R, K, .ctl = C_SMAP | C_CLAC},
    {"smap.uro.sw.ac", .access = ACC_W, K, .ctl = C_SMAP | C_STAC, CLR(L_PTE, PTE_RW)},
    {"smap.uro.sw.ac.wp0", .access = ACC_W, K, .ctl = C_SMAP | C_STAC | C_WP0, CLR(L_PTE, PTE_RW)},
    {"smap.upage.sw.wp0", .access = ACC_W, K, .ctl = C_SMAP | C_WP0},
    {"smap.spage.sr", .access = ACC_R, K, .ctl = C_SMAP, CLR(L_PTE, PTE_US)},
    {"smap.pdpte-s.sr", .access = ACC_R, K, .ctl = C_SMAP, CLR(L_PDPTE, PTE_US)},
    {"smap.upage.ur", .access = ACC_R, U, .ctl = C_SMAP},
    {"smap.upage.sx", .access = ACC_X, K, .ctl = C_SMAP},
    /* 2M pages (PDE.PS = 1). */
    {"2m.sr", .size = SIZE_2M, .access = ACC_R, K},
    {"2m.ux", .size = SIZE_2M, .access = ACC_X, U},
    {"2m.s.ur", .size = SIZE_2M, .access = ACC_R, U, CLR(L_PDE, PTE_US)},
    {"2m.ro.uw", .size = SIZE_2M, .access = ACC_W, U, CLR(L_PDE, PTE_RW)},
    {"2m.ro.sw", .size = SIZE_2M, .access = ACC_W, K, CLR(L_PDE, PTE_RW)},
    {"2m.ro.sw.wp0", .size = SIZE_2M, .access = ACC_W, K, .ctl = C_WP0, CLR(L_PDE, PTE_RW)},
    {"2m.xd.sx", .size = SIZE_2M, .access = ACC_X, K, SET(L_PDE, PTE_XD)},
    {"2m.np.uw", .size = SIZE_2M, .access = ACC_W, U, CLR(L_PDE, PTE_P)},
    /* 1G pages (PDPTE.PS = 1). */
    {"1g.sr", .size = SIZE_1G, .access = ACC_R, K},
    {"1g.uw", .size = SIZE_1G, .access = ACC_W, U},
    {"1g.s.ur", .size = SIZE_1G, .access = ACC_R, U, CLR(L_PDPTE, PTE_US)},
    {"1g.ro.uw", .size = SIZE_1G, .access = ACC_W, U, CLR(L_PDPTE, PTE_RW)},
    {"1g.xd.ux", .size = SIZE_1G, .access = ACC_X, U, SET(L_PDPTE, PTE_XD)},
    {"1g.np.sr", .size = SIZE_1G, .access = ACC_R, K, CLR(L_PDPTE, PTE_P)},
    {"1g.pml4e-s.ur", .size = SIZE_1G, .access = ACC_R, U, CLR(L_PML4E, PTE_US)},
    /* Accessed and dirty flags: every entry of the walk starts with A = D = 0. */
    {"ad.4k.sr", .access = ACC_R, K, .ctl = C_AD},
    {"ad.4k.sw", .access = ACC_W, K, .ctl = C_AD},
    {"ad.4k.sx", .access = ACC_X, K, .ctl = C_AD},
    {"ad.4k.ur", .access = ACC_R, U, .ctl = C_AD},
    {"ad.4k.uw", .access = ACC_W, U, .ctl = C_AD},
    {"ad.4k.sr-then-sw", .access = ACC_W, K, .ctl = C_AD | C_RW},
    {"ad.4k.sro.sw.wp0", .access = ACC_W, K, .ctl = C_AD | C_WP0, CLR(L_PTE, PTE_RW)},
    {"ad.2m.sr", .size = SIZE_2M, .access = ACC_R, K, .ctl = C_AD},
    {"ad.2m.sw", .size = SIZE_2M, .access = ACC_W, K, .ctl = C_AD},
    {"ad.2m.sr-then-sw", .size = SIZE_2M, .access = ACC_W, K, .ctl = C_AD | C_RW},
    {"ad.1g.sr", .size = SIZE_1G, .access = ACC_R, K, .ctl = C_AD},
    {"ad.1g.uw", .size = SIZE_1G, .access = ACC_W, U, .ctl = C_AD},
};

/* Whether a walk that ends in a fault (here: PTE not present) sets A in the entries it used
 * is left open by the SDM (4.8: "may"), so only reported. */
static void info_accessed_on_fault(void)
{
	uint64_t clr[4] = {0, 0, 0, PTE_P};
	struct walk w = build_walk(SIZE_4K, WALK_PAGE, PA(tpage[WALK_PAGE]), NULL, clr);
	probe(k_read, VA_4K(WALK_PAGE) + TEST_OFFSET, false);
	begin_info("ad.fault.np-pte");
	if (rec.n)
		put_vector(rec.ev[0].vector);
	else
		put_s(" ok");
	put_s(" A=");
	for (int l = 0; l < L_PTE; l++)
		put_c(*w.entry[l] & PTE_A ? '1' : '0');
	line_end();
}

/* ---- TLB invalidation (SDM Vol. 3A, 4.10.4) ---- */

enum { TLB_INVLPG, TLB_CR3, TLB_GLOBAL_INVLPG, TLB_GLOBAL_PGE, TLB_GLOBAL_CR3, TLB_NOTHING };

/* Maps the TLB page to the "old" frame, reads it (caching the translation), points the PTE at
 * the "new" frame, invalidates as `how` says, and reads again: "new" or "old". */
static void tlb_case(const char *name, int how, bool info)
{
	bool global = how == TLB_GLOBAL_INVLPG || how == TLB_GLOBAL_PGE || how == TLB_GLOBAL_CR3;
	if (global && !cpu.pge) {
		if (!info)
			skip(name, "no global pages (CPUID.01H:EDX[13] = 0)");
		return;
	}
	uint64_t *old_frame = (uint64_t *)(void *)tpage[0],
		 *new_frame = (uint64_t *)(void *)tpage[3];
	old_frame[TEST_OFFSET / 8] = TLB_OLD;
	new_frame[TEST_OFFSET / 8] = TLB_NEW;
	uint64_t g[4] = {0, 0, 0, global ? PTE_G : 0};
	set_cr4(global ? cur_cr4 | CR4_PGE : cur_cr4 & ~CR4_PGE);
	uint64_t va = VA_4K(TLB_PAGE) + TEST_OFFSET;
	build_walk(SIZE_4K, TLB_PAGE, PA(old_frame), g, NULL);
	probe(k_read, va, false);
	uint64_t first = probe_value;
	tpt[TLB_PAGE] = PA(new_frame) | PTE_DEF | g[L_PTE];
	switch (how) {
	case TLB_INVLPG:
	case TLB_GLOBAL_INVLPG:
		invlpg(va);
		break;
	case TLB_CR3:
	case TLB_GLOBAL_CR3:
		write_cr3(PA(pml4));
		break;
	case TLB_GLOBAL_PGE:
		write_cr4(cur_cr4 & ~CR4_PGE);
		write_cr4(cur_cr4);
		break;
	}
	probe(k_read, va, false);
	if (info)
		begin_info(name);
	else
		begin(name);
	if (rec.n || first != TLB_OLD)
		put_s(" broken");
	else if (probe_value == TLB_NEW)
		put_s(" new");
	else if (probe_value == TLB_OLD)
		put_s(" old");
	else
		put_field_hex("value", probe_value);
	line_end();
	set_cr4(cur_cr4 & ~CR4_PGE); /* drops the global translation too */
}

static void run_tlb_cases(void)
{
	tlb_case("tlb.invlpg", TLB_INVLPG, false);
	tlb_case("tlb.cr3", TLB_CR3, false);
	tlb_case("tlb.global.invlpg", TLB_GLOBAL_INVLPG, false);
	tlb_case("tlb.global.pge-toggle", TLB_GLOBAL_PGE, false);
	/* The SDM allows a CPU to keep a global translation across a CR3 load, and to keep or
	 * drop any translation when the PTE changes without invalidation: both "may", so only
	 * reported. */
	tlb_case("tlb.global.cr3", TLB_GLOBAL_CR3, true);
	tlb_case("tlb.no-invalidation", TLB_NOTHING, true);
}

/* ---- Exceptions through gates (SDM Vol. 3A, chapters 5, 6 and 17) ---- */

static void exc_case(const char *name, const char *snippet, const char *at, const char *next,
		     uint64_t arg, bool user, unsigned extras)
{
	probe(snippet, arg, user);
	begin(name);
	put_outcome(PA(at), PA(next), extras);
	line_end();
}

#define EXC(name, snip, arg, user, extras)                                                         \
	exc_case(name, snip, snip##_at, snip##_next, arg, user, extras)

static void run_exception_cases(void)
{
	/* Faults and traps in ring 0. */
	EXC("exc.de", k_div0, 0, false, X_RF);
	EXC("exc.ud2", k_ud2, 0, false, X_RF);
	EXC("exc.into-64bit", k_into64, 0, false, X_RF);
	EXC("exc.gp.ds-beyond-gdt", k_load_ds, SEL_BEYOND, false, X_RF);
	EXC("exc.gp.ds-execute-only", k_load_ds, SEL_XO_CODE, false, 0);
	EXC("exc.gp.ss-rpl", k_load_ss, SEL_KDATA | 3, false, 0);
	EXC("exc.gp.ss-read-only", k_load_ss, SEL_RO_DATA, false, 0);
	EXC("exc.ss.ss-not-present", k_load_ss, SEL_NP_DATA, false, 0);
	EXC("exc.np.ds-not-present", k_load_ds, SEL_NP_DATA, false, 0);
	EXC("exc.ds-null", k_load_ds, 0, false, 0);
	EXC("exc.ss-null.cpl0", k_load_ss, 0, false, 0);
	EXC("exc.gp.noncanonical", k_noncanonical, 0, false, X_RF);
	EXC("exc.ss.noncanonical", k_noncanonical_ss, 0, false, X_RF);
	EXC("exc.np.int-not-present-gate", k_int25, 0, false, 0);
	EXC("exc.gp.int-beyond-idt", k_int_a0, 0, false, 0);

	/* #NP on delivering #UD through a not-present gate: EXT = 1 (an exception, not INT n). */
	idt[6].type_attr &= (uint8_t)~0x80;
	EXC("exc.np.ud-gate-not-present", k_ud2, 0, false, 0);
	idt[6].type_attr |= 0x80;

	resume_vector[3] = 1;
	EXC("trap.int3", k_int3, 0, false, X_RF);
	EXC("trap.int-3", k_int_3, 0, false, X_RF);
	resume_vector[3] = 0;
	EXC("trap.into-compat.of1", k_into_of1, 0, false, X_CS | X_RF);
	EXC("trap.into-compat.of0", k_into_of0, 0, false, X_CS);

	/* Interrupt gate vs trap gate: IF inside the handler; IF in the pushed RFLAGS. */
	resume_vector[VEC_INTR_GATE] = resume_vector[VEC_TRAP_GATE] = 1;
	EXC("gate.interrupt", k_int21_sti, 0, false, X_IF | X_HIF | X_RF);
	EXC("gate.trap", k_int22_sti, 0, false, X_IF | X_HIF);
	/* No privilege change and no IST: the frame goes on the current stack, aligned to 16. */
	EXC("gate.frame.aligned", k_int22_aligned, 0, false, X_KRSP | X_STK_CUR | X_HSS);
	EXC("gate.frame.misaligned", k_int22_misaligned, 0, false, X_KRSP | X_STK_CUR);
	resume_vector[VEC_INTR_GATE] = resume_vector[VEC_TRAP_GATE] = 0;
	resume_vector[VEC_IST_GATE] = 1;
	EXC("gate.ist.cpl0", k_int23, 0, false, X_KRSP | X_STK_IST2);
	resume_vector[VEC_IST_GATE] = 0;
	/* SS after an IST switch without a privilege change: 6.14.5 says the new SS is NULL
	 * "when an interrupt occurs", INT n's pseudocode changes SS only with the privilege
	 * level. Unclear, so only reported. */
	begin_info("gate.ist.cpl0.ss");
	put_field_hex("hss", rec.ev[0].handler_ss);
	line_end();

	/* Debug exceptions. DR6 is cleared first: the CPU never clears its status bits. */
	resume_vector[1] = 1;
	write_dr(6, 0);
	EXC("db.single-step", k_single_step, 0, false, X_RF | X_TF | X_DR6 | X_COUNT);
	write_dr(6, 0);
	write_dr(0, PA(k_ibp_at));
	write_dr(7, DR7_FIXED | DR7_L0);
	probe(k_ibp, 0, false);
	write_dr(7, DR7_FIXED);
	begin("db.insn-breakpoint");
	put_outcome(PA(k_ibp_at), PA(k_ibp_next), X_RF | X_DR6 | X_COUNT);
	put_field_dec("ran", probe_value);
	line_end();
	resume_vector[1] = 0;
	write_dr(6, 0);

	/* Ring 3 into ring 0: the stack from TSS.RSP0, SS:RSP of the user pushed, SS = NULL. */
	rsp0_value = RSP0_TOP;
	unsigned ring3 = X_CS | X_USTACK | X_RF | X_IF | X_HSS | X_STK_RSP0;
	EXC("r3.ud2", u_ud2, 0, true, ring3);
	EXC("r3.gp.cli", u_cli, 0, true, ring3);
	EXC("r3.gp.ss-null", u_ss_null, 0, true, X_CS);
	EXC("r3.gp.int-dpl0-gate", u_int21, 0, true, X_CS | X_RF | X_STK_RSP0);
	EXC("r3.np.int-not-present-gate", u_int25, 0, true, X_CS);
	resume_vector[3] = 1;
	EXC("r3.int3", u_int3, 0, true, X_CS | X_USTACK | X_RF | X_STK_RSP0);
	idt[3].type_attr &= (uint8_t)~GATE_DPL3;
	EXC("r3.gp.int3-dpl0-gate", u_int3, 0, true, X_CS);
	idt[3].type_attr |= GATE_DPL3;
	resume_vector[3] = 0;
	/* #PF from ring 3 with RSP0 8 bytes off a 16-byte boundary. */
	tss.rsp[0] = rsp0_value = RSP0_TOP - 8;
	{
		uint64_t clr[4] = {0, 0, 0, PTE_US};
		build_walk(SIZE_4K, WALK_PAGE, PA(tpage[WALK_PAGE]), NULL, clr);
	}
	exc_case("r3.pf.rsp0-misaligned", u_read, u_read_at, u_read_at,
		 VA_4K(WALK_PAGE) + TEST_OFFSET, true, X_CR2 | ring3);
	tss.rsp[0] = rsp0_value = RSP0_TOP;
	/* IST: used with or without a privilege change (TSS.IST2 is 8 bytes off). */
	resume_vector[VEC_IST_GATE] = 1;
	EXC("r3.ist", u_int23, 0, true, X_CS | X_USTACK | X_STK_IST2 | X_HSS);
	resume_vector[VEC_IST_GATE] = 0;
	/* A handler that returns: IRETQ back to ring 3, which reports its CS and SS. */
	resume_vector[VEC_RETURN_GATE] = 1;
	probe(u_int24, 0, true);
	begin("r3.iretq");
	put_outcome(PA(u_int24_at), PA(u_int24_next), X_CS | X_USTACK | X_STK_RSP0);
	put_field_hex("back.cs", rec.user_rax);
	put_field_hex("back.ss", rec.user_rbx);
	line_end();
	resume_vector[VEC_RETURN_GATE] = 0;

	/* SYSCALL and SYSRET. */
	set_efer(cur_efer | EFER_SCE);
	probe(u_syscall, 0, true);
	begin("sys.syscall");
	if (rec.n) {
		put_outcome(PA(u_syscall_at), PA(u_syscall_next), X_CS);
	} else {
		if (sc_rcx == PA(u_syscall_next))
			put_s(" rcx=next");
		else
			put_field_hex("rcx", sc_rcx);
		put_field_hex("r11", sc_r11);
		put_field_hex("rflags", sc_rflags);
		put_field_hex("cs", sc_cs);
		put_field_hex("ss", sc_ss);
		put_s(sc_rsp == PA(user_stack_top) ? " rsp=user" : " rsp=changed");
	}
	line_end();
	begin("sys.sysret");
	put_field_hex("rflags", rec.user_rbx);
	put_field_hex("cs", rec.user_rax);
	put_field_hex("ss", rec.user_rcx);
	put_s(rec.user_rdx == PA(user_stack_top) ? " rsp=user" : " rsp=changed");
	line_end();
	set_efer(cur_efer & ~EFER_SCE);

	/* Double faults. #PF whose delivery faults (its IST stack is not present): #DF, error
	 * code 0, on the #DF gate's IST1. The saved RIP of a #DF is undefined: not printed. */
	{
		uint64_t clr[4] = {0, 0, 0, PTE_P};
		build_walk(SIZE_4K, DF_PAGE, PA(tpage[DF_PAGE]), NULL, clr);
	}
	tss.ist[2] = VA_4K(DF_PAGE) + PAGE_SIZE;
	idt[14].ist = 3;
	EXC("df.pf-stack-not-present", k_read, VA_4K(DF_PAGE) + TEST_OFFSET, false,
	    X_NO_RIP | X_STK_IST1);
	idt[14].ist = 0;
	/* Which #PF's address CR2 holds after the #DF is not specified. */
	begin_info("df.pf-stack-not-present.cr2");
	put_field_hex("cr2", rec.ev[0].cr2);
	line_end();
	/* #PF whose handler is on a page that is not present. Fetching the handler's first
	 * instruction is not part of delivering the #PF: it raises a new #PF, delivered on the
	 * same stack, and so on, until a frame no longer fits above the not-present guard page:
	 * that #PF happens during delivery, so #DF (and a CPU that raised #DF at once would
	 * print the same line). The snippet runs on a one-page stack in the test region. */
	{
		uint64_t clr[4] = {0, 0, 0, PTE_P};
		build_walk(SIZE_4K, GUARD_PAGE, PA(tpage[4]), NULL, clr);
		tpt[ALT_STACK_PAGE] = PA(tpage[4]) | PTE_DEF;
		tpt[NP_CODE_PAGE] = 0;
		write_cr3(PA(pml4));
	}
	alt_stack_top = VA_4K(ALT_STACK_PAGE) + PAGE_SIZE;
	set_gate(14, VA_4K(NP_CODE_PAGE), GATE_INTR, 0);
	EXC("df.pf-handler-not-present", k_read_alt_stack, VA_4K(GUARD_PAGE) + TEST_OFFSET, false,
	    X_NO_RIP | X_STK_IST1);
	set_gate(14, isr_table[14], GATE_INTR, 0);
	/* #NP (INT to a not-present gate) whose delivery raises #GP (its gate's CS is beyond the
	 * GDT): two contributory exceptions. */
	idt[11].selector = SEL_BEYOND & ~3;
	EXC("df.np-then-gp", k_int25, 0, false, X_NO_RIP | X_STK_IST1);
	idt[11].selector = SEL_KCODE;
}

void guest_main64(const uint32_t *start_info)
{
	(void)start_info;
	outb(PORT_UART0 + UART_FCR, UART_FCR_ENABLE | UART_FCR_CLEAR);
	outb(PIC1_DATA, 0xff); /* user code runs with IF = 1: nothing may interrupt it */
	outb(PIC2_DATA, 0xff);
	read_cpuid();
	put_s("info cpu ");
	put_s(cpu.vendor);
	put_field_dec("maxphyaddr", cpu.maxphyaddr);
	put_field_dec("nx", cpu.nx);
	put_field_dec("1g", cpu.gbpages);
	put_field_dec("pge", cpu.pge);
	put_field_dec("smep", cpu.smep);
	put_field_dec("smap", cpu.smap);
	line_end();

	setup_descriptor_tables();
	setup_paging();
	cur_cr0 = read_cr0();
	cur_cr4 = read_cr4();
	cur_efer = rdmsr(MSR_EFER);
	set_cr0(cur_cr0 | CR0_WP);
	set_efer(cpu.nx ? cur_efer | EFER_NXE : cur_efer);

	run_matrix();
	for (unsigned i = 0; i < sizeof(walk_cases) / sizeof(walk_cases[0]); i++)
		run_walk_case(&walk_cases[i]);
	info_accessed_on_fault();
	set_cr0(cur_cr0 | CR0_WP);
	set_efer(cpu.nx ? cur_efer | EFER_NXE : cur_efer);
	run_tlb_cases();
	run_exception_cases();

	put_s("done");
	put_field_dec("cases", cases);
	line_end();
	debug_exit(GUEST_EXIT_SUCCESS);
}
