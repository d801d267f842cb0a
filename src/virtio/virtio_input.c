/* virtio-input's device side (virtio_input.h): configuration space, event queue with its
 * bounded pending frames, status queue.
 *
 * Guest mistakes never stop the device: a select the spec does not define reads size 0, an
 * event buffer too short for an event is given back empty and the event goes into the next
 * one, a status buffer that is no valid event is given back and counted. Only a malformed
 * ring (the core's checks) fails the device, as for every virtio device. */
#include "virtio/virtio_input.h"

#include "virtio/virtio_devices.h"

#include "lib/state_record.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define INPUT_NUM_QUEUES 2
#define INPUT_QUEUE_SIZE 64

#define OFFSET_SELECT 0
#define OFFSET_SUBSEL 1
#define OFFSET_SIZE   2

static struct virtio_input *to_input(struct virtio_device *d)
{
	return (struct virtio_input *)d;
}

/* `count`: the driver wrote select, whose value is counted if the spec has no such one. */
static void select_answer(struct virtio_input *in, bool count)
{
	bool unknown;
	in->size =
	    virtio_input_config_answer(in->desc, in->select, in->subsel, in->answer, &unknown);
	if (unknown && count)
		in->stats.bad_selects++;
}

static uint8_t config_byte(struct virtio_input *in, uint32_t offset)
{
	if (offset == OFFSET_SELECT)
		return in->select;
	if (offset == OFFSET_SUBSEL)
		return in->subsel;
	if (offset == OFFSET_SIZE)
		return in->size;
	if (offset < VIRTIO_INPUT_UNION_OFFSET)
		return 0; /* reserved */
	return in->answer[offset - VIRTIO_INPUT_UNION_OFFSET];
}

/* The core checked offset + size <= VIRTIO_INPUT_CONFIG_SIZE. */
static void input_config_read(struct virtio_device *d, uint32_t offset, void *data, unsigned size)
{
	uint8_t *out = data;
	for (unsigned i = 0; i < size; i++)
		out[i] = config_byte(to_input(d), offset + i);
}

/* The driver writes select and subsel (one byte each, or both in one access); every other
 * field is read-only. */
static void input_config_write(struct virtio_device *d, uint32_t offset, const void *data,
			       unsigned size)
{
	struct virtio_input *in = to_input(d);
	const uint8_t *bytes = data;
	bool changed = false, selected = false;
	for (unsigned i = 0; i < size; i++) {
		if (offset + i == OFFSET_SELECT)
			in->select = bytes[i], selected = true;
		else if (offset + i == OFFSET_SUBSEL)
			in->subsel = bytes[i];
		else
			continue;
		changed = true;
	}
	if (changed)
		select_answer(in, selected);
}

static bool queue_usable(const struct virtqueue *vq)
{
	return vq->enabled && !vq->broken;
}

bool virtio_input_driver_ready(struct virtio_input *in)
{
	struct virtio_device *d = &in->dev;
	pthread_mutex_lock(&d->lock);
	uint8_t stopped = VIRTIO_STATUS_DEVICE_NEEDS_RESET | VIRTIO_STATUS_FAILED;
	bool ready = d->started && (d->status & VIRTIO_STATUS_DRIVER_OK) &&
		     !(d->status & stopped) && queue_usable(&d->queues[VIRTIO_INPUT_QUEUE_EVENTS]);
	pthread_mutex_unlock(&d->lock);
	return ready;
}

bool virtio_input_ready(struct virtio_device *d)
{
	return virtio_input_driver_ready(to_input(d));
}

static const struct virtio_input_event *pending_peek(struct virtio_input *in)
{
	return &in->pending[in->pending_head];
}

static void pending_drop_one(struct virtio_input *in)
{
	in->pending_head = (in->pending_head + 1) % VIRTIO_INPUT_PENDING_MAX;
	in->pending_count--;
}

