/* The device core's saved state (see virtio_device_state.h). Each queue is one fixed-size
 * entry of the "queues" field, in queue order:
 *   u16 size, u8 enabled, u8 broken, u64 desc, u64 avail (driver area), u64 used (device
 *   area), u16 last_avail_idx, u16 used_idx, u16 signalled_used, u8 signalled_used_valid
 * Host resources (kick eventfds, the thread, the watches) are not state: the loading device
 * has its own. */
#include "virtio/virtio_device_state.h"

#include "lib/little_endian.h"

#include <stdio.h>
#include <string.h>

#define STATE_NAME    "virtio-device"
#define STATE_VERSION 1
#define QUEUE_ENTRY   35

static const char *const state_keys[] = {
    "device_id", "status", "driver_features", "config_generation", "queues", NULL,
};

static void put_queue(uint8_t *p, const struct virtqueue *vq, uint16_t held)
{
	p = le_put(p, vq->size, 2);
	p = le_put(p, vq->enabled, 1);
	p = le_put(p, vq->broken, 1);
	p = le_put(p, vq->desc_addr, 8);
	p = le_put(p, vq->avail_addr, 8);
	p = le_put(p, vq->used_addr, 8);
	/* Chains the model still holds go back to the ring: the loaded device takes them
	 * again (virtio_device_ops.held_chains). */
	p = le_put(p, (uint16_t)(vq->last_avail_idx - held), 2);
	p = le_put(p, vq->used_idx, 2);
	p = le_put(p, vq->signalled_used, 2);
	le_put(p, vq->signalled_used_valid, 1);
}

void virtio_device_save(struct virtio_device *d, struct state_writer *w)
{
	uint8_t queues[VIRTIO_MAX_QUEUES * QUEUE_ENTRY];
	pthread_mutex_lock(&d->lock);
	for (unsigned i = 0; i < d->num_queues; i++) {
		uint16_t held = d->ops->held_chains && d->started ? d->ops->held_chains(d, i) : 0;
		put_queue(queues + i * QUEUE_ENTRY, &d->queues[i], held);
	}
	state_record_begin(w, STATE_NAME, STATE_VERSION, STATE_VERSION);
	state_put_u64(w, "device_id", d->device_id, STATE_ESSENTIAL);
	state_put_u64(w, "status", d->status, STATE_ESSENTIAL);
	state_put_u64(w, "driver_features", d->driver_features, STATE_ESSENTIAL);
	state_put_u64(w, "config_generation", d->config_generation, STATE_ESSENTIAL);
	state_put_bytes(w, "queues", queues, d->num_queues * QUEUE_ENTRY, STATE_ESSENTIAL);
	state_record_end(w);
	if (d->ops->save_state)
		d->ops->save_state(d, w);
	pthread_mutex_unlock(&d->lock);
}

/* --- loading -------------------------------------------------------------------------- */

static bool get_field(const struct state_record *rec, const char *key, uint64_t max,
		      uint64_t *value, char *err, size_t err_len)
{
	if (state_get_u64(rec, key, value) == 0 && *value <= max)
		return true;
	state_set_error(err, err_len, "virtio-device state: \"%s\" is missing or out of range",
			key);
	return false;
}

/* The status and features as a live device could have them: features it offers, and
 * FEATURES_OK and DRIVER_OK only as virtio_device_write_status grants them. */
static int check_negotiation(const struct virtio_device *d, const struct virtio_device_loaded *s,
			     char *err, size_t err_len)
{
	if (s->driver_features & ~d->host_features) {
		state_set_error(err, err_len,
				"virtio-device state: the driver features %#llx include bits "
				"%s does not offer (%#llx)",
				(unsigned long long)s->driver_features, d->name,
				(unsigned long long)(s->driver_features & ~d->host_features));
		return -1;
	}
	bool version_1 = (s->driver_features >> VIRTIO_F_VERSION_1) & 1;
	if ((s->status & VIRTIO_STATUS_FEATURES_OK) && !version_1) {
		state_set_error(err, err_len,
				"virtio-device state: FEATURES_OK without VERSION_1 negotiated");
		return -1;
	}
	uint8_t stopped = VIRTIO_STATUS_DEVICE_NEEDS_RESET | VIRTIO_STATUS_FAILED;
	if ((s->status & VIRTIO_STATUS_DRIVER_OK) && !(s->status & VIRTIO_STATUS_FEATURES_OK) &&
	    !(s->status & stopped)) {
		state_set_error(err, err_len,
				"virtio-device state: a running device without FEATURES_OK");
		return -1;
	}
	return 0;
}

static bool power_of_two(uint32_t v)
{
	return v && !(v & (v - 1));
}

static void take_queue(const uint8_t *p, struct virtqueue *vq, uint8_t flags[3])
{
	vq->size = (uint16_t)le_take(&p, 2);
	flags[0] = (uint8_t)le_take(&p, 1); /* enabled */
	flags[1] = (uint8_t)le_take(&p, 1); /* broken */
	vq->desc_addr = le_take(&p, 8);
	vq->avail_addr = le_take(&p, 8);
	vq->used_addr = le_take(&p, 8);
	vq->last_avail_idx = (uint16_t)le_take(&p, 2);
	vq->used_idx = (uint16_t)le_take(&p, 2);
	vq->signalled_used = (uint16_t)le_take(&p, 2);
	flags[2] = (uint8_t)le_take(&p, 1); /* signalled_used_valid */
	vq->enabled = flags[0];
	vq->broken = flags[1];
	vq->signalled_used_valid = flags[2];
}

/* One queue: sizes as virtio_device_enable_queue allows them, flags 0 or 1, no more chains
 * outstanding than the ring holds, and rings inside guest RAM when the device runs on them. */
