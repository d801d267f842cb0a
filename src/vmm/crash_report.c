/* What a user sees when a guest dies: the vCPU's registers, enough to find the fault. */
#include "vmm/vm.h"

#include <stdio.h>
#include <stdlib.h>

static void print_segment(const char *name, const struct vcpu_segment *s)
{
	fprintf(stderr,
		"  %-4s sel=%04x base=%016llx limit=%08x type=%x p=%u dpl=%u db=%u l=%u g=%u\r\n",
		name, s->selector, (unsigned long long)s->base, s->limit, s->type, s->present,
		s->dpl, s->db, s->l, s->g);
}

void vm_report_vcpu_state(struct vm_vcpu *vcpu)
{
	struct vcpu_state *s = malloc(sizeof(*s));
	if (!s)
		return;
	if (vcpu->vm->accel->vcpu_get_state(vcpu->accel_vcpu, s) < 0) {
		fprintf(stderr, "gureum: (the state of vCPU %u cannot be read)\r\n", vcpu->index);
		free(s);
		return;
	}
	static const char *const gpr_names[GPR_COUNT] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp",
							 "rsi", "rdi", "r8",  "r9",  "r10", "r11",
							 "r12", "r13", "r14", "r15"};
	fprintf(stderr, "gureum: vCPU %u state:\r\n", vcpu->index);
	fprintf(stderr, "  rip=%016llx rflags=%016llx\r\n", (unsigned long long)s->rip,
		(unsigned long long)s->rflags);
	for (int i = 0; i < GPR_COUNT; i += 4)
		fprintf(stderr, "  %-3s=%016llx %-3s=%016llx %-3s=%016llx %-3s=%016llx\r\n",
			gpr_names[i], (unsigned long long)s->gpr[i], gpr_names[i + 1],
			(unsigned long long)s->gpr[i + 1], gpr_names[i + 2],
			(unsigned long long)s->gpr[i + 2], gpr_names[i + 3],
			(unsigned long long)s->gpr[i + 3]);
	static const char *const seg_names[SREG_COUNT] = {"es", "cs", "ss", "ds", "fs", "gs"};
	for (int i = 0; i < SREG_COUNT; i++)
		print_segment(seg_names[i], &s->seg[i]);
	print_segment("tr", &s->tr);
	fprintf(stderr, "  gdt=%016llx/%04x idt=%016llx/%04x\r\n", (unsigned long long)s->gdt.base,
		s->gdt.limit, (unsigned long long)s->idt.base, s->idt.limit);
	fprintf(stderr, "  cr0=%016llx cr2=%016llx cr3=%016llx cr4=%016llx efer=%016llx\r\n",
		(unsigned long long)s->cr0, (unsigned long long)s->cr2, (unsigned long long)s->cr3,
		(unsigned long long)s->cr4, (unsigned long long)s->efer);
	free(s);
}
