/* A paused VM's state as one sequence of records (lib/state_record.h), in a fixed order that
 * the configuration determines: the machine, each vCPU, the accelerator's VM-level state, the
 * userspace irqchip, the board's devices, then each virtio function in slot order. A restore
 * builds the VM from the same configuration and reads the records back in the same order, so
 * a record out of place means another configuration and is refused by name. */
#include "vmm/vm_state.h"

#include "accel/cpu_features.h"
#include "accel/cpu_models.h"
#include "accel/vcpu_state_record.h"
#include "devices/bochs_display.h"
#include "lib/state_record.h"
#include "virtio/virtio_pci.h"
#include "vmm/irqchip_translate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MACHINE_RECORD	       "machine"
#define MACHINE_RECORD_VERSION 1

static const char *const machine_keys[] = {"vcpus",    "memory", "tsc_hz", "tsc",      "accel",
					   "tsc_rate", "virtio", "cpu",	   "realtime", NULL};
static const struct state_reader_spec machine_spec = {MACHINE_RECORD, MACHINE_RECORD_VERSION, 1,
						      machine_keys};

static uint64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* What the configuration decides and a restore must match, and the guest's TSC (the time base
 * of the userspace timers and the software CPU) at the save. */
static void save_machine(struct vm *vm, struct state_writer *w)
{
	state_record_begin(w, MACHINE_RECORD, MACHINE_RECORD_VERSION, 1);
	state_put_u64(w, "vcpus", vm->nr_vcpus, STATE_ESSENTIAL);
	state_put_u64(w, "memory", vm->config->memory, STATE_ESSENTIAL);
	state_put_u64(w, "tsc_hz", vm->clock.tsc_hz, STATE_ESSENTIAL);
	state_put_u64(w, "tsc", guest_clock_tsc(&vm->clock, guest_clock_host_ns()),
		      STATE_ESSENTIAL);
	state_put_bytes(w, "accel", vm->accel->name, strlen(vm->accel->name), STATE_ESSENTIAL);
	state_put_u64(w, "virtio", vm->nr_virtio, STATE_ESSENTIAL);
	uint8_t bytes[CPU_FEATURES_BYTES];
	if (vm_cpu_features_save(vm, bytes))
		state_put_bytes(w, "cpu", bytes, sizeof(bytes), 0);
	/* Optional (older readers skip it): the wall-clock time of `tsc`, so that a load can move
	 * the guest's TSC on by the time the VM was away. */
	state_put_u64(w, "realtime", realtime_ns(), 0);
	/* Optional: the rate of the guest's own TSC, which a load keeps (`tsc_hz` is the VMM
	 * clock's, which under KVM was a fixed 2 GHz that said nothing of the guest's before). */
	state_put_u64(w, "tsc_rate", vm->clock.tsc_hz, 0);
	state_record_end(w);
}

bool vm_cpu_features_save(struct vm *vm, uint8_t bytes[CPU_FEATURES_BYTES])
{
	struct cpu_features cpu;
	if (cpu_features_of_vm(vm->accel, vm->accel_vm, &cpu) < 0)
		return false;
	cpu_features_encode(&cpu, bytes);
	return true;
}

/* Whether the guest may be shown the CPU it saw before (the software CPU can show either
 * vendor and any subset of its features): unless the --cpu-model names a vendor, which fixes
 * it. */
static bool may_adopt_cpu(struct vm *vm)
{
	struct cpu_model model;
	char why[256];
	return vm->accel->adopt_guest_cpu &&
	       cpu_model_parse(vm->config->cpu_model ? vm->config->cpu_model : "host", &model, why,
			       sizeof(why)) == 0 &&
	       !model.vendor[0];
}

int vm_cpu_features_check(struct vm *vm, const uint8_t bytes[CPU_FEATURES_BYTES], char *err,
			  size_t err_len)
{
	static const uint8_t unknown[CPU_FEATURES_BYTES];
	struct cpu_features saved, here;
	if (memcmp(bytes, unknown, sizeof(unknown)) == 0 ||
	    cpu_features_of_vm(vm->accel, vm->accel_vm, &here) < 0)
		return 0;
	cpu_features_decode(bytes, &saved);
	if (may_adopt_cpu(vm) && vm->accel->adopt_guest_cpu(vm->accel_vm, &saved) == 0 &&
	    cpu_features_of_vm(vm->accel, vm->accel_vm, &here) < 0)
		return 0;
	return cpu_features_check(&saved, &here, err, err_len);
}

