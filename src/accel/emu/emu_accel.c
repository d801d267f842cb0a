/* The software CPU as an accelerator ("emu"): struct accel_ops over the system-mode CPU
 * (sys.h). No in-kernel irqchip: the VMM's pc_irqchip delivers interrupts through the hooks
 * each vCPU is given, and port I/O and MMIO go to the hooks synchronously, so vcpu_run never
 * returns IO or MMIO exits. Guest RAM is the memory the VMM maps; everything else is MMIO. */
#include "accel/accel.h"
#include "accel/cpu_features.h"
#include "accel/emu/cpuid.h"
#include "accel/emu/sys.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_TSC_HZ 2500000000ULL

struct accel_vm {
	struct emu_machine *machine;
	/* The model with a --cpu-model's feature mask (the table's models are shared). */
	struct emu_cpu_model model;
	uint32_t feature_keep[CPU_FEATURE_WORDS];
	struct guest_clock own_clock;
	uint64_t created_ns;
	pthread_mutex_t lock;
	struct accel_vcpu *vcpus[EMU_MAX_VCPUS];
};

struct accel_vcpu {
	struct accel_vm *vm;
	struct emu_cpu *cpu;
	unsigned index;
};

static bool emu_probe(char *why, size_t why_len, char *note, size_t note_len)
{
	if (why_len)
		why[0] = 0;
	if (note_len)
		note[0] = 0;
	return true;
}

