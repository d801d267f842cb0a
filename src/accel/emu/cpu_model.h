/* Named CPU models of the software CPU: the identity it reports (vendor, family, model,
 * stepping, brand string) and the behaviours in which Intel and AMD processors differ and the
 * emulator follows the vendor it claims to be.
 *
 * CPUID is derived from the model (cpuid.c): the vendor string, the signature and the feature
 * bits that describe a behaviour (CPUID.(7,0):EBX[6] FDP_EXCPTN_ONLY, EBX[13] FCS/FDS
 * deprecation, CPUID 0x80000008:EBX[2] XSaveErPtr) always agree with what the emulator does.
 * The instruction set itself is the same for every model (what the emulator implements, SSE
 * levels as far as the host can run them); only the vendor behaviours below differ.
 *
 * A model is constant data: the emulator, emu-user and (later) system mode share the table, and
 * a CPU keeps a pointer to its model for its lifetime. */
#ifndef GUREUM_ACCEL_EMU_CPU_MODEL_H
#define GUREUM_ACCEL_EMU_CPU_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum emu_vendor { EMU_VENDOR_INTEL, EMU_VENDOR_AMD };

struct emu_cpu_model {
	const char *name;  /* what a user selects it by: "intel-skylake", "amd-zen" */
	const char *brand; /* CPUID 0x80000002-0x80000004, at most 47 characters */
	enum emu_vendor vendor;
	uint16_t family; /* the display family (base + extended): 6, 0x17 */
	uint8_t model;	 /* the display model (extended model << 4 | model) */
	uint8_t stepping;
	/* CPU_FEATURE_WORDS words: the CPUID feature bits shown (a system VM's --cpu-model);
	 * NULL (the table's models) shows every feature the emulator has. */
	const uint32_t *feature_keep;

	/* ---- x87 pointers: FOP, FIP (with FCS) and FDP (with FDS) ----
	 * Every non-control x87 instruction sets FIP (and FCS) to its own address; FOP and FDP
	 * follow the rules below. MMX instructions leave all of them alone. */

	/* FXSAVE and XSAVE store FOP, FIP, FDP (and FCS, FDS) as zero unless an unmasked x87
	 * exception is pending (FSW.ES = 1). AMD before XSaveErPtr (CPUID 0x80000008:EBX[2]);
	 * FNSTENV and FNSAVE store them always. Linux calls this X86_BUG_FXSAVE_LEAK. */
	bool x87_ptrs_saved_only_with_es;
	/* FOP is updated only by an instruction that incurs an unmasked x87 exception (Intel
	 * since the Pentium 4 with fopcode compatibility mode off, its default); otherwise by
	 * every non-control instruction (AMD). */
	bool x87_fop_only_on_exception;
	/* FDP and FDS are updated only by an instruction with a memory operand that incurs an
	 * unmasked x87 exception: CPUID.(7,0):EBX[6] FDP_EXCPTN_ONLY (Intel). Otherwise by every
	 * non-control instruction with a memory operand; register forms leave them alone. */
	bool x87_fdp_only_on_exception;
	/* FCS and FDS are stored as zero: CPUID.(7,0):EBX[13] (Intel). Otherwise they hold the
	 * CS selector and the data segment's selector of the last non-control instruction. */
	bool x87_fcs_fds_zero;
	/* An x87 store that an unmasked exception suppresses still checks its destination and
	 * faults (#PF, #GP) if it could not be written (AMD); Intel skips the access. */
	bool x87_suppressed_store_checks_dest;
	/* An MMX store to memory that faults has already moved the x87 stack top to 0, as
	 * every MMX instruction does (Intel); AMD leaves the x87 state untouched. */
	bool mmx_faulting_store_sets_top;

	/* ---- decoding (64-bit mode) ---- */

