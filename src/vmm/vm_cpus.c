/* vCPU hotplug: --cpus N,max=M gives the guest M possible CPUs, N of them at boot. Adding a
 * vCPU creates it in the accelerator (or finds the one an eject left behind: KVM cannot
 * destroy a single vCPU), sets it up as firmware leaves an application processor, starts its
 * thread (the vCPU waits for the guest's INIT and SIPI, as at boot) and tells the guest
 * through the CPU hotplug registers, on which Linux adds the CPU offline. Removing one asks
 * the guest; Linux offlines the CPU and runs its _EJ0, and only then does the vCPU's thread
 * leave. The present vCPUs are always 0 .. count - 1 once the guest has done what it was
 * asked: vCPUs are added from the bottom and removed from the top. */
#include "vmm/vm.h"

#include "lib/log.h"

#include <stdio.h>
#include <string.h>

static bool running(const struct vm_vcpu *v)
{
	return v->thread_started && !v->unplugged;
}

void vm_vcpu_ejected(struct vm *vm, unsigned cpu)
{
	if (cpu >= vm->max_vcpus || !vm->vcpus[cpu].accel_vcpu)
		return;
	__atomic_store_n(&vm->vcpus[cpu].unplug_requested, true, __ATOMIC_RELEASE);
	vm->accel->vcpu_kick(vm->vcpus[cpu].accel_vcpu);
}

void vm_vcpu_leave(struct vm_vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	pthread_mutex_lock(&vm->lock);
	vcpu->unplugged = true;
	while (vm->nr_vcpus > 1 && vm->vcpus[vm->nr_vcpus - 1].unplugged)
		vm->nr_vcpus--;
	pthread_cond_broadcast(&vm->pause_cond); /* a pause waits for one vCPU less */
	pthread_mutex_unlock(&vm->lock);
	log_info("vCPU %u: the guest let it go", vcpu->index);
}

/* A vCPU added later runs its TSC at the rate of the others (a restored VM's rate, or
 * --tsc-khz), where the accelerator keeps the TSC: the VMM's clock runs at that rate. (Not
 * asked of a running vCPU: KVM would answer once it leaves the guest.) */
static void match_tsc_rate(struct vm *vm, struct vm_vcpu *v)
{
	if (!vm->accel->vcpu_tsc_hz || !vm->accel->vcpu_set_tsc_hz)
		return;
	uint64_t hz = vm->clock.tsc_hz;
	if (hz && vm->accel->vcpu_tsc_hz(v->accel_vcpu) != hz &&
	    vm->accel->vcpu_set_tsc_hz(v->accel_vcpu, hz) < 0)
		log_warn("vCPU %u: its TSC cannot run at the others' %llu Hz", v->index,
			 (unsigned long long)hz);
}

static int prepare_vcpu(struct vm *vm, struct vm_vcpu *v, char *err, size_t err_len)
{
	if (v->thread_started) { /* ejected earlier: its thread has left its loop */
		pthread_join(v->thread, NULL);
		v->thread_started = false;
	}
	if (!v->accel_vcpu) {
		if (vm_create_vcpu(vm, v->index, err, err_len) < 0)
			return -1;
		int rc = board_setup_ap(vm, v);
		if (rc < 0) {
			snprintf(err, err_len, "cannot set up vCPU %u: %s", v->index,
				 strerror(-rc));
			return -1;
		}
		match_tsc_rate(vm, v);
	}
	v->unplug_requested = false;
	v->unplugged = false;
	return 0;
}

static int add_vcpu(struct vm *vm, unsigned index, char *err, size_t err_len)
{
	struct vm_vcpu *v = &vm->vcpus[index];
	v->index = index;
	v->vm = vm;
	if (prepare_vcpu(vm, v, err, err_len) < 0)
		return -1;
	pthread_mutex_lock(&vm->lock);
	int rc = vm->stop_reason != VM_RUNNING || vm->pause_requested
		     ? EBUSY
		     : pthread_create(&v->thread, NULL, vcpu_thread_main, v);
	if (rc == 0) {
		v->thread_started = true;
		if (index >= vm->nr_vcpus)
			vm->nr_vcpus = index + 1;
	}
	pthread_mutex_unlock(&vm->lock);
	if (rc != 0) {
		snprintf(err, err_len, "cannot start vCPU %u: %s", index,
			 rc == EBUSY ? "the VM stopped or paused meanwhile" : strerror(rc));
		return -1;
	}
	hotplug_slots_insert(&vm->cpu_hotplug, index);
	log_info("vCPU %u added; the guest brings it online", index);
	return 0;
}