static int emu_vm_create(const struct accel_vm_config *config, struct accel_vm **out, char *err,
			 size_t err_len)
{
	/* Default: the Intel model, whatever the host: Linux reads its TSC frequency from CPUID
	 * 0x15 and skips calibrating against the PIT, which emulation on a busy host makes
	 * jittery. On AMD (amd-zen) Linux 6.1 has no CPUID source for it and calibrates. */
	const struct emu_cpu_model *model = emu_cpu_model_find("intel-skylake");
	if (config->cpu_model) {
		model = emu_cpu_model_find(config->cpu_model);
		if (!model) {
			snprintf(err, err_len, "unknown CPU model '%s' (intel-skylake, amd-zen)",
				 config->cpu_model);
			return -EINVAL;
		}
	}
	unsigned n = config->nr_vcpus ? config->nr_vcpus : 1;
	if (n > EMU_MAX_VCPUS) {
		snprintf(err, err_len, "at most %d vCPUs", EMU_MAX_VCPUS);
		return -EINVAL;
	}
	struct accel_vm *vm = calloc(1, sizeof(*vm));
	if (!vm) {
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	const struct guest_clock *clock = config->clock;
	if (!clock) {
		guest_clock_init(&vm->own_clock, DEFAULT_TSC_HZ);
		clock = &vm->own_clock;
	}
	vm->model = *model;
	if (config->cpu_feature_keep) {
		memcpy(vm->feature_keep, config->cpu_feature_keep, sizeof(vm->feature_keep));
		vm->model.feature_keep = vm->feature_keep;
	}
	vm->machine = emu_machine_create(&vm->model, clock, n);
	if (!vm->machine) {
		free(vm);
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&vm->lock, NULL);
	vm->created_ns = guest_clock_host_ns();
	*out = vm;
	return 0;
}

static void emu_vcpu_destroy(struct accel_vcpu *vcpu)
{
	if (!vcpu)
		return;
	struct accel_vm *vm = vcpu->vm;
	pthread_mutex_lock(&vm->lock);
	vm->vcpus[vcpu->index] = NULL;
	pthread_mutex_unlock(&vm->lock);
	pthread_mutex_lock(&vm->machine->lock);
	atomic_store(&vm->machine->cpus[vcpu->index], NULL);
	pthread_mutex_unlock(&vm->machine->lock);
	struct emu_sys *s = vcpu->cpu->sys;
	emu_sys_profile_dump(vcpu->cpu);
	free(s->profile);
	pthread_mutex_destroy(&s->inv_lock);
	free(s);
	vcpu->cpu->sys = NULL;
	emu_cpu_destroy(vcpu->cpu);
	free(vcpu);
}

static void emu_vm_destroy(struct accel_vm *vm)
{
	if (!vm)
		return;
	for (unsigned k = 0; k < EMU_MAX_VCPUS; k++)
		if (vm->vcpus[k])
			emu_vcpu_destroy(vm->vcpus[k]);
	emu_machine_destroy(vm->machine);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
}

static int emu_map_memory(struct accel_vm *vm, uint64_t gpa, uint64_t size, void *host,
			  bool readonly)
{
	return emu_machine_map(vm->machine, gpa, size, host, readonly);
}

/* The VMM's pc_irqchip routes interrupts; doorbells reach devices through the MMIO bus. */
static struct irq_router emu_irq_router(struct accel_vm *vm)
{
	(void)vm;
	return (struct irq_router){0};
}

static struct kick_router emu_kick_router(struct accel_vm *vm)
{
	(void)vm;
	return (struct kick_router){0};
}

static int emu_vcpu_create(struct accel_vm *vm, unsigned index,
			   const struct accel_vcpu_hooks *hooks, struct accel_vcpu **out)
{
	if (!hooks)
		return -EINVAL; /* no in-kernel irqchip: the VMM's hooks are required */
	if (index >= vm->machine->nr_vcpus || vm->vcpus[index])
		return -EINVAL;
	struct accel_vcpu *vcpu = calloc(1, sizeof(*vcpu));
	if (!vcpu)
		return -ENOMEM;
	pthread_mutex_lock(&vm->machine->lock);
	vcpu->cpu = emu_cpu_create_system(vm->machine, index, hooks);
	pthread_mutex_unlock(&vm->machine->lock);
	if (!vcpu->cpu) {
		free(vcpu);
		return -ENOMEM;
	}
	vcpu->vm = vm;
	vcpu->index = index;
	pthread_mutex_lock(&vm->lock);
	vm->vcpus[index] = vcpu;
	pthread_mutex_unlock(&vm->lock);
	*out = vcpu;
	return 0;
}

static int emu_vcpu_get_state(struct accel_vcpu *vcpu, struct vcpu_state *state)
{
	struct emu_cpu *cpu = vcpu->cpu;
	struct emu_sys *s = cpu->sys;
	*state = cpu->state;
	state->version = VCPU_STATE_VERSION;
	state->rflags |= X86_RFLAGS_FIXED;
	state->nr_msrs = 0;
	emu_sys_save_msrs(cpu, state);
	state->cr8 = s->hooks.get_tpr ? (uint64_t)(s->hooks.get_tpr(s->hooks.opaque) >> 4) : 0;
	memset(&state->events, 0, sizeof(state->events));
	state->events.nmi.masked = s->nmi_masked;
	state->events.nmi.pending = s->nmi_pending;
	state->events.interrupt.shadow = s->shadow;
	if (s->inject) {
		state->events.exception.pending = true;
		state->events.exception.vector = s->inject_vector;
		state->events.exception.has_error_code = s->inject_has_code;
		state->events.exception.error_code = s->inject_code;
	}
	state->mp_state = s->mp_state;
	memcpy(state->dr, s->dr, sizeof(state->dr));
	state->dr6 = s->dr[6];
	state->dr7 = s->dr[7];
	state->has_lapic = false;
	state->apic_base = 0xfee00000ULL | (1u << 11) | (vcpu->index == 0 ? 1u << 8 : 0);
	if (s->hooks.save_lapic)
		return s->hooks.save_lapic(s->hooks.opaque, state);
	return 0;
}

static int emu_vcpu_set_state(struct accel_vcpu *vcpu, const struct vcpu_state *state)
{
	struct emu_cpu *cpu = vcpu->cpu;
	struct emu_sys *s = cpu->sys;
	struct vcpu_state *st = &cpu->state;
	*st = *state;
	st->nr_msrs = 0;
	if (!(st->xcr0 & 1))
		st->xcr0 = 1;
	st->xcr0 &= 3;
	st->efer &= X86_EFER_SCE | X86_EFER_LME | X86_EFER_LMA | X86_EFER_NXE;
	emu_sys_load_msrs(cpu, state);
	s->nmi_masked = state->events.nmi.masked;
	s->nmi_pending = state->events.nmi.pending || state->events.nmi.injected;
	s->shadow = state->events.interrupt.shadow ? 1 : 0;
	s->inject = state->events.exception.pending || state->events.exception.injected;
	s->inject_vector = state->events.exception.vector;
	s->inject_has_code = state->events.exception.has_error_code;
	s->inject_code = state->events.exception.error_code;
	s->inject_irq = state->events.interrupt.injected ? state->events.interrupt.vector : -1;
	s->mp_state = state->mp_state;
	/* DR4/DR5 alias DR6/DR7 (op_mov_dr), so only 0-3, 6 and 7 hold anything. */
	memcpy(s->dr, state->dr, sizeof(state->dr));
	s->dr[6] = state->dr6;
	s->dr[7] = state->dr7;
	emu_sys_state_changed(cpu);
	if (state->has_lapic && s->hooks.load_lapic) {
		int rc = s->hooks.load_lapic(s->hooks.opaque, state);
		if (rc < 0)
			return rc;
	} else if (s->hooks.set_tpr) {
		s->hooks.set_tpr(s->hooks.opaque, (uint8_t)((state->cr8 & 0xf) << 4));
	}
	return 0;
}

static int emu_vcpu_run(struct accel_vcpu *vcpu, struct vcpu_exit *exit)
{
	memset(exit, 0, sizeof(*exit));
	emu_sys_set_current(vcpu->cpu);
	int rc = emu_sys_run(vcpu->cpu, exit);
	emu_sys_set_current(NULL);
	if (exit->reason == VCPU_EXIT_INTERNAL_ERROR && vcpu->cpu->sys->error[0])
		fprintf(stderr, "gureum: emu vCPU %u: %s (rip %#llx)\n", vcpu->index,
			vcpu->cpu->sys->error, (unsigned long long)vcpu->cpu->state.rip);
	return rc;
}

static void emu_vcpu_kick(struct accel_vcpu *vcpu)
{
	emu_sys_kick(vcpu->cpu);
}

static void emu_memory_written(struct accel_vm *vm, uint64_t gpa, uint64_t len)
{
	emu_machine_written(vm->machine, gpa, len);
}

static int emu_region_log_start(struct accel_vm *vm, uint64_t gpa)
{
	return emu_machine_log_start(vm->machine, gpa);
}

static int emu_region_log_fetch(struct accel_vm *vm, uint64_t gpa, uint64_t size, uint64_t *bitmap)
{
	return emu_machine_log_fetch(vm->machine, gpa, size, bitmap);
}

static int emu_move_memory(struct accel_vm *vm, uint64_t gpa, uint64_t new_gpa)
{
	return emu_machine_move(vm->machine, gpa, new_gpa);
}

static void add_stat(struct accel_stat *stats, size_t max, size_t *n, const char *name,
		     uint64_t value)
{
	if (*n >= max)
		return;
	snprintf(stats[*n].name, sizeof(stats[*n].name), "%s", name);
	stats[*n].value = value;
	(*n)++;
}

static size_t emu_vm_stats(struct accel_vm *vm, struct accel_stat *stats, size_t max)
{
	struct emu_sys_stats t = {0};
	uint64_t run_ns = 0;
	pthread_mutex_lock(&vm->lock);
	for (unsigned k = 0; k < EMU_MAX_VCPUS; k++) {
		struct accel_vcpu *v = vm->vcpus[k];
		if (!v)
			continue;
		const struct emu_sys_stats *s = &v->cpu->sys->stats;
		t.insns += s->insns;
		t.exceptions += s->exceptions;
		t.interrupts += s->interrupts;
		t.halts += s->halts;
		t.pio += s->pio;
		t.mmio += s->mmio;
		t.tlb_fills += s->tlb_fills;
		t.tlb_flushes += s->tlb_flushes;
		t.block_lookups += s->block_lookups;
		t.block_decodes += s->block_decodes;
		t.smc_invalidations += s->smc_invalidations;
		t.kicks += s->kicks;
		t.cr3_writes += s->cr3_writes;
		t.page_flushes += s->page_flushes;
		run_ns += s->run_ns;
	}
	pthread_mutex_unlock(&vm->lock);
	size_t n = 0;
	add_stat(stats, max, &n, "instructions", t.insns);
	add_stat(stats, max, &n, "MIPS (while running)", run_ns ? t.insns * 1000 / run_ns : 0);
	add_stat(stats, max, &n, "run time ms (all vCPUs)", run_ns / 1000000);
	add_stat(stats, max, &n, "exits: port I/O", t.pio);
	add_stat(stats, max, &n, "exits: MMIO", t.mmio);
	add_stat(stats, max, &n, "exits: HLT", t.halts);
	add_stat(stats, max, &n, "exits: kicks", t.kicks);
	add_stat(stats, max, &n, "exceptions delivered", t.exceptions);
	add_stat(stats, max, &n, "interrupts delivered", t.interrupts);
	add_stat(stats, max, &n, "TLB fills (misses)", t.tlb_fills);
	add_stat(stats, max, &n, "TLB fills per 1000 instructions",
		 t.insns ? t.tlb_fills * 1000 / t.insns : 0);
	add_stat(stats, max, &n, "TLB flushes", t.tlb_flushes);
	add_stat(stats, max, &n, "TLB page flushes (INVLPG, INVPCID)", t.page_flushes);
	add_stat(stats, max, &n, "CR3 writes", t.cr3_writes);
	add_stat(stats, max, &n, "block lookups (hashed)", t.block_lookups);
	add_stat(stats, max, &n, "block cache hit % of lookups",
		 t.block_lookups ? (t.block_lookups - t.block_decodes) * 100 / t.block_lookups : 0);
	add_stat(stats, max, &n, "blocks decoded", t.block_decodes);
	add_stat(stats, max, &n, "code invalidations (SMC, DMA)", t.smc_invalidations);
	return n;
}

/* The vCPU's thread writes its counters with plain stores; another thread reads each with a
 * relaxed atomic load: an aligned 64-bit load is never torn on x86-64, and each counter only
 * grows, so a reader sees a value the counter had. */
static uint64_t read_counter(const uint64_t *counter)
{
	return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

static size_t emu_vcpu_stats(struct accel_vcpu *vcpu, struct accel_stat *stats, size_t max)
{
	const struct emu_sys_stats *s = &vcpu->cpu->sys->stats;
	size_t n = 0;
	add_stat(stats, max, &n, "instructions", read_counter(&s->insns));
	add_stat(stats, max, &n, "run_ns", read_counter(&s->run_ns));
	add_stat(stats, max, &n, "pio", read_counter(&s->pio));
	add_stat(stats, max, &n, "mmio", read_counter(&s->mmio));
	add_stat(stats, max, &n, "halts", read_counter(&s->halts));
	add_stat(stats, max, &n, "kicks", read_counter(&s->kicks));
	add_stat(stats, max, &n, "exceptions", read_counter(&s->exceptions));
	add_stat(stats, max, &n, "interrupts", read_counter(&s->interrupts));
	add_stat(stats, max, &n, "tlb_fills", read_counter(&s->tlb_fills));
	add_stat(stats, max, &n, "tlb_flushes", read_counter(&s->tlb_flushes));
	add_stat(stats, max, &n, "page_flushes", read_counter(&s->page_flushes));
	add_stat(stats, max, &n, "cr3_writes", read_counter(&s->cr3_writes));
	add_stat(stats, max, &n, "block_lookups", read_counter(&s->block_lookups));
	add_stat(stats, max, &n, "block_decodes", read_counter(&s->block_decodes));
	add_stat(stats, max, &n, "smc_invalidations", read_counter(&s->smc_invalidations));
	return n;
}

static int emu_guest_cpuid(struct accel_vm *vm, uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
	emu_machine_cpuid(vm->machine, 0, 0, leaf, subleaf, out);
	return 0;
}

/* Shows the guest the CPU it saw where its state was saved (another host, or KVM): that
 * vendor's identity, and of the features this CPU offers only those it saw. Before any vCPU
 * runs. */
static int emu_adopt_guest_cpu(struct accel_vm *vm, const struct cpu_features *saved)
{
	const char *name = memcmp(saved->vendor, "AuthenticAMD", 12) == 0   ? "amd-zen"
			   : memcmp(saved->vendor, "GenuineIntel", 12) == 0 ? "intel-skylake"
									    : NULL;
	const struct emu_cpu_model *model = name ? emu_cpu_model_find(name) : NULL;
	if (!model)
		return -ENOTSUP;
	uint32_t keep[CPU_FEATURE_WORDS];
	for (unsigned i = 0; i < CPU_FEATURE_WORDS; i++)
		keep[i] =
		    (vm->model.feature_keep ? vm->model.feature_keep[i] : ~0u) & saved->words[i];
	memcpy(vm->feature_keep, keep, sizeof(keep));
	vm->model = *model;
	vm->model.feature_keep = vm->feature_keep;
	return 0;
}

const struct accel_ops emu_accel_ops = {
    .name = "emu",
    .in_kernel_irqchip = false,
    .tsc_on_guest_clock = true,
    .kick_signal = 0, /* kicks wake a futex and set a flag the run loop polls */
    .probe = emu_probe,
    .vm_create = emu_vm_create,
    .vm_destroy = emu_vm_destroy,
    .map_memory = emu_map_memory,
    .irq_router = emu_irq_router,
    .kick_router = emu_kick_router,
    .vcpu_create = emu_vcpu_create,
    .vcpu_destroy = emu_vcpu_destroy,
    .vcpu_get_state = emu_vcpu_get_state,
    .vcpu_set_state = emu_vcpu_set_state,
    .vcpu_run = emu_vcpu_run,
    .vcpu_kick = emu_vcpu_kick,
    .memory_written = emu_memory_written,
    .region_log_start = emu_region_log_start,
    .region_log_fetch = emu_region_log_fetch,
    .move_memory = emu_move_memory,
    .vm_stats = emu_vm_stats,
    .vcpu_stats = emu_vcpu_stats,
    .guest_cpuid = emu_guest_cpuid,
    .adopt_guest_cpu = emu_adopt_guest_cpu,
};
