/* Saved state of a virtio-pci function (virtio_pci.h): the transport's record "virtio-pci",
 * then the device's (virtio_device_state.h). The transport's record holds what the driver
 * programmed: the configuration space (BAR, command register, MSI-X control), the common
 * configuration's selectors and vectors, the MSI-X table and PBA, the ISR and the INTx level.
 * The eventfds, irqfd and ioeventfd bindings are host resources: the loading function has its
 * own, and binds them as the loaded state asks. */
#include "virtio/virtio_pci_internal.h"

#include "devices/pci_function_state.h"
#include "lib/little_endian.h"
#include "lib/state_record.h"
#include "virtio/virtio_device_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATE_NAME    "virtio-pci"
#define STATE_VERSION 1

static const char *const state_keys[] = {
    "config",
    "device_feature_select",
    "driver_feature_select",
    "queue_select",
    "config_vector",
    "queue_vectors",
    "msix_table",
    "pba",
    "isr",
    "intx_level",
    NULL,
};

static void save_irq_state(struct virtio_pci *vp, struct state_writer *w)
{
	uint8_t table[MAX_VECTORS * MSIX_ENTRY_SIZE];
	pthread_mutex_lock(&vp->irq_lock);
	for (unsigned v = 0; v < vp->nr_vectors; v++) {
		const struct msix_entry *e = &vp->vectors[v].entry;
		uint8_t *p = table + v * MSIX_ENTRY_SIZE;
		p = le_put(p, e->address_lo, 4);
		p = le_put(p, e->address_hi, 4);
		p = le_put(p, e->data, 4);
		le_put(p, e->control, 4);
	}
	state_put_bytes(w, "msix_table", table, vp->nr_vectors * MSIX_ENTRY_SIZE, STATE_ESSENTIAL);
	state_put_u64(w, "pba", vp->pba, STATE_ESSENTIAL);
	state_put_u64(w, "isr", vp->isr, STATE_ESSENTIAL);
	state_put_u64(w, "intx_level", vp->intx_level, STATE_ESSENTIAL);
	pthread_mutex_unlock(&vp->irq_lock);
}

/* Lock order as a guest's config write: PCI host, device, interrupts. */
static void save_transport(struct virtio_pci *vp, struct state_writer *w)
{
	uint8_t vectors[VIRTIO_MAX_QUEUES * 2];
	pthread_mutex_lock(&vp->env.pci->lock);
	pthread_mutex_lock(&vp->dev->lock);
	state_record_begin(w, STATE_NAME, STATE_VERSION, STATE_VERSION);
	pci_function_save_config(&vp->fn, w, "config");
	state_put_u64(w, "device_feature_select", vp->device_feature_select, STATE_ESSENTIAL);
	state_put_u64(w, "driver_feature_select", vp->driver_feature_select, STATE_ESSENTIAL);
	state_put_u64(w, "queue_select", vp->queue_select, STATE_ESSENTIAL);
	state_put_u64(w, "config_vector", vp->config_vector, STATE_ESSENTIAL);
	for (unsigned q = 0; q < vp->dev->num_queues; q++)
		le_put(vectors + 2 * q, vp->queue_vector[q], 2);
	state_put_bytes(w, "queue_vectors", vectors, 2 * vp->dev->num_queues, STATE_ESSENTIAL);
	save_irq_state(vp, w);
	state_record_end(w);
	pthread_mutex_unlock(&vp->dev->lock);
	pthread_mutex_unlock(&vp->env.pci->lock);
}

void virtio_pci_save(struct virtio_pci *vp, struct state_writer *w)
{
	save_transport(vp, w);
	virtio_device_save(vp->dev, w);
}

/* --- loading -------------------------------------------------------------------------- */

/* The transport's state as a load found it valid. */
struct loaded_transport {
	struct pci_function fn; /* a copy with the loaded configuration space */
	uint32_t device_feature_select, driver_feature_select;
	uint16_t queue_select, config_vector;
	uint16_t queue_vector[VIRTIO_MAX_QUEUES];
	struct msix_entry entries[MAX_VECTORS];
	uint64_t pba;
	uint8_t isr;
};

