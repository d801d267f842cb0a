/* Interrupts of the virtio-pci transport: MSI-X vectors (table, PBA, per-vector irqfds bound
 * while the vector can fire), INTx with the read-to-clear ISR when MSI-X is off. All state here
 * is under vp->irq_lock, the innermost lock of the transport. */
#include "virtio/virtio_pci_internal.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

static bool vector_masked(const struct virtio_pci *vp, unsigned v)
{
	return vp->msix_masked || (vp->vectors[v].entry.control & MSIX_ENTRY_CTRL_MASKBIT);
}

static uint64_t vector_address(const struct msix_vector *mv)
{
	return (uint64_t)mv->entry.address_hi << 32 | mv->entry.address_lo;
}

static void deliver_vector(struct virtio_pci *vp, unsigned v)
{
	struct msix_vector *mv = &vp->vectors[v];
	uint64_t one = 1;
	if (mv->bound && write(mv->fd, &one, sizeof(one)) == sizeof(one))
		return;
	msi_send(&vp->env.irq, vector_address(mv), mv->entry.data);
}

/* MSI-X: a masked vector's message is held back as a pending bit (spec: PBA), and sent when
 * the driver unmasks it. */
static void raise_vector(struct virtio_pci *vp, uint16_t v)
{
	if (v >= vp->nr_vectors)
		return; /* VIRTIO_MSI_NO_VECTOR or never assigned: no interrupt */
	if (vector_masked(vp, v))
		vp->pba |= 1ULL << v;
	else
		deliver_vector(vp, v);
}

static void update_intx(struct virtio_pci *vp)
{
	bool level = vp->isr != 0 && !vp->msix_enabled && !vp->intx_disabled;
	if (level != vp->intx_level) {
		vp->intx_level = level;
		irq_set_level(&vp->env.irq, vp->intx_gsi, level);
	}
}

/* Signals that arrived on an unbound vector's eventfd (from vhost, while the vector was
 * masked) become pending bits. */
static void collect_eventfd(struct virtio_pci *vp, unsigned v)
{
	uint64_t count;
	if (read(vp->vectors[v].fd, &count, sizeof(count)) == sizeof(count) && count)
		vp->pba |= 1ULL << v;
}

/* Keeps vector v's irqfd bound exactly while the vector can fire (MSI-X on, nothing masked),
 * with the entry's current message, and sends a pending message once it can. */
static void sync_vector(struct virtio_pci *vp, unsigned v)
{
	struct msix_vector *mv = &vp->vectors[v];
	bool live = vp->msix_enabled && !vector_masked(vp, v);
	uint64_t address = vector_address(mv);
	if (mv->bound &&
	    (!live || address != mv->bound_address || mv->entry.data != mv->bound_data)) {
		msi_irqfd_bind(&vp->env.irq, mv->fd, 0, 0, false);
		mv->bound = false;
	}
	if (live && !mv->bound && !vp->no_irqfd) {
		collect_eventfd(vp, v);
		int rc = msi_irqfd_bind(&vp->env.irq, mv->fd, address, mv->entry.data, true);
		if (rc == -ENOSYS)
			vp->no_irqfd = true;
		mv->bound = rc == 0;
		mv->bound_address = address;
		mv->bound_data = mv->entry.data;
	}
	if (live && (vp->pba & (1ULL << v))) {
		vp->pba &= ~(1ULL << v);
		deliver_vector(vp, v);
	}
}

static void sync_all_vectors(struct virtio_pci *vp)
{
	for (unsigned v = 0; v < vp->nr_vectors; v++)
		sync_vector(vp, v);
	update_intx(vp);
}

void virtio_pci_notify_queue(void *opaque, unsigned index)
{
	struct virtio_pci *vp = opaque;
	pthread_mutex_lock(&vp->irq_lock);
	if (vp->msix_enabled) {
		raise_vector(vp, vp->queue_vector[index]);
	} else {
		vp->isr |= ISR_QUEUE;
		update_intx(vp);
	}
	pthread_mutex_unlock(&vp->irq_lock);
}

void virtio_pci_notify_config(void *opaque)
{
	struct virtio_pci *vp = opaque;
	pthread_mutex_lock(&vp->irq_lock);
	vp->isr |= ISR_CONFIG;
	if (vp->msix_enabled)
		raise_vector(vp, vp->config_vector);
	else
		update_intx(vp);
	pthread_mutex_unlock(&vp->irq_lock);
}

int virtio_pci_queue_irqfd(void *opaque, unsigned index)
{
	struct virtio_pci *vp = opaque;
	int fd = -1;
	pthread_mutex_lock(&vp->irq_lock);
	uint16_t v = index < VIRTIO_MAX_QUEUES ? vp->queue_vector[index] : VIRTIO_MSI_NO_VECTOR;
	if (vp->msix_enabled && v < vp->nr_vectors && vp->vectors[v].bound)
		fd = vp->vectors[v].fd;
	pthread_mutex_unlock(&vp->irq_lock);
	return fd;
}

/* Reading the ISR acknowledges it: the bits clear and the INTx line drops (spec 4.1.4.5). */
void virtio_pci_isr_read(struct virtio_pci *vp, uint64_t offset, void *data, unsigned size)
{
	memset(data, 0, size);
	if (offset != 0)
		return;
	pthread_mutex_lock(&vp->irq_lock);
	((uint8_t *)data)[0] = vp->isr;
	vp->isr = 0;
	update_intx(vp);
	pthread_mutex_unlock(&vp->irq_lock);
}