/* Drops the oldest frame: its events up to and including its SYN_REPORT. */
static void pending_drop_frame(struct virtio_input *in)
{
	while (in->pending_count > 0) {
		bool end = pending_peek(in)->type == EV_SYN;
		pending_drop_one(in);
		if (end)
			break;
	}
	in->stats.frames_dropped++;
}

static void pending_push(struct virtio_input *in, struct virtio_input_event ev)
{
	unsigned tail = (in->pending_head + in->pending_count) % VIRTIO_INPUT_PENDING_MAX;
	in->pending[tail] = ev;
	in->pending_count++;
}

/* Writes the next pending event into the next buffer. 1 when one went, 0 when no buffer is
 * there, -1 when the ring is malformed (the device has failed). */
static int deliver_one(struct virtio_input *in)
{
	struct virtqueue *vq = &in->dev.queues[VIRTIO_INPUT_QUEUE_EVENTS];
	int rc = virtq_pop(vq, &in->chain);
	if (rc <= 0) {
		if (rc < 0)
			virtio_device_fail(&in->dev, "eventq: %s", vq->error);
		return rc < 0 ? -1 : 0;
	}
	const struct virtio_input_event *ev = pending_peek(in);
	if (in->chain.in_bytes < sizeof(*ev)) {
		/* The event waits for a buffer that can hold it. */
		virtq_push(vq, in->chain.head, 0);
		in->stats.short_buffers++;
		return 1;
	}
	virtq_push(vq, in->chain.head, (uint32_t)virtq_chain_write(&in->chain, 0, ev, sizeof(*ev)));
	pending_drop_one(in);
	in->stats.events++;
	return 1;
}

/* Moves pending events into the buffers the driver posted (device lock held). */
static void flush(struct virtio_input *in)
{
	struct virtio_device *d = &in->dev;
	if (!virtio_input_driver_ready(in) || d->paused)
		return;
	bool pushed = false;
	int rc = 1;
	while (in->pending_count > 0 && (rc = deliver_one(in)) == 1)
		pushed = true;
	if (pushed && rc >= 0)
		virtio_device_notify(d, VIRTIO_INPUT_QUEUE_EVENTS);
}

bool virtio_input_has_room(const struct virtio_input *in, unsigned n)
{
	return in->pending_count + n + 1 <= VIRTIO_INPUT_PENDING_MAX;
}

void virtio_input_send_locked(struct virtio_input *in, const struct virtio_input_event *events,
			      unsigned n)
{
	if (!virtio_input_driver_ready(in)) {
		in->stats.frames_unready++;
		return;
	}
	if (n > VIRTIO_INPUT_FRAME_MAX)
		n = VIRTIO_INPUT_FRAME_MAX;
	while (!virtio_input_has_room(in, n))
		pending_drop_frame(in);
	for (unsigned i = 0; i < n; i++)
		pending_push(in, events[i]);
	pending_push(in, (struct virtio_input_event){EV_SYN, SYN_REPORT, 0});
	flush(in);
}

static void take_status(struct virtio_input *in, const struct virtq_chain *chain)
{
	uint8_t buf[sizeof(struct virtio_input_event)];
	size_t len = chain->out_bytes;
	struct virtio_input_event ev;
	virtq_chain_read(chain, 0, buf, len < sizeof(buf) ? len : sizeof(buf));
	switch (virtio_input_status_decode(buf, len, &ev)) {
	case VIRTIO_INPUT_STATUS_LED:
		if (ev.value)
			in->stats.leds |= 1u << ev.code;
		else
			in->stats.leds &= ~(1u << ev.code);
		in->stats.status_events++;
		break;
	case VIRTIO_INPUT_STATUS_IGNORED:
		in->stats.status_events++;
		break;
	case VIRTIO_INPUT_STATUS_BAD:
		in->stats.bad_status++;
		break;
	}
}

