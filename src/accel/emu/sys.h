/* System mode of the software CPU: what a CPU needs beyond user mode to run an operating
 * system. The machine (struct emu_machine) is shared by the vCPUs of one VM: guest-physical RAM
 * regions (anything else is MMIO, reached through the vCPU's hooks) and, per RAM page, which
 * vCPUs hold decoded code there. Each CPU gets a struct emu_sys: the VMM's hooks, three soft
 * TLBs (by privilege), the MSRs, pending events, and the mailbox through which other threads
 * kick it or drop its decoded code.
 *
 * Files: sysmem.c (physical memory, page walks, TLB fills, invalidation, SMC across vCPUs),
 * write_log.c (the log of writes to a region the VMM watches, e.g. a framebuffer),
 * sysseg.c (descriptors, segment loads, far transfers, IRET, exception and interrupt
 * delivery), ops_sys.c and ops_legacy.c (system and legacy instructions), msr.c (MSRs,
 * CPUID in system mode), sys_run.c (the run loop: events, HLT, kicks, timers). */
#ifndef GUREUM_ACCEL_EMU_SYS_H
#define GUREUM_ACCEL_EMU_SYS_H

#include "accel/accel.h"
#include "accel/emu/cpu.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define EMU_MAX_RAM   32
#define EMU_MAX_VCPUS 256

struct emu_ram {
	uint64_t gpa, size;
	uint8_t *host;
	bool readonly;
	/* Per 4 KiB page: which vCPUs hold decoded code there (bit min(index, 63)). A write to
	 * such a page drops their code first (sysmem.c). */
	_Atomic uint64_t *code;
	/* Regions whose writes the VMM logs (a framebuffer; write_log.c), else NULL: a bit per
	 * page, set by the slow path of every write before it writes, cleared by
	 * emu_machine_log_fetch. A TLB write entry exists only for a page whose bit is set, so a
	 * page's first write after a fetch always takes the slow path. */
	_Atomic uint64_t *_Atomic written;
};

/* Page `p` of `r` is about to be written. */
static inline void emu_ram_note_write(struct emu_ram *r, uint64_t p)
{
	_Atomic uint64_t *w = atomic_load_explicit(&r->written, memory_order_acquire);
	uint64_t bit = 1ULL << (p % 64);
	if (w && !(atomic_load_explicit(&w[p / 64], memory_order_relaxed) & bit))
		atomic_fetch_or(&w[p / 64], bit);
}

/* May a TLB keep a write entry for page `p` of `r` (not a logged page the log holds clean)? */
static inline bool emu_ram_fast_write_ok(struct emu_ram *r, uint64_t p)
{
	_Atomic uint64_t *w = atomic_load_explicit(&r->written, memory_order_acquire);
	return !w || (atomic_load(&w[p / 64]) & (1ULL << (p % 64)));
}

struct emu_machine {
	pthread_mutex_t lock; /* map changes, the CPU list, split/MMIO locked operations */
	struct emu_ram ram[EMU_MAX_RAM];
	_Atomic unsigned nr_ram;
	struct emu_cpu *_Atomic cpus[EMU_MAX_VCPUS];
	unsigned nr_vcpus;
	const struct emu_cpu_model *model;
	const struct guest_clock *clock;
	/* Counts every change that sends write-protection to other vCPUs' TLBs; tests use it. */
	_Atomic uint64_t code_protects;
};

enum emu_tlb_ctx {
	TLB_SUPER,	    /* CPL 0-2 with SMAP on and EFLAGS.AC clear: no user data */
	TLB_SUPER_USERDATA, /* CPL 0-2, user pages' data allowed (no SMAP, or AC set) */
	TLB_USER,	    /* CPL 3 */
	TLB_CONTEXTS
};

/* Requests from other threads, in emu_sys.requests. */
#define EMU_REQ_KICK	   1u
#define EMU_REQ_INVALIDATE 2u

#define EMU_INV_QUEUE 64