static int check_queue(struct virtio_device *d, unsigned i, const struct virtio_device_loaded *s,
		       const uint8_t flags[3], char *err, size_t err_len)
{
	const struct virtqueue *vq = &s->queues[i];
	if (flags[0] > 1 || flags[1] > 1 || flags[2] > 1) {
		state_set_error(err, err_len,
				"virtio-device state: queue %u has a flag other "
				"than 0 or 1",
				i);
		return -1;
	}
	if ((vq->size || vq->enabled) && (!power_of_two(vq->size) || vq->size > vq->max_size)) {
		state_set_error(err, err_len,
				"virtio-device state: queue %u has size %u (must be a power of "
				"two <= %u)",
				i, vq->size, vq->max_size);
		return -1;
	}
	if (vq->size && (uint16_t)(vq->last_avail_idx - vq->used_idx) > vq->size) {
		state_set_error(err, err_len,
				"virtio-device state: queue %u has more chains outstanding "
				"(%u) than entries (%u)",
				i, (uint16_t)(vq->last_avail_idx - vq->used_idx), vq->size);
		return -1;
	}
	uint8_t stopped = VIRTIO_STATUS_DEVICE_NEEDS_RESET | VIRTIO_STATUS_FAILED;
	bool runs = (s->status & VIRTIO_STATUS_DRIVER_OK) && !(s->status & stopped);
	char why[160];
	if (runs && vq->enabled && !vq->broken && virtq_check(vq, d->mem, why, sizeof(why)) < 0) {
		state_set_error(err, err_len, "virtio-device state: queue %u: %s", i, why);
		return -1;
	}
	return 0;
}

static int check_queues(struct virtio_device *d, const struct state_record *rec,
			struct virtio_device_loaded *s, char *err, size_t err_len)
{
	const void *data;
	uint32_t len;
	if (state_get_bytes(rec, "queues", &data, &len) < 0 || len != d->num_queues * QUEUE_ENTRY) {
		state_set_error(err, err_len,
				"virtio-device state: \"queues\" is missing or does not hold "
				"%u queues (%s has that many)",
				d->num_queues, d->name);
		return -1;
	}
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++) {
		s->queues[i] = (struct virtqueue){.max_size = d->queues[i].max_size};
		if (i >= d->num_queues)
			continue;
		uint8_t flags[3];
		take_queue((const uint8_t *)data + i * QUEUE_ENTRY, &s->queues[i], flags);
		if (check_queue(d, i, s, flags, err, err_len) < 0)
			return -1;
	}
	return 0;
}

static int check_core(struct virtio_device *d, const struct state_record *rec,
		      struct virtio_device_loaded *s, char *err, size_t err_len)
{
	struct state_reader_spec spec = {STATE_NAME, STATE_VERSION, 1, state_keys};
	if (state_record_check(rec, &spec, err, err_len) < 0)
		return -1;
	uint64_t id, status, generation;
	if (!get_field(rec, "device_id", UINT16_MAX, &id, err, err_len) ||
	    !get_field(rec, "status", UINT8_MAX, &status, err, err_len) ||
	    !get_field(rec, "driver_features", UINT64_MAX, &s->driver_features, err, err_len) ||
	    !get_field(rec, "config_generation", UINT8_MAX, &generation, err, err_len))
		return -1;
	if (id != d->device_id) {
		state_set_error(err, err_len,
				"virtio-device state: saved from a device of type %llu, %s is of "
				"type %u",
				(unsigned long long)id, d->name, d->device_id);
		return -1;
	}
	s->status = (uint8_t)status;
	s->config_generation = (uint8_t)generation;
	if (check_negotiation(d, s, err, err_len) < 0)
		return -1;
	return check_queues(d, rec, s, err, err_len);
}

int virtio_device_check_state(struct virtio_device *d, const uint8_t *buf, size_t len, size_t *pos,
			      struct virtio_device_loaded *out, char *err, size_t err_len)
{
	size_t at = *pos;
	struct state_record rec;
	memset(out, 0, sizeof(*out));
	if (state_record_parse(buf, len, &at, &rec, err, err_len) < 0 ||
	    check_core(d, &rec, out, err, err_len) < 0)
		return -1;
	if (d->ops->load_state) {
		if (state_record_parse(buf, len, &at, &out->model, err, err_len) < 0 ||
		    d->ops->load_state(d, &out->model, false, err, err_len) < 0)
			return -1;
		out->has_model_record = true;
	}
	*pos = at;
	return 0;
}

void virtio_device_apply_state(struct virtio_device *d, const struct virtio_device_loaded *s)
{
	pthread_mutex_lock(&d->lock);
	d->status = s->status;
	d->driver_features = s->driver_features;
	d->config_generation = s->config_generation;
	for (unsigned i = 0; i < d->num_queues; i++) {
		struct virtqueue *vq = &d->queues[i];
		virtq_reset(vq);
		const struct virtqueue *saved = &s->queues[i];
		vq->size = saved->size;
		vq->enabled = saved->enabled;
		vq->desc_addr = saved->desc_addr;
		vq->avail_addr = saved->avail_addr;
		vq->used_addr = saved->used_addr;
		vq->last_avail_idx = saved->last_avail_idx;
		vq->used_idx = saved->used_idx;
		vq->signalled_used = saved->signalled_used;
		vq->signalled_used_valid = saved->signalled_used_valid;
		vq->broken = saved->broken;
		if (vq->broken)
			snprintf(vq->error, sizeof(vq->error), "the queue was broken when saved");
	}
	if (s->has_model_record) {
		char ignored[8];
		d->ops->load_state(d, &s->model, true, ignored, sizeof(ignored));
	}
	pthread_mutex_unlock(&d->lock);
}
