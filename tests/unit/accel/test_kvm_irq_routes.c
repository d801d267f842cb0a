/* The kvm backend's irqfd routes and ioeventfd doorbells, on the local /dev/kvm: MSI routes
 * get their own GSIs from 24 up, rebinding keeps the GSI, unbinding frees it, and replacing
 * the routing table keeps the legacy IOAPIC/PIC routes working. */
#include "accel/kvm/kvm_internal.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

static struct accel_vm *vm;
static struct irq_router router;
static int fds[4];

static void setup(void)
{
	char why[256], note[256], err[256];
	cr_assert(kvm_accel_ops.probe(why, sizeof(why), note, sizeof(note)), "%s", why);
	struct accel_vm_config config = {.nr_vcpus = 1};
	cr_assert_eq(kvm_accel_ops.vm_create(&config, &vm, err, sizeof(err)), 0, "%s", err);
	router = kvm_accel_ops.irq_router(vm);
	for (int i = 0; i < 4; i++) {
		fds[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		cr_assert_geq(fds[i], 0);
	}
}

static void teardown(void)
{
	kvm_accel_ops.vm_destroy(vm);
	for (int i = 0; i < 4; i++)
		close(fds[i]);
}

TestSuite(kvm_irq_routes, .init = setup, .fini = teardown);

static const struct kvm_msi_route *route_of(int fd)
{
	for (unsigned i = 0; i < vm->nr_msi_routes; i++)
		if (vm->msi_routes[i].fd == fd)
			return &vm->msi_routes[i];
	return NULL;
}

/* KVM's verdict on raising `gsi`: negative when no route leads anywhere. */
static int line_status(uint32_t gsi)
{
	struct kvm_irq_level irq = {.irq = gsi, .level = 1};
	cr_assert_eq(ioctl(vm->vm_fd, KVM_IRQ_LINE_STATUS, &irq), 0);
	int status = irq.status;
	irq.level = 0;
	ioctl(vm->vm_fd, KVM_IRQ_LINE_STATUS, &irq);
	return status;
}

#define MSI_ADDRESS 0xfee00000ULL

Test(kvm_irq_routes, binds_eventfds_to_msi_routes_above_the_ioapic)
{
	if (!router.msi_irqfd)
		cr_skip_test("this KVM has no irqfd");
	for (int i = 0; i < 3; i++)
		cr_assert_eq(msi_irqfd_bind(&router, fds[i], MSI_ADDRESS, 0x40 + i, true), 0);
	cr_assert_eq(vm->nr_msi_routes, 3);
	cr_assert_eq(route_of(fds[0])->gsi, 24);
	cr_assert_eq(route_of(fds[1])->gsi, 25);
	cr_assert_eq(route_of(fds[2])->gsi, 26);
}

Test(kvm_irq_routes, rebinding_changes_the_message_and_keeps_the_gsi)
{
	if (!router.msi_irqfd)
		cr_skip_test("this KVM has no irqfd");
	cr_assert_eq(msi_irqfd_bind(&router, fds[0], MSI_ADDRESS, 0x41, true), 0);
	cr_assert_eq(msi_irqfd_bind(&router, fds[0], MSI_ADDRESS | 0x1000, 0x42, true), 0);
	cr_assert_eq(vm->nr_msi_routes, 1);
	cr_assert_eq(route_of(fds[0])->gsi, 24);
	cr_assert_eq(route_of(fds[0])->data, 0x42);
	cr_assert_eq(route_of(fds[0])->address, MSI_ADDRESS | 0x1000);
}

Test(kvm_irq_routes, unbinding_frees_the_gsi_for_the_next_fd)
{
	if (!router.msi_irqfd)
		cr_skip_test("this KVM has no irqfd");
	for (int i = 0; i < 3; i++)
		cr_assert_eq(msi_irqfd_bind(&router, fds[i], MSI_ADDRESS, 0x40 + i, true), 0);
	cr_assert_eq(msi_irqfd_bind(&router, fds[1], 0, 0, false), 0);
	cr_assert_null(route_of(fds[1]));
	cr_assert_eq(msi_irqfd_bind(&router, fds[3], MSI_ADDRESS, 0x50, true), 0);
	cr_assert_eq(route_of(fds[3])->gsi, 25);
	cr_assert_eq(msi_irqfd_bind(&router, fds[1], 0, 0, false), -ENOENT,
		     "an fd that is not bound cannot be unbound");
	cr_assert_eq(msi_irqfd_bind(&router, -1, MSI_ADDRESS, 0, true), -EBADF);
}

Test(kvm_irq_routes, the_legacy_routes_survive_a_new_table)
{
	if (!router.msi_irqfd)
		cr_skip_test("this KVM has no irqfd");
	/* A masked IOAPIC pin reports -1 the first time it is raised, then 0 (coalesced): raise
	 * every line once so that only a missing route can answer -1. */
	for (uint32_t gsi = 0; gsi < 24; gsi++)
		line_status(gsi);
	cr_assert_lt(line_status(30), 0, "an unrouted GSI is ignored");
	cr_assert_eq(msi_irqfd_bind(&router, fds[0], MSI_ADDRESS, 0x41, true), 0);
	for (uint32_t gsi = 0; gsi < 24; gsi++)
		if (gsi != 2)
			cr_assert_geq(line_status(gsi), 0, "GSI %u still reaches its irqchip", gsi);
	cr_assert_lt(line_status(2), 0, "GSI 2 (the PIC's cascade) has no route");
}

/* The I/O APIC's input request register, from KVM's in-kernel model. */
static uint32_t ioapic_irr(void)
{
	struct kvm_irqchip chip = {.chip_id = KVM_IRQCHIP_IOAPIC};
	cr_assert_eq(ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &chip), 0);
	return chip.chip.ioapic.irr;
}

/* The MADT tells the guest that ISA IRQ0 (the PIT, GSI 0) arrives on I/O APIC pin 2. */
Test(kvm_irq_routes, isa_irq0_reaches_ioapic_pin_2_as_the_madt_says)
{
	if (!router.msi_irqfd)
		cr_skip_test("this KVM has no routing table");
	struct kvm_irq_level irq = {.irq = 0, .level = 1};
	cr_assert_eq(ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq), 0);
	uint32_t irr = ioapic_irr(); /* pins are masked at reset, so the request stays */
	cr_assert(irr & (1u << 2), "GSI 0 raised I/O APIC pin 2 (irr %#x)", irr);
	cr_assert_not(irr & 1u, "and not pin 0 (irr %#x)", irr);
}

Test(kvm_irq_routes, doorbells_bind_and_unbind)
{
	struct kick_router kick = kvm_accel_ops.kick_router(vm);
	if (!kick.mmio_eventfd)
		cr_skip_test("this KVM has no ioeventfd");
	cr_assert_eq(kick_router_bind(&kick, 0xc0003000, 0, fds[0], true), 0);
	cr_assert_eq(kick_router_bind(&kick, 0xc0003004, 0, fds[1], true), 0);
	cr_assert_eq(kick_router_bind(&kick, 0xc0003000, 0, fds[0], false), 0);
	cr_assert_neq(kick_router_bind(&kick, 0xc0003000, 0, fds[0], false), 0,
		      "a doorbell that is gone cannot be unbound twice");
}