/* The CPU-compatibility check: every feature the guest saw is offered here (cpu_features.h).
 * Skipped when either side cannot say (an accelerator without guest_cpuid). */
static int check_cpu(struct vm *vm, const struct state_record *rec, char *err, size_t err_len)
{
	const void *bytes;
	uint32_t len;
	if (state_get_bytes(rec, "cpu", &bytes, &len) < 0)
		return 0;
	if (len != CPU_FEATURES_BYTES) {
		state_set_error(err, err_len, "the saved machine's CPU features are malformed");
		return -1;
	}
	return vm_cpu_features_check(vm, bytes, err, err_len);
}

static int check_machine_value(const struct state_record *rec, const char *key, uint64_t here,
			       const char *what, uint64_t *saved, char *err, size_t err_len)
{
	if (state_get_u64(rec, key, saved) < 0) {
		state_set_error(err, err_len, "the saved machine has no valid \"%s\"", key);
		return -1;
	}
	if (here != UINT64_MAX && *saved != here) {
		state_set_error(err, err_len, "the snapshot has %llu %s, this VM %llu",
				(unsigned long long)*saved, what, (unsigned long long)here);
		return -1;
	}
	return 0;
}

/* A snapshot of a --display VM taken before gureum gave such VMs a virtio-input tablet and
 * keyboard has those two devices fewer than the VM its recorded options build now: the error
 * says how to restore it as it was. */
static int check_virtio_count(struct vm *vm, const struct state_record *rec, uint64_t *saved,
			      char *err, size_t err_len)
{
	*saved = UINT64_MAX;
	if (check_machine_value(rec, "virtio", vm->nr_virtio, "virtio devices", saved, err,
				err_len) == 0)
		return 0;
	if (vm->virtio_tablet && *saved != UINT64_MAX && *saved + 2 == vm->nr_virtio) {
		size_t n = strlen(err);
		snprintf(
		    err + n, err_len > n ? err_len - n : 0,
		    " (a --display VM saved before its virtio-input tablet and keyboard "
		    "existed: add \",input=ps2\" to \"display\" in the snapshot's config.json)");
	}
	return -1;
}

/* Whether a VM saved on the accelerator `saved` loads on `here`: on the same one, or between KVM
 * and the software CPU, whose VM-level records translate (irqchip_translate.h). */
static bool accels_compatible(const char *saved, const char *here, bool *cross)
{
	*cross = strcmp(saved, here) != 0;
	return !*cross || (!strcmp(saved, "kvm") && !strcmp(here, "emu")) ||
	       (!strcmp(saved, "emu") && !strcmp(here, "kvm"));
}

static int check_accel(struct vm *vm, const struct state_record *rec, bool *cross, char *err,
		       size_t err_len)
{
	const void *name;
	uint32_t len;
	if (state_get_bytes(rec, "accel", &name, &len) < 0) {
		state_set_error(err, err_len, "the saved machine names no accelerator");
		return -1;
	}
	char saved[33];
	snprintf(saved, sizeof(saved), "%.*s", (int)(len > 32 ? 32 : len), (const char *)name);
	if (len >= sizeof(vm->saved_on_accel) ||
	    !accels_compatible(saved, vm->accel->name, cross)) {
		state_set_error(err, err_len,
				"the snapshot was taken on the %s accelerator, this VM runs on %s "
				"(restore it with --accel %s)",
				saved, vm->accel->name, saved);
		return -1;
	}
	/* Linux on KVM with more than one vCPU sends IPIs and wakes spinning vCPUs through KVM's
	 * hypercalls, which the software CPU does not provide: the guest would fault on the
	 * first. */
	if (*cross && vm->nr_vcpus > 1 && !strcmp(saved, "kvm")) {
		state_set_error(
		    err, err_len,
		    "a VM with %u vCPUs that ran under KVM cannot go on on the software "
		    "CPU: its guest uses KVM's paravirtual IPIs and spinlock kicks, "
		    "which only KVM provides (move VMs with one vCPU)",
		    vm->nr_vcpus);
		return -1;
	}
	if (*cross)
		memcpy(vm->saved_on_accel, saved, len + 1);
	return 0;
}

/* The rates two guest TSCs may differ by and count as one: KVM's own tolerance for a
 * requested TSC rate (tsc_tolerance_ppm), within what NTP corrects. */
#define TSC_TOLERANCE_PPM 250

static bool tsc_rates_match(uint64_t a, uint64_t b)
{
	uint64_t diff = a > b ? a - b : b - a;
	return (unsigned __int128)diff * 1000000 <= (unsigned __int128)b * TSC_TOLERANCE_PPM;
}

