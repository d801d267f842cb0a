/* Interrupts and doorbells that bypass the VMM: MSI irqfds (an MSI route per eventfd plus
 * KVM_IRQFD) and MMIO ioeventfds (KVM_IOEVENTFD).
 *
 * The legacy routes are the board's, installed when the VM is created and repeated in every
 * table, since KVM_SET_GSI_ROUTING replaces the whole table: GSIs 0-15 to the PIC and I/O APIC
 * pins, 16-23 to I/O APIC pins, except that ISA IRQ0 (GSI 0: the in-kernel PIT) goes to I/O
 * APIC pin 2, as the MADT's interrupt source override says, and GSI 2 (the PIC's cascade) has
 * no route. KVM_CREATE_IRQCHIP's own table sends GSI 0 to pin 0, which a guest that trusts the
 * MADT (and does not skip its timer check, as Linux with kvmclock does) finds silent. MSI
 * routes live at GSIs 24 and up, one per bound eventfd. */
#include "accel/kvm/kvm_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define IOAPIC_PINS	    24
#define PIC_PINS	    16
#define ISA_IRQ0_IOAPIC_PIN 2 /* the MADT's interrupt source override IRQ0 -> GSI 2 */
#define PIC_CASCADE_GSI	    2
/* Every GSI below 24 to its I/O APIC pin and (below 16) its PIC pin, but GSI 2. */
#define DEFAULT_ROUTES	      (IOAPIC_PINS - 1 + PIC_PINS - 1)
#define FIRST_MSI_GSI	      IOAPIC_PINS
#define DOORBELL_FALLBACK_LEN 2 /* virtio's notify writes are 16 bits */

void kvm_irq_routes_init(struct accel_vm *vm)
{
	pthread_mutex_init(&vm->routes_lock, NULL);
}

void kvm_irq_routes_probe(struct accel_vm *vm)
{
	int max_routes = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQ_ROUTING);
	vm->max_irq_routes = max_routes > 0 ? (unsigned)max_routes : 0;
	vm->has_irqfd = max_routes > DEFAULT_ROUTES &&
			ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQFD) > 0;
	vm->has_ioeventfd = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD) > 0;
	vm->has_ioeventfd_any_length =
	    ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD_ANY_LENGTH) > 0;
}

static int commit_routes(struct accel_vm *vm);

int kvm_irq_routes_install(struct accel_vm *vm)
{
	if (vm->max_irq_routes < DEFAULT_ROUTES)
		return 0; /* no routing table to change: KVM's own routes stay */
	pthread_mutex_lock(&vm->routes_lock);
	int rc = commit_routes(vm);
	pthread_mutex_unlock(&vm->routes_lock);
	return rc;
}

void kvm_irq_routes_destroy(struct accel_vm *vm)
{
	free(vm->msi_routes);
	vm->msi_routes = NULL;
	vm->nr_msi_routes = 0;
	pthread_mutex_destroy(&vm->routes_lock);
}

static struct kvm_irq_routing_entry irqchip_route(uint32_t gsi, uint32_t chip, uint32_t pin)
{
	return (struct kvm_irq_routing_entry){
	    .gsi = gsi,
	    .type = KVM_IRQ_ROUTING_IRQCHIP,
	    .u.irqchip = {.irqchip = chip, .pin = pin},
	};
}

/* The board's legacy routes (see the top of this file). */
static unsigned add_default_routes(struct kvm_irq_routing_entry *e)
{
	unsigned n = 0;
	for (uint32_t gsi = 0; gsi < IOAPIC_PINS; gsi++) {
		if (gsi == PIC_CASCADE_GSI)
			continue;
		e[n++] =
		    irqchip_route(gsi, KVM_IRQCHIP_IOAPIC, gsi == 0 ? ISA_IRQ0_IOAPIC_PIN : gsi);
		if (gsi < PIC_PINS)
			e[n++] = irqchip_route(
			    gsi, gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE, gsi % 8);
	}
	return n;
}

static int commit_routes(struct accel_vm *vm)
{
	unsigned total = DEFAULT_ROUTES + vm->nr_msi_routes;
	struct kvm_irq_routing *table =
	    calloc(1, sizeof(*table) + total * sizeof(struct kvm_irq_routing_entry));
	if (!table)
		return -ENOMEM;
	unsigned n = add_default_routes(table->entries);
	for (unsigned i = 0; i < vm->nr_msi_routes; i++) {
		const struct kvm_msi_route *r = &vm->msi_routes[i];
		table->entries[n++] = (struct kvm_irq_routing_entry){
		    .gsi = r->gsi,
		    .type = KVM_IRQ_ROUTING_MSI,
		    .u.msi = {.address_lo = (uint32_t)r->address,
			      .address_hi = (uint32_t)(r->address >> 32),
			      .data = r->data},
		};
	}
	table->nr = n;
	int rc = ioctl(vm->vm_fd, KVM_SET_GSI_ROUTING, table) < 0 ? -errno : 0;
	free(table);
	return rc;
}

