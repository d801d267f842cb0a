/* KVM's log of writes to one region (accel_ops.region_log_start/fetch), on /dev/kvm (the nested
 * lab when this host has none): a real-mode guest writes two pages of a region mapped outside
 * RAM and the fetch names exactly those, then nothing; and migration's dirty log, started and
 * stopped meanwhile, leaves the region logged (the display keeps working across a migration
 * that failed, and migration never reads the region's log); a region moved (move_memory, a PCI
 * BAR the guest moved) is the same memory, logged at its new address. */
#include "accel/kvm/kvm_internal.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#define RAM_SIZE 0x10000
#define FB_GPA	 0x20000 /* real-mode segment 0x2000 */
#define FB_SIZE	 0x10000

static struct accel_vm *vm;
static struct accel_vcpu *vcpu;
static uint8_t *ram, *fb;

static void *map(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(p, MAP_FAILED);
	return p;
}

static void setup(void)
{
	char why[256], note[256], err[256];
	cr_assert(kvm_accel_ops.probe(why, sizeof(why), note, sizeof(note)), "%s", why);
	struct accel_vm_config config = {.nr_vcpus = 1};
	cr_assert_eq(kvm_accel_ops.vm_create(&config, &vm, err, sizeof(err)), 0, "%s", err);
	ram = map(RAM_SIZE);
	fb = map(FB_SIZE);
	cr_assert_eq(kvm_accel_ops.map_memory(vm, 0, RAM_SIZE, ram, false), 0);
	cr_assert_eq(kvm_accel_ops.map_memory(vm, FB_GPA, FB_SIZE, fb, false), 0);
	cr_assert_eq(kvm_accel_ops.region_log_start(vm, FB_GPA), 0);
	cr_assert_eq(kvm_accel_ops.vcpu_create(vm, 0, NULL, &vcpu), 0);
}

static void teardown(void)
{
	kvm_accel_ops.vcpu_destroy(vcpu);
	kvm_accel_ops.vm_destroy(vm);
	munmap(ram, RAM_SIZE);
	munmap(fb, FB_SIZE);
}

TestSuite(kvm_region_log, .init = setup, .fini = teardown, .timeout = 120);

/* mov ax, 0x2000; mov ds, ax; mov byte [0], 0x11; mov byte [0x3000], 0x33; out 0xf4, al */
static const uint8_t code[] = {0xb8, 0x00, 0x20, 0x8e, 0xd8, 0xc6, 0x06, 0x00, 0x00,
			       0x11, 0xc6, 0x06, 0x00, 0x30, 0x33, 0xe6, 0xf4};

static void run_code(const uint8_t *bytes, size_t len)
{
	memcpy(ram + 0x1000, bytes, len);
	struct vcpu_state st;
	cr_assert_eq(kvm_accel_ops.vcpu_get_state(vcpu, &st), 0);
	st.seg[SREG_CS].selector = 0;
	st.seg[SREG_CS].base = 0;
	st.rip = 0x1000;
	cr_assert_eq(kvm_accel_ops.vcpu_set_state(vcpu, &st), 0);
	struct vcpu_exit exit;
	do
		cr_assert_eq(kvm_accel_ops.vcpu_run(vcpu, &exit), 0);
	while (exit.reason == VCPU_EXIT_INTERRUPTED);
	cr_assert_eq(exit.reason, VCPU_EXIT_IO, "exit %d", exit.reason);
	cr_assert_eq(exit.io.port, 0xf4);
}

static void run_guest(void)
{
	run_code(code, sizeof(code));
}

static uint64_t fetch(void)
{
	uint64_t bits = 0;
	cr_assert_eq(kvm_accel_ops.region_log_fetch(vm, FB_GPA, FB_SIZE, &bits), 0);
	return bits;
}

Test(kvm_region_log, names_the_pages_the_guest_wrote)
{
	fetch(); /* whatever KVM counts from the slot's creation */
	run_guest();
	cr_assert_eq(fb[0], 0x11);
	cr_assert_eq(fb[0x3000], 0x33);
	cr_assert_eq(fetch(), (1u << 0) | (1u << 3));
	cr_assert_eq(fetch(), 0);
}

Test(kvm_region_log, survives_migrations_dirty_log)
{
	cr_assert_eq(kvm_accel_ops.dirty_log_start(vm), 0);
	uint64_t ram_bits = 0;
	cr_assert_eq(kvm_accel_ops.dirty_log_fetch(vm, 0, RAM_SIZE, &ram_bits), 0);
	kvm_accel_ops.dirty_log_stop(vm);
	for (unsigned i = 0; i < vm->nr_memory_slots; i++)
		if (vm->slots[i].guest_phys_addr == FB_GPA)
			cr_assert(vm->slots[i].flags & KVM_MEM_LOG_DIRTY_PAGES,
				  "migration's stop turned the region's log off");
		else
			cr_assert_not(vm->slots[i].flags & KVM_MEM_LOG_DIRTY_PAGES);
	fetch();
	run_guest();
	cr_assert_eq(fetch(), (1u << 0) | (1u << 3));
}

Test(kvm_region_log, only_for_a_mapped_region)
{
	cr_assert_eq(kvm_accel_ops.region_log_start(vm, 0x40000), -ENOENT);
}

Test(kvm_region_log, a_moved_region_is_logged_at_its_new_address)
{
	cr_assert_eq(kvm_accel_ops.move_memory(vm, FB_GPA, 0), -EEXIST, "over guest RAM");
	cr_assert_eq(kvm_accel_ops.move_memory(vm, 0x50000, 0x60000), -ENOENT);
	fetch();
	cr_assert_eq(kvm_accel_ops.move_memory(vm, FB_GPA, 0x40000), 0);
	uint64_t bits = 0;
	cr_assert_eq(kvm_accel_ops.region_log_fetch(vm, FB_GPA, FB_SIZE, &bits), -ENOENT);
	/* The same code with segment 0x4000. */
	uint8_t moved[sizeof(code)];
	memcpy(moved, code, sizeof(code));
	moved[2] = 0x40;
	run_code(moved, sizeof(moved));
	cr_assert_eq(fb[0], 0x11);
	cr_assert_eq(fb[0x3000], 0x33);
	cr_assert_eq(kvm_accel_ops.region_log_fetch(vm, 0x40000, FB_SIZE, &bits), 0);
	cr_assert_eq(bits, (1u << 0) | (1u << 3));
}