/* Counters for --stats. */
struct emu_sys_stats {
	uint64_t insns, exceptions, interrupts, halts, pio, mmio, tlb_fills, tlb_flushes,
	    block_lookups, block_decodes, smc_invalidations, kicks, run_ns, cr3_writes,
	    page_flushes;
};

struct emu_sys {
	struct emu_machine *machine;
	struct accel_vcpu_hooks hooks;
	unsigned index;

	struct tlb_entry tlbs[TLB_CONTEXTS][EMU_TLB_SIZE];
	uint8_t tlb_global[TLB_CONTEXTS][EMU_TLB_SIZE];
	/* log2 of the largest page an entry's tags came from (0: 4 KiB pages only), and the
	 * linear range all large pages in the TLBs cover: an INVLPG there looks for the entries
	 * of the large page it names. */
	uint8_t tlb_large[TLB_CONTEXTS][EMU_TLB_SIZE];
	uint64_t large_lo, large_hi;
	/* An always-empty TLB: a locked instruction runs with it, so that every access takes
	 * the slow path, which makes it atomic (sysmem.c). */
	struct tlb_entry tlb_none[EMU_TLB_SIZE];

	/* MSRs the CPU keeps (msr.c); EFER, FS/GS bases, CR* live in the vcpu_state. */
	uint64_t star, lstar, cstar, sfmask, kernel_gs_base, tsc_aux, tsc_offset, pat, misc_enable,
	    sysenter_cs, sysenter_esp, sysenter_eip, mtrr_def_type, mtrr_fixed[11], mtrr_var[16],
	    mcg_status, mcg_ctl, spec_ctrl, tsc_adjust, feature_control;
	uint64_t dr[8];

	/* Events (SDM Vol. 3 6.7-6.9). */
	bool nmi_masked; /* an NMI handler runs: no NMI until IRET */
	bool nmi_pending;
	uint8_t shadow;	   /* 1: STI, 2: MOV SS/POP SS: no interrupt before the next instruction */
	int8_t ext_vector; /* an external interrupt acknowledged but not yet delivered, or -1 */
	enum vcpu_mp_state mp_state;
	int delivering; /* -2 after a triple fault */
	/* An event vcpu_set_state handed over (pending exception, injected interrupt). */
	bool inject, inject_has_code;
	uint8_t inject_vector;
	uint32_t inject_code;
	int inject_irq;

	/* The last #GP(0) raised was for a non-canonical address (it may become #SS). */
	bool noncanonical;
	/* The last page emu_fetch_page() returned: its guest-physical address. */
	uint64_t fetch_gpa;

	/* A locked instruction in flight (sysmem.c). */
	bool locked, lock_retry, lock_fallback, lock_have;
	struct tlb_entry *lock_tlb; /* the TLB in use outside the locked instruction */
	uint8_t *lock_host;
	unsigned lock_size;
	uint64_t lock_old;

	/* Odd while the CPU may be inside an instruction (from emu_sys_run's start to its return,
	 * but not while it sleeps halted), and moved on at every slice boundary: a thread that
	 * took write permission away (emu_machine_log_fetch) waits for it to change, after which
	 * no write through the old permission can still land. */
	_Atomic uint64_t run_seq;

	/* Another thread's requests and wakeups. */
	_Atomic uint32_t requests;
	_Atomic uint32_t wake; /* futex word: bumped by every kick */
	pthread_mutex_t inv_lock;
	uint64_t inv_pages[EMU_INV_QUEUE];
	unsigned inv_count;
	bool inv_all;

	/* Tests and fuzzing: when nonzero, emu_sys_run returns VCPU_EXIT_INTERRUPTED once this
	 * many instructions ran in it, or instead of sleeping. */
	uint64_t run_budget;
	/* GUREUM_EMU_PROFILE set: where slices end, by 64-byte guest code line (emu_sys_profile).
	 */
	struct emu_profile_slot {
		uint64_t line, count;
	} * profile;
	char error[128]; /* why the CPU stopped with EMU_EXIT_INTERNAL */
	uint64_t next_timer_check;
	struct emu_sys_stats stats;
};

