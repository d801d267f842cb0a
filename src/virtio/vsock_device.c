/* The parts both virtio-vsock host sides share (see vsock_device.h). */
#include "virtio/vsock_device.h"

#include "lib/state_record.h"
#include "virtio/vsock_connection.h"

#include <stdio.h>
#include <string.h>

/* Feature bit 0 (5.10.3): stream sockets, also the default without any feature bit. */
#define VIRTIO_VSOCK_F_STREAM 0

int vsock_device_init(struct vsock_device *vd, const struct virtio_device_ops *ops, uint64_t cid,
		      char *err, size_t err_len)
{
	vd->guest_cid = cid;
	int rc = virtio_device_init(&vd->dev, ops, "virtio-vsock0", VIRTIO_ID_VSOCK,
				    VIRTIO_FEATURE(VIRTIO_VSOCK_F_STREAM), sizeof(uint64_t),
				    VSOCK_NUM_QUEUES, VSOCK_QUEUE_SIZE);
	if (rc < 0) {
		snprintf(err, err_len, "virtio-vsock: cannot create the device: %s", strerror(-rc));
		return -1;
	}
	return 0;
}

void vsock_device_config_read(struct virtio_device *d, uint32_t offset, void *data, unsigned size)
{
	uint64_t cid = ((struct vsock_device *)d)->guest_cid; /* le64 (5.10.4), x86 guests only */
	memcpy(data, (const uint8_t *)&cid + offset, size);
}

void vsock_device_send_reset_event(struct vsock_device *vd)
{
	struct virtqueue *vq = &vd->dev.queues[VSOCK_EVENT_QUEUE];
	if (!vd->reset_event_due || !vq->enabled)
		return;
	int r = virtq_pop(vq, &vd->event_chain);
	if (r < 0) {
		virtio_device_fail(&vd->dev, "event queue: %s", vq->error);
		return;
	}
	if (r == 0)
		return; /* when the driver posts a buffer */
	uint32_t id = VSOCK_EVENT_TRANSPORT_RESET;
	size_t n = virtq_chain_write(&vd->event_chain, 0, &id, sizeof(id));
	virtq_push(vq, vd->event_chain.head, (uint32_t)n);
	vd->reset_event_due = false;
	virtio_device_notify(&vd->dev, VSOCK_EVENT_QUEUE);
}

/* --- saved state: record "virtio-vsock" --------------------------------------------------- */

static const char *const vsock_state_keys[] = {"cid", NULL};

/* The CID the guest's driver read at probe. Connections are not saved (their host ends stay
 * with this process, or in this host's kernel): the loaded device starts with none and sends
 * the guest a transport reset event, so that its sockets see the connections end. */
void vsock_device_save_state(struct virtio_device *d, struct state_writer *w)
{
	state_record_begin(w, "virtio-vsock", 1, 1);
	state_put_u64(w, "cid", ((struct vsock_device *)d)->guest_cid, STATE_ESSENTIAL);
	state_record_end(w);
}

int vsock_device_check_state(const struct state_record *rec, uint64_t *cid, char *err,
			     size_t err_len)
{
	struct state_reader_spec spec = {"virtio-vsock", 1, 1, vsock_state_keys};
	if (state_record_check(rec, &spec, err, err_len) < 0)
		return -1;
	if (state_get_u64(rec, "cid", cid) < 0 || *cid < 3 || *cid > UINT32_MAX - 1) {
		state_set_error(err, err_len, "virtio-vsock state: \"cid\" is missing or invalid");
		return -1;
	}
	return 0;
}