static void msix_entry_image(const struct msix_entry *e, uint8_t *img)
{
	put_le(img, e->address_lo, 4);
	put_le(img + 4, e->address_hi, 4);
	put_le(img + 8, e->data, 4);
	put_le(img + 12, e->control, 4);
}

void virtio_pci_msix_table_read(struct virtio_pci *vp, uint64_t offset, void *data, unsigned size)
{
	uint8_t img[MAX_VECTORS * MSIX_ENTRY_SIZE];
	pthread_mutex_lock(&vp->irq_lock);
	for (unsigned v = 0; v < vp->nr_vectors; v++)
		msix_entry_image(&vp->vectors[v].entry, img + v * MSIX_ENTRY_SIZE);
	pthread_mutex_unlock(&vp->irq_lock);
	read_image(img, vp->nr_vectors * MSIX_ENTRY_SIZE, offset, data, size);
}

static void msix_table_write_dword(struct virtio_pci *vp, uint64_t offset, uint32_t value)
{
	unsigned v = (unsigned)(offset / MSIX_ENTRY_SIZE);
	if (v >= vp->nr_vectors)
		return;
	struct msix_entry *e = &vp->vectors[v].entry;
	switch (offset % MSIX_ENTRY_SIZE) {
	case 0:
		e->address_lo = value & ~3U; /* the low two bits are reserved, read-only 0 */
		break;
	case 4:
		e->address_hi = value;
		break;
	case 8:
		e->data = value;
		break;
	default:
		e->control = value & MSIX_ENTRY_CTRL_MASKBIT;
	}
	sync_vector(vp, v);
}

/* The PCI spec allows dword and (aligned) qword accesses to the table; others are ignored. */
void virtio_pci_msix_table_write(struct virtio_pci *vp, uint64_t offset, const void *data,
				 unsigned size)
{
	if ((size != 4 && size != 8) || offset % size)
		return;
	uint64_t value = load_le(data, size);
	pthread_mutex_lock(&vp->irq_lock);
	msix_table_write_dword(vp, offset, (uint32_t)value);
	if (size == 8)
		msix_table_write_dword(vp, offset + 4, (uint32_t)(value >> 32));
	pthread_mutex_unlock(&vp->irq_lock);
}

void virtio_pci_msix_pba_read(struct virtio_pci *vp, uint64_t offset, void *data, unsigned size)
{
	uint8_t img[8];
	pthread_mutex_lock(&vp->irq_lock);
	for (unsigned v = 0; v < vp->nr_vectors; v++)
		if (vp->msix_enabled && !vp->vectors[v].bound)
			collect_eventfd(vp, v);
	put_le(img, vp->pba, 8);
	pthread_mutex_unlock(&vp->irq_lock);
	read_image(img, sizeof(img), offset, data, size);
}

int virtio_pci_create_vectors(struct virtio_pci *vp)
{
	vp->nr_vectors = vp->dev->num_queues + 1;
	for (unsigned v = 0; v < MAX_VECTORS; v++) {
		vp->vectors[v].fd = -1;
		vp->vectors[v].entry.control = MSIX_ENTRY_CTRL_MASKBIT; /* masked at reset */
	}
	for (unsigned v = 0; v < vp->nr_vectors; v++) {
		vp->vectors[v].fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (vp->vectors[v].fd < 0)
			return -errno;
	}
	return 0;
}

void virtio_pci_free_vectors(struct virtio_pci *vp)
{
	pthread_mutex_lock(&vp->irq_lock);
	for (unsigned v = 0; v < MAX_VECTORS; v++) {
		struct msix_vector *mv = &vp->vectors[v];
		if (mv->bound)
			msi_irqfd_bind(&vp->env.irq, mv->fd, 0, 0, false);
		mv->bound = false;
		if (mv->fd >= 0)
			close(mv->fd);
		mv->fd = -1;
	}
	pthread_mutex_unlock(&vp->irq_lock);
}

void virtio_pci_irq_reset(struct virtio_pci *vp)
{
	pthread_mutex_lock(&vp->irq_lock);
	vp->isr = 0;
	update_intx(vp);
	pthread_mutex_unlock(&vp->irq_lock);
}

void virtio_pci_set_interrupt_mode(struct virtio_pci *vp, bool msix_enabled, bool msix_masked,
				   bool intx_disabled)
{
	pthread_mutex_lock(&vp->irq_lock);
	/* ISR bits set while MSI-X was on were never read (the driver does not look at the ISR
	 * then); carried over to INTx they would raise a line no handler expects. */
	if (vp->msix_enabled != msix_enabled)
		vp->isr = 0;
	vp->msix_enabled = msix_enabled;
	vp->msix_masked = msix_masked;
	vp->intx_disabled = intx_disabled;
	sync_all_vectors(vp);
	pthread_mutex_unlock(&vp->irq_lock);
}

void virtio_pci_irq_load(struct virtio_pci *vp, const struct msix_entry *entries, uint64_t pba,
			 uint8_t isr)
{
	pthread_mutex_lock(&vp->irq_lock);
	for (unsigned v = 0; v < vp->nr_vectors; v++)
		vp->vectors[v].entry = entries[v];
	vp->pba = pba;
	vp->isr = isr;
	/* A vector bound with the fresh table's message is rebound with the loaded one. */
	sync_all_vectors(vp);
	pthread_mutex_unlock(&vp->irq_lock);
}
