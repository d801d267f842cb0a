/* Private to the virtio-pci transport (virtio_pci.c: registers, BAR, creation;
 * virtio_pci_irq.c: MSI-X, INTx and the ISR). */
#ifndef GUREUM_VIRTIO_VIRTIO_PCI_INTERNAL_H
#define GUREUM_VIRTIO_VIRTIO_PCI_INTERNAL_H

#include "virtio/virtio_pci.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* MSI-X (PCI 3.0 section 6.8.2) */
#define MSIX_CAP_LEN		12
#define MSIX_CAP_CONTROL	2
#define MSIX_CAP_TABLE		4
#define MSIX_CAP_PBA		8
#define MSIX_CONTROL_ENABLE	0x8000
#define MSIX_CONTROL_MASKALL	0x4000
#define MSIX_ENTRY_SIZE		16
#define MSIX_ENTRY_CTRL_MASKBIT 1
#define VIRTIO_MSI_NO_VECTOR	0xffff
#define MAX_VECTORS		(VIRTIO_MAX_QUEUES + 1)

/* ISR status bits (spec 4.1.4.5) */
#define ISR_QUEUE  1
#define ISR_CONFIG 2

struct msix_entry {
	uint32_t address_lo, address_hi, data, control;
};

struct msix_vector {
	struct msix_entry entry;
	int fd;	    /* eventfd: written to raise the vector (an irqfd while bound) */
	bool bound; /* fd is a KVM irqfd for entry's message right now */
	uint64_t bound_address;
	uint32_t bound_data;
};

struct virtio_pci {
	struct virtio_device *dev;
	struct virtio_pci_env env;
	struct pci_function fn;
	unsigned slot;
	uint32_t intx_gsi;
	int msix_cap;
	int cfg_cap; /* VIRTIO_PCI_CAP_PCI_CFG: BAR access through config space */

	/* BAR mapping: changed from config-space writes (PCI host lock). */
	bool mapped;
	uint64_t mapped_base;
	bool doorbell_bound[VIRTIO_MAX_QUEUES];
	bool map_failure_logged;

	/* Common configuration state of the transport (device lock). */
	uint32_t device_feature_select, driver_feature_select;
	uint16_t queue_select;
	uint16_t config_vector;
	uint16_t queue_vector[VIRTIO_MAX_QUEUES];

	/* Interrupts (irq_lock). */
	pthread_mutex_t irq_lock;
	unsigned nr_vectors;
	struct msix_vector vectors[MAX_VECTORS];
	uint64_t pba;
	bool msix_enabled, msix_masked, intx_disabled;
	bool no_irqfd; /* the accelerator cannot bind irqfds: always msi_send */
	uint8_t isr;
	bool intx_level;
};

static inline uint64_t load_le(const void *data, unsigned size)
{
	const uint8_t *p = data;
	uint64_t v = 0;
	for (unsigned i = 0; i < size && i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static inline void put_le(uint8_t *p, uint64_t v, unsigned size)
{
	for (unsigned i = 0; i < size; i++)
		p[i] = (v >> (8 * i)) & 0xff;
}

/* Copies `size` bytes at `offset` of an image of `len` bytes; all-ones outside it. */
static inline void read_image(const uint8_t *image, size_t len, uint64_t offset, void *data,
			      unsigned size)
{
	if (offset < len && size <= len - offset)
		memcpy(data, image + offset, size);
	else
		memset(data, 0xff, size);
}

static inline bool natural_access(unsigned size)
{
	return size == 1 || size == 2 || size == 4 || size == 8;
}

/* virtio_pci_irq.c. Vectors: one eventfd each, masked, unbound. Returns 0 or -errno. */
int virtio_pci_create_vectors(struct virtio_pci *vp);
/* Unbinds the irqfds and closes the eventfds. */
void virtio_pci_free_vectors(struct virtio_pci *vp);
/* The transport callbacks of struct virtio_transport (device lock held). */
void virtio_pci_notify_queue(void *opaque, unsigned index);
void virtio_pci_notify_config(void *opaque);
int virtio_pci_queue_irqfd(void *opaque, unsigned index);
/* The driver reset the device: ISR clear, INTx low. */
void virtio_pci_irq_reset(struct virtio_pci *vp);
/* The MSI-X capability's control word or the command register changed. */
void virtio_pci_set_interrupt_mode(struct virtio_pci *vp, bool msix_enabled, bool msix_masked,
				   bool intx_disabled);
/* BAR accesses to the ISR, the MSI-X table and the PBA (`offset` within the structure). */
void virtio_pci_isr_read(struct virtio_pci *vp, uint64_t offset, void *data, unsigned size);
void virtio_pci_msix_table_read(struct virtio_pci *vp, uint64_t offset, void *data, unsigned size);
void virtio_pci_msix_table_write(struct virtio_pci *vp, uint64_t offset, const void *data,
				 unsigned size);
void virtio_pci_msix_pba_read(struct virtio_pci *vp, uint64_t offset, void *data, unsigned size);

/* virtio_pci.c: maps or unmaps the BAR and sets the interrupt mode as the configuration space
 * now says (PCI host lock held): what a config write does, for a loaded configuration. */
void virtio_pci_follow_config(struct virtio_pci *vp);
/* virtio_pci_irq.c: takes a loaded MSI-X table, PBA and ISR, then binds the vectors that can
 * fire and sets the INTx line accordingly. */
void virtio_pci_irq_load(struct virtio_pci *vp, const struct msix_entry *entries, uint64_t pba,
			 uint8_t isr);

#endif