static bool get_field(const struct state_record *rec, const char *key, uint64_t max,
		      uint64_t *value, char *err, size_t err_len)
{
	if (state_get_u64(rec, key, value) == 0 && *value <= max)
		return true;
	state_set_error(err, err_len, "virtio-pci state: \"%s\" is missing or out of range", key);
	return false;
}

/* A vector the function has, or none (what checked_vector lets the driver write). */
static bool valid_vector(const struct virtio_pci *vp, uint64_t v)
{
	return v < vp->nr_vectors || v == VIRTIO_MSI_NO_VECTOR;
}

static int check_vectors(const struct virtio_pci *vp, const struct state_record *rec,
			 struct loaded_transport *t, char *err, size_t err_len)
{
	uint64_t v;
	if (!get_field(rec, "config_vector", UINT16_MAX, &v, err, err_len))
		return -1;
	t->config_vector = (uint16_t)v;
	const void *data;
	uint32_t len;
	unsigned queues = vp->dev->num_queues;
	if (state_get_bytes(rec, "queue_vectors", &data, &len) < 0 || len != 2 * queues) {
		state_set_error(err, err_len,
				"virtio-pci state: \"queue_vectors\" is missing or not %u "
				"vectors",
				queues);
		return -1;
	}
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		t->queue_vector[q] = q < queues ? (uint16_t)le_get((const uint8_t *)data + 2 * q, 2)
						: VIRTIO_MSI_NO_VECTOR;
	bool ok = valid_vector(vp, t->config_vector);
	for (unsigned q = 0; q < queues; q++)
		ok = ok && valid_vector(vp, t->queue_vector[q]);
	if (!ok)
		state_set_error(err, err_len,
				"virtio-pci state: a vector is neither one of the %u MSI-X "
				"vectors nor NO_VECTOR",
				vp->nr_vectors);
	return ok ? 0 : -1;
}

static int check_msix_table(const struct virtio_pci *vp, const struct state_record *rec,
			    struct loaded_transport *t, char *err, size_t err_len)
{
	const void *data;
	uint32_t len;
	if (state_get_bytes(rec, "msix_table", &data, &len) < 0 ||
	    len != vp->nr_vectors * MSIX_ENTRY_SIZE) {
		state_set_error(err, err_len,
				"virtio-pci state: \"msix_table\" is missing or not %u entries",
				vp->nr_vectors);
		return -1;
	}
	const uint8_t *p = data;
	for (unsigned v = 0; v < vp->nr_vectors; v++) {
		struct msix_entry *e = &t->entries[v];
		e->address_lo = (uint32_t)le_take(&p, 4);
		e->address_hi = (uint32_t)le_take(&p, 4);
		e->data = (uint32_t)le_take(&p, 4);
		e->control = (uint32_t)le_take(&p, 4);
		/* Bits the table never lets the driver set (msix_table_write_dword). */
		if ((e->address_lo & 3) || (e->control & ~MSIX_ENTRY_CTRL_MASKBIT)) {
			state_set_error(err, err_len,
					"virtio-pci state: MSI-X entry %u has reserved bits set",
					v);
			return -1;
		}
	}
	return 0;
}

/* The ISR, PBA and INTx level, which must agree with the interrupt mode the loaded
 * configuration space selects (the line is what update_intx would make it). */
static int check_interrupts(const struct virtio_pci *vp, const struct state_record *rec,
			    struct loaded_transport *t, char *err, size_t err_len)
{
	uint64_t pba, isr, level;
	if (!get_field(rec, "pba", (1ULL << vp->nr_vectors) - 1, &pba, err, err_len) ||
	    !get_field(rec, "isr", ISR_QUEUE | ISR_CONFIG, &isr, err, err_len) ||
	    !get_field(rec, "intx_level", 1, &level, err, err_len))
		return -1;
	uint16_t control =
	    (uint16_t)pci_function_config_read(&t->fn, vp->msix_cap + MSIX_CAP_CONTROL, 2);
	bool intx_disabled = pci_function_command(&t->fn) & PCI_COMMAND_INTX_DISABLE;
	bool want = isr != 0 && !(control & MSIX_CONTROL_ENABLE) && !intx_disabled;
	if (level != want) {
		state_set_error(err, err_len,
				"virtio-pci state: the INTx level (%llu) contradicts the ISR and "
				"the interrupt mode",
				(unsigned long long)level);
		return -1;
	}
	t->pba = pba;
	t->isr = (uint8_t)isr;
	return 0;
}