/* ---- machine ---- */

struct emu_machine *emu_machine_create(const struct emu_cpu_model *model,
				       const struct guest_clock *clock, unsigned nr_vcpus);
void emu_machine_destroy(struct emu_machine *m);
/* RAM at [gpa, gpa + size) backed by `host` (regions do not overlap; one at the same gpa is
 * replaced, size 0 removes it). Returns 0 or -errno. */
int emu_machine_map(struct emu_machine *m, uint64_t gpa, uint64_t size, void *host, bool readonly);
/* The region at `gpa` is at `new_gpa` from now on, its host memory, code map and write log
 * kept; every vCPU drops its translations at its next slice boundary. Until then a vCPU may
 * still reach the same host memory through the old address, which is harmless: the memory is
 * the same and its writes are logged. 0, -ENOENT, or -EEXIST (it would overlap a region). */
int emu_machine_move(struct emu_machine *m, uint64_t gpa, uint64_t new_gpa);
/* A device wrote [gpa, gpa + len): every vCPU drops the code it decoded there. */
void emu_machine_written(struct emu_machine *m, uint64_t gpa, uint64_t len);
/* The CPU whose vcpu_run is on this thread (NULL: none). */
void emu_sys_set_current(struct emu_cpu *cpu);
/* The log of writes to one RAM region (write_log.c): start logging the region mapped at `gpa`;
 * fetch ORs into `bitmap` (bit p of word p / 64 for page p) the pages written since the last
 * fetch and makes their next writes take the slow path again; it returns once every vCPU that
 * was inside an instruction has finished it, so the pixels of every write it reports are in
 * memory (or, after a few milliseconds of waiting, reports those pages again next time).
 * 0 or -errno (-ENOENT: no region at gpa; -EINVAL: size is not the region's). */
int emu_machine_log_start(struct emu_machine *m, uint64_t gpa);
int emu_machine_log_fetch(struct emu_machine *m, uint64_t gpa, uint64_t size, uint64_t *bitmap);
/* The region at exactly `gpa` (write_log.c and sysmem.c), or NULL. */
struct emu_ram *emu_machine_region(struct emu_machine *m, uint64_t gpa);

/* Host address of guest-physical [gpa, gpa + len) when that is all RAM, else NULL. */
uint8_t *emu_machine_ram(struct emu_machine *m, uint64_t gpa, uint64_t len);

/* ---- the CPU ---- */

/* vCPU `index` of machine `m`, in the architectural reset state (real mode, f000:fff0). */
struct emu_cpu *emu_cpu_create_system(struct emu_machine *m, unsigned index,
				      const struct accel_vcpu_hooks *hooks);

/* After the caller changed cpu->state (vcpu_set_state, INIT): recomputes CPL, mode, TLB
 * context and drops all TLB entries and decoded code. */
void emu_sys_state_changed(struct emu_cpu *cpu);
/* Power-on or INIT state (SDM Vol. 3 Table 10-1); INIT keeps the MSRs and x87/SSE state. */
void emu_sys_reset(struct emu_cpu *cpu, bool init);

/* ---- sysmem.c ---- */

/* Linear accesses in system mode: the slow paths behind emu_read/emu_write (mem.c). */
bool emu_sys_access(struct emu_cpu *cpu, uint64_t lin, void *buf, unsigned len,
		    enum emu_access access, bool is_write);
bool emu_sys_probe(struct emu_cpu *cpu, uint64_t lin, unsigned len, enum emu_access access);
uint8_t *emu_sys_fetch_page(struct emu_cpu *cpu, uint64_t page);
/* Implicit supervisor-mode accesses (descriptor tables, IDT, TSS): as at CPL 0, SMAP applies
 * whatever EFLAGS.AC says, the TLB is not used. False with the fault raised. */
