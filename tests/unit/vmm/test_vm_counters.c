/* vm_counters_add: how the session carries the counters of the VMs a guest reboot replaced into
 * the next VM's, so that GET /api/v1/vm/counters only grows. */
#include "vmm/vm_counters.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct api_counters *fresh(void)
{
	struct api_counters *c = calloc(1, sizeof(*c));
	cr_assert_not_null(c);
	return c;
}

static void set_accel(struct api_vcpu_counters *v, const char *name, uint64_t value)
{
	snprintf(v->accel[v->nr_accel].name, sizeof(v->accel[0].name), "%s", name);
	v->accel[v->nr_accel++].value = value;
}

/* One boot's counters: two vCPUs, a disk and a card. */
static struct api_counters *one_boot(uint64_t n)
{
	struct api_counters *c = fresh();
	c->nr_vcpus = 2;
	for (unsigned i = 0; i < 2; i++) {
		c->vcpus[i].exits[API_EXIT_IO] = n + i;
		set_accel(&c->vcpus[i], "exits", 10 * n);
	}
	c->nr_devices = 2;
	c->devices[0] =
	    (struct api_device_counters){.name = "virtio-blk0", .kind = API_DEVICE_BLK, .kicks = n};
	c->devices[0].blk.read_bytes = 512 * n;
	c->devices[1] = (struct api_device_counters){.name = "virtio-net0", .kind = API_DEVICE_NET};
	c->devices[1].net.tx_bytes = 60 * n;
	return c;
}

Test(vm_counters, adding_a_boot_to_nothing_copies_it)
{
	struct api_counters *total = fresh(), *b = one_boot(3);
	vm_counters_add(total, b);
	cr_assert_eq(total->nr_vcpus, 2);
	cr_assert_eq(total->nr_devices, 2);
	cr_assert_eq(total->vcpus[1].exits[API_EXIT_IO], 4);
	cr_assert_eq(total->vcpus[1].nr_accel, 1);
	cr_assert_str_eq(total->vcpus[1].accel[0].name, "exits");
	cr_assert_eq(total->vcpus[1].accel[0].value, 30);
	cr_assert_str_eq(total->devices[0].name, "virtio-blk0");
	cr_assert_eq(total->devices[0].blk.read_bytes, 1536);
	cr_assert_eq(total->devices[1].kind, API_DEVICE_NET);
	cr_assert_eq(total->devices[1].net.tx_bytes, 180);
	free(total), free(b);
}

Test(vm_counters, boots_add_up_field_by_field_and_name_by_name)
{
	struct api_counters *total = one_boot(1), *b = one_boot(2);
	/* the next boot's accelerator reports one more counter, in another order */
	set_accel(&b->vcpus[0], "halts", 7);
	struct accel_stat first = b->vcpus[0].accel[0];
	b->vcpus[0].accel[0] = b->vcpus[0].accel[1];
	b->vcpus[0].accel[1] = first;
	vm_counters_add(total, b);
	cr_assert_eq(total->vcpus[0].exits[API_EXIT_IO], 3);
	cr_assert_eq(total->vcpus[0].nr_accel, 2);
	cr_assert_str_eq(total->vcpus[0].accel[0].name, "exits", "the names keep their order");
	cr_assert_eq(total->vcpus[0].accel[0].value, 30);
	cr_assert_str_eq(total->vcpus[0].accel[1].name, "halts");
	cr_assert_eq(total->vcpus[0].accel[1].value, 7);
	cr_assert_eq(total->devices[0].kicks, 3);
	cr_assert_eq(total->devices[0].blk.read_bytes, 1536);
	cr_assert_eq(total->devices[1].net.tx_bytes, 180);
	free(total), free(b);
}

Test(vm_counters, a_full_list_of_names_keeps_what_it_has)
{
	struct api_counters *total = fresh(), *b = fresh();
	total->nr_vcpus = b->nr_vcpus = 1;
	for (unsigned i = 0; i < API_MAX_ACCEL_COUNTERS; i++) {
		char name[16];
		snprintf(name, sizeof(name), "c%u", i);
		set_accel(&total->vcpus[0], name, 1);
	}
	set_accel(&b->vcpus[0], "one_too_many", 5);
	set_accel(&b->vcpus[0], "c3", 5);
	vm_counters_add(total, b);
	cr_assert_eq(total->vcpus[0].nr_accel, API_MAX_ACCEL_COUNTERS);
	cr_assert_eq(total->vcpus[0].accel[3].value, 6);
	free(total), free(b);
}