static struct kvm_msi_route *find_route(struct accel_vm *vm, int fd)
{
	for (unsigned i = 0; i < vm->nr_msi_routes; i++)
		if (vm->msi_routes[i].fd == fd)
			return &vm->msi_routes[i];
	return NULL;
}

static bool gsi_in_use(const struct accel_vm *vm, uint32_t gsi)
{
	for (unsigned i = 0; i < vm->nr_msi_routes; i++)
		if (vm->msi_routes[i].gsi == gsi)
			return true;
	return false;
}

/* The lowest free GSI for an MSI route, or 0 when the table is full. */
static uint32_t free_gsi(const struct accel_vm *vm)
{
	for (uint32_t gsi = FIRST_MSI_GSI; gsi < vm->max_irq_routes; gsi++)
		if (!gsi_in_use(vm, gsi))
			return gsi;
	return 0;
}

static int set_irqfd(struct accel_vm *vm, int fd, uint32_t gsi, bool assign)
{
	struct kvm_irqfd irqfd = {
	    .fd = (uint32_t)fd,
	    .gsi = gsi,
	    .flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN,
	};
	return ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0 ? -errno : 0;
}

static int append_route(struct accel_vm *vm, struct kvm_msi_route route)
{
	if (DEFAULT_ROUTES + vm->nr_msi_routes + 1 > vm->max_irq_routes)
		return -ENOSPC;
	if (vm->nr_msi_routes == vm->msi_routes_capacity) {
		unsigned cap = vm->msi_routes_capacity ? vm->msi_routes_capacity * 2 : 16;
		struct kvm_msi_route *grown = realloc(vm->msi_routes, cap * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		vm->msi_routes = grown;
		vm->msi_routes_capacity = cap;
	}
	vm->msi_routes[vm->nr_msi_routes++] = route;
	return 0;
}

static void remove_route(struct accel_vm *vm, struct kvm_msi_route *r)
{
	*r = vm->msi_routes[--vm->nr_msi_routes];
}

static int bind_new(struct accel_vm *vm, int fd, uint64_t address, uint32_t data)
{
	uint32_t gsi = free_gsi(vm);
	if (gsi == 0)
		return -ENOSPC;
	int rc = append_route(vm, (struct kvm_msi_route){fd, gsi, address, data});
	if (rc < 0)
		return rc;
	rc = commit_routes(vm);
	if (rc == 0)
		rc = set_irqfd(vm, fd, gsi, true);
	if (rc < 0) {
		remove_route(vm, find_route(vm, fd));
		commit_routes(vm);
	}
	return rc;
}

static int rebind(struct accel_vm *vm, struct kvm_msi_route *r, uint64_t address, uint32_t data)
{
	if (r->address == address && r->data == data)
		return 0;
	struct kvm_msi_route old = *r;
	r->address = address;
	r->data = data;
	int rc = commit_routes(vm);
	if (rc < 0)
		*r = old;
	return rc;
}

static int unbind(struct accel_vm *vm, struct kvm_msi_route *r)
{
	/* The irqfd goes before its route, so it never points at a missing GSI. */
	int rc = set_irqfd(vm, r->fd, r->gsi, false);
	remove_route(vm, r);
	int routes_rc = commit_routes(vm);
	return rc < 0 ? rc : routes_rc;
}

int kvm_msi_irqfd(void *opaque, int fd, uint64_t address, uint32_t data, bool assign)
{
	struct accel_vm *vm = opaque;
	if (fd < 0)
		return -EBADF;
	pthread_mutex_lock(&vm->routes_lock);
	struct kvm_msi_route *r = find_route(vm, fd);
	int rc;
	if (!assign)
		rc = r ? unbind(vm, r) : -ENOENT;
	else if (r)
		rc = rebind(vm, r, address, data);
	else
		rc = bind_new(vm, fd, address, data);
	pthread_mutex_unlock(&vm->routes_lock);
	return rc;
}

int kvm_mmio_eventfd(void *opaque, uint64_t addr, unsigned len, int fd, bool assign)
{
	struct accel_vm *vm = opaque;
	/* Any access size (len 0) needs KVM_CAP_IOEVENTFD_ANY_LENGTH; without it, match the
	 * 16-bit writes virtio drivers use for notifications. */
	if (len == 0 && !vm->has_ioeventfd_any_length)
		len = DOORBELL_FALLBACK_LEN;
	struct kvm_ioeventfd ioeventfd = {
	    .addr = addr,
	    .len = len,
	    .fd = fd,
	    .flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN,
	};
	return ioctl(vm->vm_fd, KVM_IOEVENTFD, &ioeventfd) < 0 ? -errno : 0;
}
