/* Instruction handlers. Each executes one decoded instruction (struct emu_insn) against the CPU
 * and returns an enum emu_step. `sub` selects the operation inside a family. */
#ifndef GUREUM_ACCEL_EMU_OPS_H
#define GUREUM_ACCEL_EMU_OPS_H

#include "accel/emu/insn.h"

#include <stdbool.h>
#include <stdint.h>

#define HANDLER(name) int name(struct emu_cpu *cpu, const struct emu_insn *i)

/* ops_alu.c: sub = 0 ADD 1 OR 2 ADC 3 SBB 4 AND 5 SUB 6 XOR 7 CMP */
HANDLER(op_alu_rm_reg);
HANDLER(op_alu_reg_rm);
HANDLER(op_alu_rm_imm);
HANDLER(op_test_rm_reg);
HANDLER(op_test_rm_imm);
HANDLER(op_incdec); /* sub 0 INC 1 DEC */
HANDLER(op_not);
HANDLER(op_neg);

/* ops_muldiv.c: sub 4 MUL 5 IMUL 6 DIV 7 IDIV */
HANDLER(op_muldiv);
HANDLER(op_imul_reg_rm);
HANDLER(op_imul_reg_rm_imm);

/* ops_shift.c: sub 0 ROL 1 ROR 2 RCL 3 RCR 4 SHL 5 SHR 6 SAL 7 SAR */
HANDLER(op_shift_imm);
HANDLER(op_shift_one);
HANDLER(op_shift_cl);
HANDLER(op_shxd_imm); /* sub 0 SHLD 1 SHRD */
HANDLER(op_shxd_cl);

/* ops_bits.c */
HANDLER(op_bt_reg); /* sub 0 BT 1 BTS 2 BTR 3 BTC */
HANDLER(op_bt_imm); /* sub 4 BT 5 BTS 6 BTR 7 BTC */
HANDLER(op_bsf);
HANDLER(op_bsr);
HANDLER(op_tzcnt);
HANDLER(op_lzcnt);
HANDLER(op_popcnt);
HANDLER(op_bswap);
HANDLER(op_andn);
HANDLER(op_bextr);
HANDLER(op_blsx); /* sub 1 BLSR 2 BLSMSK 3 BLSI */
HANDLER(op_bzhi);
HANDLER(op_mulx);
HANDLER(op_pdep);
HANDLER(op_pext);
HANDLER(op_rorx);
HANDLER(op_shiftx); /* sub 0 SHLX 1 SARX 2 SHRX */
HANDLER(op_movbe);
HANDLER(op_crc32);

/* ops_move.c */
HANDLER(op_mov_rm_reg);
HANDLER(op_mov_reg_rm);
HANDLER(op_mov_rm_imm);
HANDLER(op_movzx); /* sub = source size */
HANDLER(op_movsx);
HANDLER(op_movsxd);
HANDLER(op_lea);
HANDLER(op_xchg);
HANDLER(op_xadd);
HANDLER(op_cmpxchg);
HANDLER(op_cmpxchg8b); /* 8B or 16B by operand size */
HANDLER(op_cbw);
HANDLER(op_cwd);
HANDLER(op_cmovcc);
HANDLER(op_setcc);
HANDLER(op_mov_from_sreg);
HANDLER(op_mov_to_sreg);
HANDLER(op_xlat);
HANDLER(op_lahf);
HANDLER(op_sahf);
HANDLER(op_flagop); /* sub 0 CLC 1 STC 2 CMC 3 CLD 4 STD */

/* ops_stack.c */
HANDLER(op_push_reg);
HANDLER(op_pop_reg);
HANDLER(op_push_imm);
HANDLER(op_push_rm);
HANDLER(op_pop_rm);
HANDLER(op_push_seg); /* sub = segment */
HANDLER(op_pop_seg);
HANDLER(op_pushf);
HANDLER(op_popf);
HANDLER(op_enter);
HANDLER(op_leave);

/* ops_branch.c */
HANDLER(op_jmp_rel);
HANDLER(op_jmp_rm);
HANDLER(op_jcc);
HANDLER(op_call_rel);
HANDLER(op_call_rm);
HANDLER(op_ret);
HANDLER(op_loop); /* sub 0 LOOPNE 1 LOOPE 2 LOOP 3 JrCXZ */

/* ops_string.c */
HANDLER(op_movs);
HANDLER(op_stos);
HANDLER(op_lods);
HANDLER(op_cmps);
HANDLER(op_scas);

/* ops_system.c */
HANDLER(op_nop);
HANDLER(op_cpuid);
HANDLER(op_rdtsc);
HANDLER(op_syscall);
HANDLER(op_int3);
HANDLER(op_int);
HANDLER(op_hlt);
HANDLER(op_privileged); /* #GP(0) at CPL 3 */
HANDLER(op_ud);
HANDLER(op_grp15);
HANDLER(op_fwait);

/* ops_sys.c (system mode; a user-mode CPU raises #UD, or #GP at CPL 3 where it did) */
HANDLER(op_cli);
HANDLER(op_sti);
HANDLER(op_io); /* sub: bit 0 OUT, bit 1 port in DX */
HANDLER(op_ins);
HANDLER(op_outs);
HANDLER(op_mov_cr); /* sub 0 read, 1 write */
HANDLER(op_mov_dr);
HANDLER(op_clts);
HANDLER(op_wbinvd);
HANDLER(op_rdmsr);
HANDLER(op_wrmsr);
HANDLER(op_sysret);
HANDLER(op_sysenter);
HANDLER(op_sysexit);
HANDLER(op_grp6);
HANDLER(op_grp7);
HANDLER(op_lar);
HANDLER(op_lsl);
HANDLER(op_invpcid);
HANDLER(op_jmp_far);
HANDLER(op_call_far);
HANDLER(op_far_indirect); /* sub 3 CALL, 5 JMP */
HANDLER(op_retf);
HANDLER(op_iret);
HANDLER(op_lfp); /* sub = segment register */
int emu_sys_pushf(struct emu_cpu *cpu, const struct emu_insn *i);
int emu_sys_popf(struct emu_cpu *cpu, const struct emu_insn *i);
int emu_sys_syscall(struct emu_cpu *cpu, const struct emu_insn *i);
int emu_sys_rdtsc(struct emu_cpu *cpu, bool rdtscp);
int emu_sys_xsave(struct emu_cpu *cpu, const struct emu_insn *i, unsigned op);
int emu_sys_mov_sreg(struct emu_cpu *cpu, const struct emu_insn *i, unsigned sreg, uint16_t sel);
_Bool emu_sys_set_cr0(struct emu_cpu *cpu, uint64_t v);
_Bool emu_sys_set_cr3(struct emu_cpu *cpu, uint64_t v);
_Bool emu_sys_set_cr4(struct emu_cpu *cpu, uint64_t v);

/* ops_legacy.c */
HANDLER(op_daa_das);
HANDLER(op_aaa_aas);
HANDLER(op_aam);
HANDLER(op_aad);
HANDLER(op_pusha);
HANDLER(op_popa);
HANDLER(op_bound);
HANDLER(op_into);
HANDLER(op_int1);
int emu_arpl(struct emu_cpu *cpu, const struct emu_insn *i);

/* ops_x87.c */
HANDLER(op_x87);

/* ops_mmx.c */
HANDLER(op_mmx);
HANDLER(op_emms);

#endif