/* The guest's TSC must keep its rate: a guest reads its clocks from it (through the TSC
 * clocksource, or through kvmclock pages that scale it). The software CPU runs its guest TSC
 * at any rate and takes the saved one; KVM scales to it where the CPU can (TSC scaling). */
static int adopt_tsc_rate(struct vm *vm, uint64_t tsc_hz, char *err, size_t err_len)
{
	if (tsc_rates_match(tsc_hz, vm->clock.tsc_hz))
		return 0;
	int rc = -ENOTSUP;
	if (vm->accel->tsc_on_guest_clock) {
		vm->clock.tsc_hz = tsc_hz;
		rc = vm->irqchip ? pc_irqchip_set_tsc_hz(vm->irqchip, tsc_hz) : 0;
	} else if ((rc = vm_set_vcpus_tsc_hz(vm, tsc_hz)) == 0) {
		vm->clock.tsc_hz = tsc_hz;
	}
	if (rc < 0) {
		state_set_error(err, err_len,
				"the guest's TSC ran at %llu kHz and this VM's runs at %llu kHz, "
				"which the %s accelerator cannot change here (%s): the guest's "
				"clock would run wrong",
				(unsigned long long)(tsc_hz / 1000),
				(unsigned long long)(vm->clock.tsc_hz / 1000), vm->accel->name,
				strerror(-rc));
		return -1;
	}
	return 0;
}

/* What the machine record says that the rest of a load needs. */
struct saved_machine {
	bool cross;	      /* saved on the other accelerator */
	uint64_t tsc_hz, tsc; /* the guest TSC's rate, and its count at the save */
	uint64_t realtime;    /* the save's wall-clock time (now when the record has none) */
	uint64_t tsc_advance; /* the TSC counts since */
};

static int load_machine(struct vm *vm, const uint8_t *buf, size_t len, size_t *pos,
			struct saved_machine *m, char *err, size_t err_len)
{
	struct state_record rec;
	uint64_t vcpus, memory, virtio;
	if (state_record_next(buf, len, pos, MACHINE_RECORD, &rec, err, err_len) < 0 ||
	    state_record_check(&rec, &machine_spec, err, err_len) < 0 ||
	    check_accel(vm, &rec, &m->cross, err, err_len) < 0 ||
	    check_cpu(vm, &rec, err, err_len) < 0 ||
	    check_machine_value(&rec, "vcpus", vm->nr_vcpus, "vCPUs", &vcpus, err, err_len) < 0 ||
	    check_machine_value(&rec, "memory", vm->config->memory, "bytes of RAM", &memory, err,
				err_len) < 0 ||
	    check_machine_value(&rec, "tsc_hz", UINT64_MAX, NULL, &m->tsc_hz, err, err_len) < 0 ||
	    check_virtio_count(vm, &rec, &virtio, err, err_len) < 0 ||
	    check_machine_value(&rec, "tsc", UINT64_MAX, NULL, &m->tsc, err, err_len) < 0)
		return -1;
	if (m->tsc_hz < GUEST_CLOCK_MIN_TSC_HZ || m->tsc_hz > GUEST_CLOCK_MAX_TSC_HZ) {
		state_set_error(err, err_len,
				"the saved machine's TSC rate (%llu Hz) is out of range",
				(unsigned long long)m->tsc_hz);
		return -1;
	}
	/* A record without `tsc_rate` (an older gureum's) does not say the guest's rate. */
	uint64_t rate;
	int has_rate = state_get_u64(&rec, "tsc_rate", &rate);
	if (has_rate == 0 &&
	    (rate < GUEST_CLOCK_MIN_TSC_HZ || rate > GUEST_CLOCK_MAX_TSC_HZ || rate != m->tsc_hz)) {
		state_set_error(err, err_len,
				"the saved machine's guest TSC rate (%llu Hz) is out of range or "
				"not its clock's",
				(unsigned long long)rate);
		return -1;
	}
	if (has_rate == 0 && adopt_tsc_rate(vm, rate, err, err_len) < 0)
		return -1;
	/* The guest's TSC goes on from the saved count, moved on by the wall-clock time since the
	 * save: a guest whose clocksource is the TSC (the software CPU's) then reads the right
	 * time, as a KVM guest's kvmclock does (kvm-clock record). A save from the future (hosts
	 * whose clocks disagree) moves nothing: the TSC never goes back. */
	uint64_t now = realtime_ns();
	m->tsc_advance = 0;
	if (state_get_u64(&rec, "realtime", &m->realtime) < 0)
		m->realtime = now;
	if (now > m->realtime)
		m->tsc_advance =
		    (uint64_t)((unsigned __int128)(now - m->realtime) * m->tsc_hz / 1000000000ULL);
	vm->clock.tsc_at_base = m->tsc + m->tsc_advance;
	vm->clock.base_ns = guest_clock_host_ns();
	return 0;
}

