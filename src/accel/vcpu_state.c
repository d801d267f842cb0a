#include "accel/vcpu_state.h"

#include <string.h>

static void set_real_mode_segment(struct vcpu_segment *seg, uint16_t selector, uint8_t type)
{
	*seg = (struct vcpu_segment){
	    .base = (uint64_t)selector << 4,
	    .limit = 0xffff,
	    .selector = selector,
	    .type = type,
	    .present = 1,
	    .s = 1,
	};
}

void vcpu_state_reset(struct vcpu_state *state)
{
	memset(state, 0, sizeof(*state));
	state->version = VCPU_STATE_VERSION;
	state->rip = 0xfff0;
	state->rflags = X86_RFLAGS_FIXED;
	state->gpr[GPR_RDX] = 0x600; /* family 6 signature, as hardware after reset */
	for (int i = 0; i < SREG_COUNT; i++)
		set_real_mode_segment(&state->seg[i], 0, 0x3 /* data, read/write, accessed */);
	set_real_mode_segment(&state->seg[SREG_CS], 0xf000, 0xb /* code, exec/read, accessed */);
	state->seg[SREG_CS].base = 0xffff0000;
	state->tr = (struct vcpu_segment){.limit = 0xffff, .type = 0xb, .present = 1};
	state->ldt = (struct vcpu_segment){.limit = 0xffff, .type = 0x2, .present = 1};
	state->gdt.limit = 0xffff;
	state->idt.limit = 0xffff;
	state->cr0 = X86_CR0_ET | 0x60000000; /* CD | NW */
	state->xcr0 = 1;
	state->dr6 = X86_DR6_RESET;
	state->dr7 = X86_DR7_RESET;
	state->apic_base = 0xfee00000 | (1 << 11) | (1 << 8); /* enabled, BSP */
	state->mp_state = VCPU_MP_RUNNABLE;
}

uint64_t vcpu_state_get_msr(const struct vcpu_state *state, uint32_t index, uint64_t fallback)
{
	for (uint32_t i = 0; i < state->nr_msrs; i++)
		if (state->msrs[i].index == index)
			return state->msrs[i].value;
	return fallback;
}

bool vcpu_state_set_msr(struct vcpu_state *state, uint32_t index, uint64_t value)
{
	for (uint32_t i = 0; i < state->nr_msrs; i++) {
		if (state->msrs[i].index == index) {
			state->msrs[i].value = value;
			return true;
		}
	}
	if (state->nr_msrs >= VCPU_MAX_MSRS)
		return false;
	state->msrs[state->nr_msrs++] = (struct vcpu_msr){.index = index, .value = value};
	return true;
}