static void drain_status(struct virtio_input *in)
{
	struct virtqueue *vq = &in->dev.queues[VIRTIO_INPUT_QUEUE_STATUS];
	bool pushed = false;
	do {
		virtq_disable_kicks(vq);
		int rc;
		while ((rc = virtq_pop(vq, &in->chain)) == 1) {
			take_status(in, &in->chain);
			virtq_push(vq, in->chain.head, 0);
			pushed = true;
		}
		if (rc < 0) {
			virtio_device_fail(&in->dev, "statusq: %s", vq->error);
			return;
		}
	} while (virtq_enable_kicks(vq));
	if (pushed)
		virtio_device_notify(&in->dev, VIRTIO_INPUT_QUEUE_STATUS);
}

static void input_queue_kick(struct virtio_device *d, unsigned index)
{
	if (index == VIRTIO_INPUT_QUEUE_EVENTS)
		flush(to_input(d)); /* new buffers: what waited goes now */
	else
		drain_status(to_input(d));
}

static int input_start(struct virtio_device *d)
{
	(void)d;
	return 0;
}

static void input_reset(struct virtio_device *d)
{
	struct virtio_input *in = to_input(d);
	in->pending_head = in->pending_count = 0;
	if (in->model_reset)
		in->model_reset(in);
}

static void input_destroy(struct virtio_device *d)
{
	free(d);
}

static const char *const input_state_keys[] = {"select", "subsel", "leds", NULL};

/* The configuration the driver selected: a snapshot between its select and its read must
 * read the same answer after the restore. Pending events are host input, not saved. */
static void input_save_state(struct virtio_device *d, struct state_writer *w)
{
	struct virtio_input *in = to_input(d);
	state_record_begin(w, "virtio-input", 1, 1);
	state_put_u64(w, "select", in->select, STATE_ESSENTIAL);
	state_put_u64(w, "subsel", in->subsel, STATE_ESSENTIAL);
	state_put_u64(w, "leds", in->stats.leds, 0);
	state_record_end(w);
}

static int input_load_state(struct virtio_device *d, const struct state_record *rec, bool apply,
			    char *err, size_t err_len)
{
	struct virtio_input *in = to_input(d);
	struct state_reader_spec spec = {"virtio-input", 1, 1, input_state_keys};
	uint64_t select, subsel, leds = 0;
	if (state_record_check(rec, &spec, err, err_len) < 0)
		return -1;
	if (state_get_u64(rec, "select", &select) < 0 || select > UINT8_MAX ||
	    state_get_u64(rec, "subsel", &subsel) < 0 || subsel > UINT8_MAX) {
		state_set_error(err, err_len,
				"virtio-input state: \"select\" or \"subsel\" is missing or not a "
				"byte");
		return -1;
	}
	state_get_u64(rec, "leds", &leds);
	if (!apply)
		return 0;
	in->select = (uint8_t)select;
	in->subsel = (uint8_t)subsel;
	in->stats.leds = (uint32_t)(leds & ((1u << LED_CNT) - 1));
	select_answer(in, false);
	return 0;
}

static const struct virtio_device_ops input_ops = {
    .config_read = input_config_read,
    .config_write = input_config_write,
    .start = input_start,
    .reset = input_reset,
    .queue_kick = input_queue_kick,
    .destroy = input_destroy,
    .save_state = input_save_state,
    .load_state = input_load_state,
};

int virtio_input_init(struct virtio_input *in, const struct virtio_input_desc *desc,
		      const char *name)
{
	in->desc = desc;
	select_answer(in, false);
	return virtio_device_init(&in->dev, &input_ops, name, VIRTIO_ID_INPUT, 0,
				  VIRTIO_INPUT_CONFIG_SIZE, INPUT_NUM_QUEUES, INPUT_QUEUE_SIZE);
}

void virtio_input_get_stats(struct virtio_device *d, struct virtio_input_stats *stats)
{
	pthread_mutex_lock(&d->lock);
	*stats = to_input(d)->stats;
	pthread_mutex_unlock(&d->lock);
}