static int save_vcpus(struct vm *vm, struct state_writer *w, char *err, size_t err_len)
{
	struct vcpu_state *s = malloc(sizeof(*s));
	if (!s) {
		state_set_error(err, err_len, "out of memory");
		return -1;
	}
	int rc = 0;
	for (unsigned i = 0; i < vm->nr_vcpus && rc == 0; i++) {
		rc = vm->accel->vcpu_get_state(vm->vcpus[i].accel_vcpu, s);
		if (rc < 0)
			state_set_error(err, err_len, "cannot read the state of vCPU %u: %s", i,
					strerror(-rc));
		else
			vcpu_state_save(s, w);
	}
	free(s);
	return rc < 0 ? -1 : 0;
}

#define MSR_IA32_TSC 0x10

/* A vCPU's IA32_TSC moved on with the guest clock (accel_ops.tsc_on_guest_clock). */
static void advance_tsc(struct vcpu_state *s, uint64_t tsc_advance)
{
	for (unsigned k = 0; k < s->nr_msrs; k++)
		if (s->msrs[k].index == MSR_IA32_TSC)
			s->msrs[k].value += tsc_advance;
}

static int load_vcpu(struct vm *vm, unsigned i, struct vcpu_state *s, const uint8_t *buf,
		     size_t len, size_t *pos, uint64_t tsc_advance, char *err, size_t err_len)
{
	struct state_record rec;
	char why[256];
	if (state_record_next(buf, len, pos, "vcpu", &rec, why, sizeof(why)) < 0 ||
	    vcpu_state_load(s, &rec, why, sizeof(why)) < 0) {
		state_set_error(err, err_len, "vCPU %u: %s", i, why);
		return -1;
	}
	if (vm->accel->tsc_on_guest_clock)
		advance_tsc(s, tsc_advance);
	int rc = vm->accel->vcpu_set_state(vm->vcpus[i].accel_vcpu, s);
	if (rc < 0) {
		state_set_error(err, err_len, "vCPU %u: the accelerator refused its state: %s", i,
				strerror(-rc));
		return -1;
	}
	return 0;
}

static int load_vcpus(struct vm *vm, const uint8_t *buf, size_t len, size_t *pos,
		      uint64_t tsc_advance, char *err, size_t err_len)
{
	struct vcpu_state *s = malloc(sizeof(*s));
	if (!s) {
		state_set_error(err, err_len, "out of memory");
		return -1;
	}
	int rc = 0;
	for (unsigned i = 0; i < vm->nr_vcpus && rc == 0; i++)
		rc = load_vcpu(vm, i, s, buf, len, pos, tsc_advance, err, err_len);
	free(s);
	return rc;
}

static void save_board(struct vm *vm, struct state_writer *w)
{
	uart16550_save(&vm->uart, w);
	cmos_rtc_save(&vm->rtc, w);
	i8042_save(&vm->kbc, w);
	pci_host_save(&vm->pci, w);
}

/* One board device's record: `name` next in the stream, loaded by `load`. */
#define LOAD_DEVICE(name, load, dev)                                                               \
	(state_record_next(buf, len, pos, name, &rec, err, err_len) < 0                            \
	     ? -1                                                                                  \
	     : load(dev, &rec, err, err_len))

static int load_board(struct vm *vm, const uint8_t *buf, size_t len, size_t *pos, char *err,
		      size_t err_len)
{
	struct state_record rec;
	if (LOAD_DEVICE("uart16550", uart16550_load, &vm->uart) < 0 ||
	    LOAD_DEVICE("cmos-rtc", cmos_rtc_load, &vm->rtc) < 0 ||
	    LOAD_DEVICE("i8042", i8042_load, &vm->kbc) < 0 ||
	    LOAD_DEVICE("pci-host", pci_host_load, &vm->pci) < 0)
		return -1;
	return 0;
}

