/* Throttling the vCPUs (vm.h: vm_throttle_set), which a migration's auto-converge uses when the
 * guest writes memory faster than the link sends it: as QEMU's cpu-throttle, a thread kicks
 * every vCPU out of the guest once per slice, and each vCPU, before it enters the guest again,
 * sleeps pct / (100 - pct) slices. So the guest runs (100 - pct)% of the time, dirties that
 * much less, and the pre-copy rounds can catch up. Devices are not throttled. */
#include "vmm/vm.h"

#include "lib/monotonic.h"

#include <stdatomic.h>
#include <time.h>

#define THROTTLE_SLICE_NS 10000000ULL /* 10 ms */

static void *kick_every_slice(void *arg)
{
	struct vm *vm = arg;
	while (atomic_load(&vm->throttle_pct) > 0) {
		for (unsigned i = 0; i < vm->nr_vcpus; i++)
			if (vm->vcpus[i].thread_started)
				vm->accel->vcpu_kick(vm->vcpus[i].accel_vcpu);
		sleep_ns(THROTTLE_SLICE_NS);
	}
	return NULL;
}

int vm_throttle_set(struct vm *vm, unsigned pct)
{
	if (pct == 0) {
		vm_throttle_stop(vm);
		return 0;
	}
	atomic_store(&vm->throttle_pct, pct > VM_THROTTLE_MAX_PCT ? VM_THROTTLE_MAX_PCT : pct);
	pthread_mutex_lock(&vm->lock);
	int rc = 0;
	if (!vm->throttle_running) {
		rc = pthread_create(&vm->throttle_thread, NULL, kick_every_slice, vm);
		vm->throttle_running = rc == 0;
	}
	pthread_mutex_unlock(&vm->lock);
	if (rc != 0)
		atomic_store(&vm->throttle_pct, 0);
	return rc == 0 ? 0 : -1;
}

void vm_throttle_stop(struct vm *vm)
{
	atomic_store(&vm->throttle_pct, 0);
	pthread_mutex_lock(&vm->lock);
	bool running = vm->throttle_running;
	vm->throttle_running = false;
	pthread_cond_broadcast(&vm->pause_cond); /* sleeping vCPUs run again at once */
	pthread_mutex_unlock(&vm->lock);
	if (running)
		pthread_join(vm->throttle_thread, NULL);
}

/* The sleep ends early for a pause (which must not wait up to a second for a throttled vCPU:
 * that would be the migration's downtime), a stop, or the end of the throttling. */
void vm_throttle_vcpu(struct vm *vm)
{
	unsigned pct = atomic_load(&vm->throttle_pct);
	if (pct == 0)
		return;
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	uint64_t ns = (uint64_t)until.tv_nsec + THROTTLE_SLICE_NS * pct / (100 - pct);
	until.tv_sec += (time_t)(ns / 1000000000ULL);
	until.tv_nsec = (long)(ns % 1000000000ULL);
	pthread_mutex_lock(&vm->lock);
	while (atomic_load(&vm->throttle_pct) > 0 && !vm->pause_requested &&
	       vm->stop_reason == VM_RUNNING &&
	       pthread_cond_timedwait(&vm->pause_cond, &vm->lock, &until) == 0)
		;
	pthread_mutex_unlock(&vm->lock);
}