bool emu_sys_read_sup(struct emu_cpu *cpu, uint64_t lin, void *buf, unsigned len);
bool emu_sys_write_sup(struct emu_cpu *cpu, uint64_t lin, const void *buf, unsigned len);
/* Guest-physical accesses (RAM, ROM, MMIO). */
void emu_sys_phys_read(struct emu_cpu *cpu, uint64_t gpa, void *buf, unsigned len);
void emu_sys_phys_write(struct emu_cpu *cpu, uint64_t gpa, const void *buf, unsigned len);

/* Picks the TLB for the current CPL and EFLAGS.AC (call after either may have changed). */
void emu_sys_tlb_select(struct emu_cpu *cpu);
/* Drops translations: all (global ones too when `global`), one page, one PCID's. */
void emu_sys_tlb_flush(struct emu_cpu *cpu, bool global);
void emu_sys_tlb_flush_page(struct emu_cpu *cpu, uint64_t lin);
/* Decoded code: a block at guest-physical page `gpa` was decoded (protect it from writes). */
void emu_sys_code_added(struct emu_cpu *cpu, uint64_t gpa);
/* Is the block still reachable as decoded (the linear pages map to the same frames)? */
bool emu_sys_block_valid(struct emu_cpu *cpu, const struct emu_block *b);
/* LOCK-prefixed instructions and XCHG with memory, atomic across vCPUs. */
int emu_sys_locked_step(struct emu_cpu *cpu, const struct emu_insn *i);
int emu_sys_locked_fast(struct emu_cpu *cpu, const struct emu_insn *i);
/* Requests from other threads: drops code the queue names. */
void emu_sys_process_invalidations(struct emu_cpu *cpu);

/* ---- sysseg.c ---- */

enum emu_event_kind {
	EMU_EVENT_EXCEPTION, /* fault or trap raised by the CPU */
	EMU_EVENT_SOFTWARE,  /* INT n, INT3, INTO: DPL checked, RIP after the instruction */
	EMU_EVENT_EXTERNAL,  /* an interrupt from the LAPIC/PIC */
	EMU_EVENT_NMI,
};

/* Delivers an event through the IVT or IDT (SDM Vol. 3 6.12, 6.14); a fault while doing so
 * becomes a double fault, a fault delivering that a triple fault. Returns false on a triple
 * fault or an internal error (cpu->pending says which). */
bool emu_sys_deliver(struct emu_cpu *cpu, enum emu_event_kind kind, uint8_t vector, bool has_code,
		     uint32_t code);

/* Segment register loads (MOV, POP, LDS...): the checks and faults of protected mode, plain
 * base = selector << 4 in real and virtual-8086 mode. False with the fault raised. */
bool emu_sys_load_seg(struct emu_cpu *cpu, unsigned sreg, uint16_t selector);
/* The 8-byte descriptor of `selector` (GDT or LDT): false with #GP(selector) raised when it is
 * outside the table. */
bool emu_sys_read_descriptor(struct emu_cpu *cpu, uint16_t selector, uint64_t *desc);
void emu_sys_unpack_descriptor(uint64_t desc, uint16_t selector, struct vcpu_segment *s);

/* Far transfers; handlers return their result (EMU_BRANCH or EMU_STOP). */
int emu_sys_far_jmp(struct emu_cpu *cpu, const struct emu_insn *i, uint16_t sel, uint64_t off);
int emu_sys_far_call(struct emu_cpu *cpu, const struct emu_insn *i, uint16_t sel, uint64_t off);
int emu_sys_far_ret(struct emu_cpu *cpu, const struct emu_insn *i, uint16_t pop_bytes);
int emu_sys_iret(struct emu_cpu *cpu, const struct emu_insn *i);

/* Recomputes cpu->mode, ctx (block key) and the TLB after CS, CR0 or EFER changed. */
void emu_sys_mode_changed(struct emu_cpu *cpu);

