/* Constants shared by sysbehaviour.c and sysbehaviour_asm.S (usable from both). */
#ifndef GUEST_SYSBEHAVIOUR_H
#define GUEST_SYSBEHAVIOUR_H

/* GDT selectors. SYSCALL takes CS and SS from STAR[47:32] (0x08, 0x10); 64-bit SYSRET takes
 * them from STAR[63:48] (0x18): CS = 0x18 + 16 = 0x28, SS = 0x18 + 8 = 0x20, both with RPL 3. */
#define SEL_KCODE   0x08
#define SEL_KDATA   0x10
#define SEL_UCODE32 0x1b /* 0x18 | 3 */
#define SEL_UDATA   0x23 /* 0x20 | 3 */
#define SEL_UCODE64 0x2b /* 0x28 | 3 */
#define SEL_TSS	    0x30 /* 16 bytes: 0x30 and 0x38 */
#define SEL_KCODE32 0x40 /* compatibility-mode code, DPL 0 */
#define SEL_XO_CODE 0x48 /* 64-bit execute-only code: not loadable into DS */
#define SEL_RO_DATA 0x50 /* read-only data: not loadable into SS */
#define SEL_NP_DATA 0x58 /* writable data, not present */
#define GDT_ENTRIES 12
#define SEL_BEYOND  0x403 /* index 0x80, RPL 3: past the GDT's limit */

/* Vectors with gates of their own (beyond the exceptions 0-31). */
#define VEC_INTR_GATE	 0x21 /* interrupt gate, DPL 0 */
#define VEC_TRAP_GATE	 0x22 /* trap gate, DPL 0 */
#define VEC_IST_GATE	 0x23 /* interrupt gate, DPL 3, IST 2 */
#define VEC_RETURN_GATE	 0x24 /* trap gate, DPL 3, its handler returns */
#define VEC_NOT_PRESENT	 0x25 /* DPL 3, P = 0 */
#define VEC_DONE	 0x80 /* interrupt gate, DPL 3: a ring-3 snippet has finished */
#define IDT_LIMIT_VECTOR 0x90 /* the IDT's limit covers vectors below this */
#define VEC_BEYOND_LIMIT 0xa0

#define NONCANONICAL	0x8000000000000000
#define PAGE_FILL_QWORD 0xc3c3c3c3c3c3c3c3 /* RET x 8: test pages are full of it */

/* SYSCALL from ring 3 with these flags (CF PF AF ZF SF DF OF; IF is already 1 and POPF at
 * CPL 3 cannot change it); SYSRET back with these in R11 (IOPL 3, OF, IF, CF, and the
 * reserved bits 3, 5 and 15, which SYSRET must drop). */
#define SYSCALL_USER_FLAGS 0x0cd5
#define SYSCALL_FMASK	   0x0701 /* TF IF DF CF */
#define SYSRET_R11	   0xba2b

#endif