	/* A 66 prefix gives near branches (Jcc, JMP, CALL, RET, LOOP, JrCXZ, and JMP/CALL
	 * through r/m) a 16-bit operand size: rel16, IP truncated to 16 bits, 2-byte stack
	 * slots (AMD). Intel ignores 66 on them. */
	bool near_branch_66_is_16bit;
	/* 0F 0D (PREFETCH/PREFETCHW) with a register operand is #UD (AMD); Intel runs it as a
	 * NOP. */
	bool prefetch_register_form_ud;
	/* F3 90 is PAUSE even with REX.B (Intel); AMD decodes F3 REX.B 90 as XCHG r8, rAX. */
	bool pause_ignores_rex_b;
	/* A REPE (F3) or REPNE (F2) prefix on LOOPE/LOOPNE replaces the condition: the last of
	 * them makes it loop while ZF = 1 (F3) or ZF = 0 (F2) (AMD); Intel ignores them. */
	bool loopcc_rep_selects_condition;
	/* 8F followed by a byte whose low 5 bits are 8 or more starts an XOP instruction (AMD):
	 * none is implemented (#UD), but its length is decoded first (two XOP bytes, opcode,
	 * ModRM, an imm32 in map 0Ah), and more than 15 bytes is #GP (unless a REX comes right
	 * before the 8F: #UD at once). Intel decodes 8F /r. */
	bool xop_length_decoded;
	/* LOCK MOV CR0 is MOV CR8, for code outside 64-bit mode (AMD's AltMovCr8, CPUID
	 * 0x80000001 ECX bit 4, which AMD's CPUs and KVM on them offer). */
	bool lock_mov_cr0_is_cr8;

	/* ---- execution ---- */

	/* JMP/CALL far through memory (FF /5, FF /3) in 64-bit mode ignore REX.W and read
	 * m16:32 (AMD); Intel reads m16:64 with REX.W. */
	bool far_indirect_ignores_rex_w;

	/* CMPS reads ES:rDI before DS:rSI, which decides the fault when both fault (Intel). */
	bool cmps_reads_rdi_first;
	/* REP string instructions with a 32-bit address size write ECX, ESI, EDI zero-extended
	 * before the first element, so even a fault there clears their upper halves (Intel);
	 * AMD changes them only as elements complete. */
	bool rep_a32_zero_extends_first;
	/* REP CMPS/SCAS that fault after some elements report the flags the instruction started
	 * with (Intel); AMD reports those of the last element compared. */
	bool rep_fault_restores_flags;
	/* CALL to a non-canonical target stores the return address before the #GP (RSP
	 * unchanged) (Intel); AMD raises #GP before writing anything. */
	bool call_noncanonical_stores_return;
	/* MASKMOVDQU checks its 16 bytes for faults upper quadword first (Intel), lower first
	 * (AMD); the fault is reported at the start of the quadword that faults (or of the page
	 * of the faulting byte if later), whatever the mask. */
	bool maskmovdqu_upper_quadword_first;
};

/* The models, in a fixed order; `*count` receives their number. */
const struct emu_cpu_model *const *emu_cpu_models(size_t *count);
/* The model named `name`, or NULL. */
const struct emu_cpu_model *emu_cpu_model_find(const char *name);
/* The model of `vendor`. */
const struct emu_cpu_model *emu_cpu_model_of_vendor(enum emu_vendor vendor);
/* The vendor whose CPUID vendor string is `id` (12 characters, not terminated); false if
 * there is no model of that vendor. */
bool emu_vendor_from_id(const char id[12], enum emu_vendor *vendor);
/* The model of the host's vendor, or NULL if the host's vendor has none. */
const struct emu_cpu_model *emu_cpu_model_host(void);
/* The model a CPU gets unless its creator names one: the host's vendor's, else Intel's. */
const struct emu_cpu_model *emu_cpu_model_default(void);

/* "GenuineIntel" or "AuthenticAMD". */
const char *emu_vendor_id(enum emu_vendor vendor);
/* CPUID.01H:EAX of the model: stepping, model and family with their extended fields. */
uint32_t emu_cpu_model_signature(const struct emu_cpu_model *m);

#endif