/* ---- msr.c ---- */

/* 0, or -1 for #GP. */
int emu_sys_rdmsr(struct emu_cpu *cpu, uint32_t index, uint64_t *value);
int emu_sys_wrmsr(struct emu_cpu *cpu, uint32_t index, uint64_t value);
void emu_sys_cpuid(struct emu_cpu *cpu, uint32_t leaf, uint32_t subleaf, uint32_t out[4]);
/* What vCPU `index` of `machine` reads with CPUID while its CR4 is `cr4`: the model's leaves,
 * the machine's (topology, hypervisor, system features), masked by a --cpu-model. */
void emu_machine_cpuid(const struct emu_machine *machine, unsigned index, uint64_t cr4,
		       uint32_t leaf, uint32_t subleaf, uint32_t out[4]);
uint64_t emu_sys_tsc(struct emu_cpu *cpu);
/* The MSRs a vcpu_state carries, to and from it. */
void emu_sys_save_msrs(struct emu_cpu *cpu, struct vcpu_state *st);
void emu_sys_load_msrs(struct emu_cpu *cpu, const struct vcpu_state *st);

/* ---- sys_run.c ---- */

/* Runs until the VMM must look (kick, triple fault, internal error, reset...). */
int emu_sys_run(struct emu_cpu *cpu, struct vcpu_exit *exit);
void emu_sys_kick(struct emu_cpu *cpu);
/* With GUREUM_EMU_PROFILE in the environment: prints the guest code lines (64 bytes) where the
 * most slices ended, a sample of where the guest spends its time. */
void emu_sys_profile_dump(struct emu_cpu *cpu);

/* Raises the internal error that stops the CPU (a guest did something this CPU does not
 * implement); `fmt` says what. */
int emu_sys_internal(struct emu_cpu *cpu, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static inline bool emu_sys_long_mode(const struct emu_cpu *cpu)
{
	return cpu->state.efer & X86_EFER_LMA;
}

static inline bool emu_sys_protected(const struct emu_cpu *cpu)
{
	return cpu->state.cr0 & X86_CR0_PE;
}

static inline bool emu_sys_vm86(const struct emu_cpu *cpu)
{
	return cpu->flags & (1u << 17);
}

static inline unsigned emu_iopl(const struct emu_cpu *cpu)
{
	return (unsigned)(cpu->flags >> 12) & 3;
}

#define X86_CR0_TS	   (1ULL << 3)
#define X86_CR0_EM	   (1ULL << 2)
#define X86_CR0_AM	   (1ULL << 18)
#define X86_CR0_NW	   (1ULL << 29)
#define X86_CR0_CD	   (1ULL << 30)
#define X86_CR4_VME	   (1ULL << 0)
#define X86_CR4_PVI	   (1ULL << 1)
#define X86_CR4_TSD	   (1ULL << 2)
#define X86_CR4_DE	   (1ULL << 3)
#define X86_CR4_PSE	   (1ULL << 4)
#define X86_CR4_MCE	   (1ULL << 6)
#define X86_CR4_PGE	   (1ULL << 7)
#define X86_CR4_PCE	   (1ULL << 8)
#define X86_CR4_OSFXSR	   (1ULL << 9)
#define X86_CR4_OSXMMEXCPT (1ULL << 10)
#define X86_CR4_UMIP	   (1ULL << 11)
#define X86_CR4_FSGSBASE   (1ULL << 16)
#define X86_CR4_PCIDE	   (1ULL << 17)
#define X86_CR4_OSXSAVE	   (1ULL << 18)
#define X86_CR4_SMEP	   (1ULL << 20)
#define X86_CR4_SMAP	   (1ULL << 21)
#define FL_IOPL		   0x3000u
#define FL_NT		   0x4000u
#define FL_RF		   0x10000u
#define FL_VM		   0x20000u
#define FL_VIF		   0x80000u
#define FL_VIP		   0x100000u

#endif