/* 0, or -1 with the reason in `err`. */
static int check_resize(struct vm *vm, unsigned count, char *err, size_t err_len)
{
	const char *why = NULL;
	if (!vm->has_cpu_hotplug)
		why = "the VM has no room for other vCPUs: start it with --cpus N,max=M";
	else if (count < 1 || count > vm->max_vcpus)
		snprintf(err, err_len, "a vCPU count from 1 to %u (--cpus ...,max=%u)",
			 vm->max_vcpus, vm->max_vcpus);
	else if (!(why = vm_not_running_reason(vm)))
		return 0;
	if (why)
		snprintf(err, err_len, "%s", why);
	return -1;
}

static void request_removals(struct vm *vm, unsigned count)
{
	for (unsigned i = vm->max_vcpus; i-- > count;) {
		if (running(&vm->vcpus[i]) && !hotplug_slots_leaving(&vm->cpu_hotplug, i)) {
			hotplug_slots_request_removal(&vm->cpu_hotplug, i);
			log_info("vCPU %u: the guest is asked to let it go", i);
		}
	}
}

int vm_set_vcpus(struct vm *vm, unsigned count, char *err, size_t err_len)
{
	if (check_resize(vm, count, err, err_len) < 0)
		return -1;
	pthread_mutex_lock(&vm->resize_lock);
	int rc = 0;
	for (unsigned i = 0; i < count && rc == 0; i++) {
		if (!running(&vm->vcpus[i]))
			rc = add_vcpu(vm, i, err, err_len);
		else if (hotplug_slots_leaving(&vm->cpu_hotplug, i))
			hotplug_slots_insert(&vm->cpu_hotplug, i); /* calls the removal off */
	}
	if (rc == 0)
		request_removals(vm, count);
	pthread_mutex_unlock(&vm->resize_lock);
	return rc;
}

void vm_vcpus_info(struct vm *vm, struct vm_vcpus_info *info)
{
	memset(info, 0, sizeof(*info));
	info->max = vm->max_vcpus;
	pthread_mutex_lock(&vm->lock);
	for (unsigned i = 0; i < vm->max_vcpus; i++)
		info->present += running(&vm->vcpus[i]);
	pthread_mutex_unlock(&vm->lock);
	for (unsigned i = 0; vm->has_cpu_hotplug && i < vm->max_vcpus; i++) {
		uint8_t status = hotplug_slots_status(&vm->cpu_hotplug, i);
		info->inserting += !!(status & LAYOUT_HP_INSERT);
		info->removing += hotplug_slots_leaving(&vm->cpu_hotplug, i);
	}
}

bool vm_vcpus_settled(struct vm *vm, char *err, size_t err_len)
{
	pthread_mutex_lock(&vm->lock);
	unsigned hole = vm->max_vcpus;
	for (unsigned i = 0; i < vm->nr_vcpus && hole == vm->max_vcpus; i++)
		if (!running(&vm->vcpus[i]))
			hole = i;
	pthread_mutex_unlock(&vm->lock);
	if (hole < vm->max_vcpus) {
		snprintf(err, err_len,
			 "vCPU %u is leaving while a later one stays: remove that one too, or add "
			 "vCPU %u back, first",
			 hole, hole);
		return false;
	}
	for (unsigned i = 0; vm->has_cpu_hotplug && i < vm->max_vcpus; i++) {
		if (hotplug_slots_leaving(&vm->cpu_hotplug, i)) {
			snprintf(err, err_len,
				 "the guest has not yet let vCPU %u go: wait for it (gureum ctl "
				 "SOCKET cpus), or add it back",
				 i);
			return false;
		}
	}
	return true;
}

void vm_cpus_setting(struct vm *vm, char *out, size_t out_len)
{
	pthread_mutex_lock(&vm->lock);
	unsigned n = vm->nr_vcpus;
	pthread_mutex_unlock(&vm->lock);
	if (vm->has_cpu_hotplug)
		snprintf(out, out_len, "%u,max=%u", n, vm->max_vcpus);
	else
		snprintf(out, out_len, "%u", n);
}