int vm_save_state(struct vm *vm, struct state_writer *w, char *err, size_t err_len)
{
	save_machine(vm, w);
	if (vm->accel->vm_save_state && vm->accel->vm_save_state(vm->accel_vm, w, err, err_len) < 0)
		return -1;
	if (vm->irqchip)
		pc_irqchip_save(vm->irqchip, w);
	if (save_vcpus(vm, w, err, err_len) < 0)
		return -1;
	save_board(vm, w);
	for (unsigned i = 0; i < vm->nr_virtio; i++)
		virtio_pci_save(vm->virtio[i], w);
	if (vm->bochs)
		bochs_display_save(vm->bochs, w);
	if (state_writer_failed(w)) {
		state_set_error(err, err_len, "out of memory while writing the VM's state");
		return -1;
	}
	return 0;
}

static int load_virtio(struct vm *vm, const uint8_t *buf, size_t len, size_t *pos, char *err,
		       size_t err_len)
{
	for (unsigned i = 0; i < vm->nr_virtio; i++) {
		char why[256];
		if (virtio_pci_load(vm->virtio[i], buf, len, pos, why, sizeof(why)) < 0) {
			state_set_error(err, err_len, "%s: %s",
					virtio_pci_device(vm->virtio[i])->name, why);
			return -1;
		}
	}
	return 0;
}

/* --display adapter=bochs: the adapter's record follows the virtio devices' (the option, part
 * of the saved configuration, gives the restored VM the adapter too). */
static int load_adapter(struct vm *vm, const uint8_t *buf, size_t len, size_t *pos, char *err,
			size_t err_len)
{
	struct state_record rec;
	return !vm->bochs ? 0 : LOAD_DEVICE("bochs-display", bochs_display_load, vm->bochs);
}

/* The accelerator's VM-level records and the userspace irqchip's: one of them, as this VM
 * has. A VM saved on the other accelerator has the other set, translated here. */
static int load_vm_level(struct vm *vm, const uint8_t *buf, size_t len, size_t *pos,
			 const struct saved_machine *m, char *err, size_t err_len)
{
	if (!m->cross) {
		if (vm->accel->vm_load_state &&
		    vm->accel->vm_load_state(vm->accel_vm, buf, len, pos, err, err_len) < 0)
			return -1;
		return vm->irqchip ? pc_irqchip_load(vm->irqchip, buf, len, pos, err, err_len) : 0;
	}
	struct state_writer w;
	state_writer_init(&w);
	size_t at = *pos, translated_at = 0;
	/* The KVM clock of a guest that comes from the software CPU: the time of its TSC. */
	uint64_t clock_ns = (uint64_t)((unsigned __int128)m->tsc * 1000000000ULL / m->tsc_hz);
	int rc = vm->irqchip ? irqchip_records_from_kvm(buf, len, &at, &w, err, err_len)
			     : irqchip_records_to_kvm(buf, len, &at, clock_ns, m->realtime, &w, err,
						      err_len);
	if (rc == 0 && state_writer_failed(&w)) {
		state_set_error(err, err_len, "out of memory while translating the VM's state");
		rc = -1;
	}
	if (rc == 0 && vm->irqchip)
		rc = pc_irqchip_load(vm->irqchip, w.buf, w.len, &translated_at, err, err_len);
	else if (rc == 0 && vm->accel->vm_load_state)
		rc = vm->accel->vm_load_state(vm->accel_vm, w.buf, w.len, &translated_at, err,
					      err_len);
	state_writer_free(&w);
	if (rc == 0)
		*pos = at;
	return rc;
}

int vm_load_state(struct vm *vm, const uint8_t *buf, size_t len, char *err, size_t err_len)
{
	size_t pos = 0;
	struct saved_machine m;
	if (load_machine(vm, buf, len, &pos, &m, err, err_len) < 0)
		return -1;
	/* The irqchip before the vCPUs: loading a userspace LAPIC may look at the I/O APIC's
	 * state, and the devices after both, as their loads recompute their interrupt lines. */
	if (load_vm_level(vm, buf, len, &pos, &m, err, err_len) < 0)
		return -1;
	if (load_vcpus(vm, buf, len, &pos, m.tsc_advance, err, err_len) < 0 ||
	    load_board(vm, buf, len, &pos, err, err_len) < 0 ||
	    load_virtio(vm, buf, len, &pos, err, err_len) < 0 ||
	    load_adapter(vm, buf, len, &pos, err, err_len) < 0)
		return -1;
	if (pos != len) {
		state_set_error(err, err_len,
				"the saved state has records this VM does not have after its last "
				"device (was it saved from another configuration?)");
		return -1;
	}
	return 0;
}