static int check_transport(struct virtio_pci *vp, const struct state_record *rec,
			   struct loaded_transport *t, char *err, size_t err_len)
{
	struct state_reader_spec spec = {STATE_NAME, STATE_VERSION, 1, state_keys};
	if (state_record_check(rec, &spec, err, err_len) < 0)
		return -1;
	pthread_mutex_lock(&vp->env.pci->lock);
	t->fn = vp->fn;
	pthread_mutex_unlock(&vp->env.pci->lock);
	if (pci_function_load_config(&t->fn, rec, "config", err, err_len) < 0)
		return -1;
	uint64_t dsel, fsel, qsel;
	if (!get_field(rec, "device_feature_select", UINT32_MAX, &dsel, err, err_len) ||
	    !get_field(rec, "driver_feature_select", UINT32_MAX, &fsel, err, err_len) ||
	    !get_field(rec, "queue_select", UINT16_MAX, &qsel, err, err_len))
		return -1;
	t->device_feature_select = (uint32_t)dsel;
	t->driver_feature_select = (uint32_t)fsel;
	t->queue_select = (uint16_t)qsel;
	if (check_vectors(vp, rec, t, err, err_len) < 0 ||
	    check_msix_table(vp, rec, t, err, err_len) < 0)
		return -1;
	return check_interrupts(vp, rec, t, err, err_len);
}

/* Lock order as a guest's config write: PCI host, device, interrupts. The configuration
 * space goes in first, as the guest's writes would have put it, so that the BAR follows it;
 * then the interrupt state, whose vectors bind according to the mode it selects. */
static void apply_transport(struct virtio_pci *vp, const struct loaded_transport *t)
{
	pthread_mutex_lock(&vp->env.pci->lock);
	pthread_mutex_lock(&vp->dev->lock);
	vp->device_feature_select = t->device_feature_select;
	vp->driver_feature_select = t->driver_feature_select;
	vp->queue_select = t->queue_select;
	vp->config_vector = t->config_vector;
	memcpy(vp->queue_vector, t->queue_vector, sizeof(vp->queue_vector));
	memcpy(vp->fn.config, t->fn.config, sizeof(vp->fn.config));
	virtio_pci_follow_config(vp);
	virtio_pci_irq_load(vp, t->entries, t->pba, t->isr);
	pthread_mutex_unlock(&vp->dev->lock);
	pthread_mutex_unlock(&vp->env.pci->lock);
}

/* A load goes into a device as virtio_pci_create left it: nothing of the guest's to keep. */
static int check_fresh(struct virtio_pci *vp, char *err, size_t err_len)
{
	pthread_mutex_lock(&vp->dev->lock);
	bool fresh = vp->dev->status == 0 && !vp->dev->started;
	pthread_mutex_unlock(&vp->dev->lock);
	if (!fresh)
		state_set_error(err, err_len,
				"%s: saved state loads only into a device the guest has not used",
				vp->dev->name);
	return fresh ? 0 : -1;
}

int virtio_pci_load(struct virtio_pci *vp, const uint8_t *buf, size_t len, size_t *pos, char *err,
		    size_t err_len)
{
	/* Large (a configuration space, a virtqueue per queue): not on the stack. */
	struct {
		struct loaded_transport transport;
		struct virtio_device_loaded device;
	} *s = calloc(1, sizeof(*s));
	if (!s) {
		state_set_error(err, err_len, "%s: out of memory loading its state", vp->dev->name);
		return -1;
	}
	size_t at = *pos;
	struct state_record rec;
	int rc = -1;
	if (check_fresh(vp, err, err_len) == 0 &&
	    state_record_parse(buf, len, &at, &rec, err, err_len) == 0 &&
	    check_transport(vp, &rec, &s->transport, err, err_len) == 0 &&
	    virtio_device_check_state(vp->dev, buf, len, &at, &s->device, err, err_len) == 0) {
		apply_transport(vp, &s->transport);
		virtio_device_apply_state(vp->dev, &s->device);
		virtio_device_start_loaded(vp->dev, s->device.queues);
		*pos = at;
		rc = 0;
	}
	free(s);
	return rc;
}
