/* The device side of a split virtqueue (virtio 1.2, 2.7). The contract is in virtqueue.h.
 *
 * The rings live in guest RAM and the guest writes them concurrently from other CPUs, so:
 * - every guest-shared field is accessed with __atomic builtins (no torn or repeated loads);
 * - each descriptor is copied ONCE into a local before it is checked and used, so that a guest
 *   rewriting it between the check and the use (TOCTOU) cannot smuggle in a bad address;
 * - the ordering follows the spec's barriers: avail->idx is read with acquire before the ring
 *   entries it publishes, used->idx is written with release after the entries it publishes,
 *   and a full fence separates "what we published" from "what the driver asked" wherever a
 *   notification could otherwise be lost. */
#include "virtio/virtqueue.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Sizes of the three parts (spec 2.7, "Queue Part" table). The event-idx trailers (used_event
 * after the avail ring, avail_event after the used ring) are part of the layout whether or not
 * EVENT_IDX is negotiated, so they are always checked. */
#define DESC_BYTES(size)  (16ULL * (size))
#define AVAIL_BYTES(size) (6ULL + 2ULL * (size))
#define USED_BYTES(size)  (6ULL + 8ULL * (size))

/* Byte offsets inside the rings (struct virtq_avail / virtq_used are packed, so field pointers
 * are computed from the ring base, whose alignment virtq_start checked). */
#define AVAIL_FLAGS	  0
#define AVAIL_IDX	  2
#define AVAIL_RING(i)	  (4 + 2 * (size_t)(i))
#define USED_FLAGS	  0
#define USED_IDX	  2
#define USED_ELEM_ID(i)	  (4 + 8 * (size_t)(i))
#define USED_ELEM_LEN(i)  (8 + 8 * (size_t)(i))
#define USED_EVENT(size)  AVAIL_RING(size)
#define AVAIL_EVENT(size) USED_ELEM_ID(size)

static uint16_t *avail_u16(const struct virtqueue *vq, size_t offset)
{
	return (uint16_t *)((uint8_t *)vq->avail + offset);
}

static uint16_t *used_u16(const struct virtqueue *vq, size_t offset)
{
	return (uint16_t *)((uint8_t *)vq->used + offset);
}

static uint32_t *used_u32(const struct virtqueue *vq, size_t offset)
{
	return (uint32_t *)((uint8_t *)vq->used + offset);
}

static uint16_t read_avail_idx(const struct virtqueue *vq)
{
	/* Acquire: the ring entries and descriptors the driver published before this index are
	 * visible to the reads that follow. */
	return __atomic_load_n(avail_u16(vq, AVAIL_IDX), __ATOMIC_ACQUIRE);
}

/* The used ring is the device's to write: a migration must hear of it (guest_memory_note_write
 * is not used, as a software CPU decodes no code in a ring). */
static void log_used_ring(struct virtqueue *vq)
{
	if (guest_memory_logging(vq->mem))
		guest_memory_log_write(vq->mem, vq->used_addr, USED_BYTES(vq->size));
}

static void write_avail_event(struct virtqueue *vq, uint16_t value)
{
	__atomic_store_n(used_u16(vq, AVAIL_EVENT(vq->size)), value, __ATOMIC_RELAXED);
	log_used_ring(vq);
}

static void write_used_flags(struct virtqueue *vq, uint16_t flags)
{
	__atomic_store_n(used_u16(vq, USED_FLAGS), flags, __ATOMIC_RELAXED);
	log_used_ring(vq);
}

/* Marks the queue broken with the reason; returns -EINVAL for the caller to pass on. */
__attribute__((format(printf, 2, 3))) static int queue_broken(struct virtqueue *vq, const char *fmt,
							      ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(vq->error, sizeof(vq->error), fmt, ap);
	va_end(ap);
	vq->broken = true;
	return -EINVAL;
}

void virtq_reset(struct virtqueue *vq)
{
	uint16_t max_size = vq->max_size;
	memset(vq, 0, sizeof(*vq));
	vq->max_size = max_size;
}

/* Host pointer to one ring part after checking its alignment and that it lies in RAM. */
static void *map_ring_part(struct virtqueue *vq, const char *what, uint64_t gpa, uint64_t bytes,
			   unsigned align)
{
	if (gpa % align) {
		queue_broken(vq, "%s address 0x%" PRIx64 " is not %u-byte aligned", what, gpa,
			     align);
		return NULL;
	}
	void *host = guest_memory_ptr(vq->mem, gpa, bytes);
	if (!host)
		queue_broken(vq, "%s (0x%" PRIx64 "+0x%" PRIx64 ") is not inside guest RAM", what,
			     gpa, bytes);
	return host;
}

/* The checks of virtq_start: size, alignment, rings inside guest RAM. On success the three
 * ring pointers are returned; on failure the queue is marked broken with the reason. */
static int map_rings(struct virtqueue *vq, struct virtq_desc **desc, struct virtq_avail **avail,
		     struct virtq_used **used)
{
	uint16_t size = vq->size;
	if (size == 0 || size > vq->max_size || (size & (size - 1)))
		return queue_broken(vq, "queue size %u is not a power of two between 1 and %u",
				    size, vq->max_size);
	*desc = map_ring_part(vq, "descriptor table", vq->desc_addr, DESC_BYTES(size),
			      VIRTQ_DESC_ALIGN);
	if (!*desc)
		return -EINVAL;
	*avail = map_ring_part(vq, "available ring", vq->avail_addr, AVAIL_BYTES(size),
			       VIRTQ_AVAIL_ALIGN);
	if (!*avail)
		return -EINVAL;
	*used = map_ring_part(vq, "used ring", vq->used_addr, USED_BYTES(size), VIRTQ_USED_ALIGN);
	return *used ? 0 : -EINVAL;
}

int virtq_check(const struct virtqueue *vq, const struct guest_memory *mem, char *err,
		size_t err_len)
{
	/* A copy takes the broken mark and the reason, so that vq stays as it is. */
	struct virtqueue copy = *vq;
	copy.mem = mem;
	copy.broken = false;
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
	if (map_rings(&copy, &desc, &avail, &used) == 0)
		return 0;
	snprintf(err, err_len, "%s", copy.error);
	return -EINVAL;
}

int virtq_start(struct virtqueue *vq, const struct guest_memory *mem, bool event_idx, bool indirect)
{
	if (vq->broken)
		return -EINVAL;
	vq->mem = mem;
	vq->event_idx = event_idx;
	vq->indirect = indirect;
	vq->desc = NULL;
	vq->avail = NULL;
	vq->used = NULL;
	vq->signalled_used_valid = false;
	vq->kicks_disabled = false;

	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
	if (map_rings(vq, &desc, &avail, &used) < 0)
		return -EINVAL;
	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;

	/* Kicks start enabled: say so in the device-owned part of the used ring. */
	if (event_idx)
		write_avail_event(vq, vq->last_avail_idx);
	else
		write_used_flags(vq, 0);
	return 0;
}

void virtq_sync_used_idx(struct virtqueue *vq)
{
	if (!vq->used)
		return;
	vq->used_idx = __atomic_load_n(used_u16(vq, USED_IDX), __ATOMIC_ACQUIRE);
	vq->signalled_used_valid = false;
}

/* Walking one chain: where we are (for error messages) and what was collected so far. */
struct chain_walk {
	struct virtqueue *vq;
	struct virtq_chain *chain;
	uint16_t head;
	uint64_t table_addr; /* of the indirect table being walked, when in_indirect */
	bool in_indirect;
	uint32_t index; /* of the current descriptor in its table */
	unsigned descs; /* buffer descriptors taken so far, zero-length ones included */
	bool writable_seen;
	uint64_t out_bytes, in_bytes;
};

/* "descriptor 5" or "descriptor 2 of the indirect table at 0x1000", for error messages. */
static const char *where(const struct chain_walk *w, char *buf, size_t len)
{
	if (w->in_indirect)
		snprintf(buf, len, "descriptor %" PRIu32 " of the indirect table at 0x%" PRIx64,
			 w->index, w->table_addr);
	else
		snprintf(buf, len, "descriptor %" PRIu32, w->index);
	return buf;
}

/* One copy of a descriptor the guest may be rewriting: every later check and use sees this
 * copy. The signal fence keeps the compiler from re-reading guest memory instead of `dst`. */
static void read_desc(const struct virtq_desc *src, struct virtq_desc *dst)
{
	memcpy(dst, src, sizeof(*dst));
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

/* Checks one buffer descriptor and appends it to the chain (zero-length ones are skipped). */
static int take_buffer(struct chain_walk *w, const struct virtq_desc *d)
{
	struct virtqueue *vq = w->vq;
	char at[80];
	if (++w->descs > VIRTQ_MAX_CHAIN)
		return queue_broken(vq, "chain %u has more than %d buffers", w->head,
				    VIRTQ_MAX_CHAIN);
	bool writable = d->flags & VIRTQ_DESC_F_WRITE;
	if (!writable && w->writable_seen)
		return queue_broken(vq,
				    "%s of chain %u is device-readable but follows a "
				    "device-writable one",
				    where(w, at, sizeof(at)), w->head);
	w->writable_seen |= writable;
	if (d->len == 0)
		return 0;
	void *host = guest_memory_ptr(vq->mem, d->addr, d->len);
	if (!host)
		return queue_broken(
		    vq, "%s of chain %u points outside guest RAM (0x%" PRIx64 "+0x%" PRIx32 ")",
		    where(w, at, sizeof(at)), w->head, d->addr, d->len);
	if (writable) /* the device will write it behind the vCPUs' back */
		guest_memory_note_write(vq->mem, d->addr, d->len);
	uint64_t *total = writable ? &w->in_bytes : &w->out_bytes;
	*total += d->len;
	/* The used ring reports written bytes in 32 bits. */
	if (*total > UINT32_MAX)
		return queue_broken(vq, "chain %u has more than 4 GiB of device-%s buffers",
				    w->head, writable ? "writable" : "readable");
	struct virtq_chain *c = w->chain;
	c->iov[c->nr_out + c->nr_in] = (struct iovec){.iov_base = host, .iov_len = d->len};
	if (writable)
		c->nr_in++;
	else
		c->nr_out++;
	return 0;
}

/* Walks the indirect table `d` points to; it ends the chain (spec 2.7.5.3). */
static int walk_indirect(struct chain_walk *w, const struct virtq_desc *d)
{
	struct virtqueue *vq = w->vq;
	char at[80];
	if (!vq->indirect)
		return queue_broken(vq,
				    "%s of chain %u is indirect but VIRTIO_F_RING_INDIRECT_DESC "
				    "was not negotiated",
				    where(w, at, sizeof(at)), w->head);
	if (w->in_indirect)
		return queue_broken(vq, "%s of chain %u is a nested indirect table",
				    where(w, at, sizeof(at)), w->head);
	if (d->flags & VIRTQ_DESC_F_NEXT)
		return queue_broken(vq, "%s of chain %u is indirect and also has NEXT set",
				    where(w, at, sizeof(at)), w->head);
	if (d->len == 0 || d->len % sizeof(struct virtq_desc))
		return queue_broken(vq,
				    "%s of chain %u: indirect table length %" PRIu32
				    " is not a non-zero multiple of 16",
				    where(w, at, sizeof(at)), w->head, d->len);
	const struct virtq_desc *table = guest_memory_ptr(vq->mem, d->addr, d->len);
	if (!table)
		return queue_broken(vq,
				    "%s of chain %u: indirect table outside guest RAM (0x%" PRIx64
				    "+0x%" PRIx32 ")",
				    where(w, at, sizeof(at)), w->head, d->addr, d->len);
	uint32_t entries = d->len / sizeof(struct virtq_desc);
	w->in_indirect = true;
	w->table_addr = d->addr;
	w->index = 0;
	/* take_buffer() stops the walk after VIRTQ_MAX_CHAIN buffers, so even a huge table costs
	 * little; `visited` catches loops in smaller ones with a clearer message. */
	for (uint32_t visited = 0;; visited++) {
		if (visited == entries)
			return queue_broken(vq,
					    "chain %u loops in its indirect table at 0x%" PRIx64
					    " (more than %" PRIu32 " descriptors)",
					    w->head, w->table_addr, entries);
		struct virtq_desc e;
		read_desc(&table[w->index], &e);
		if (e.flags & VIRTQ_DESC_F_INDIRECT)
			return walk_indirect(w, &e); /* refused: nested */
		int r = take_buffer(w, &e);
		if (r)
			return r;
		if (!(e.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		if (e.next >= entries)
			return queue_broken(vq,
					    "%s of chain %u: next %u is beyond the indirect "
					    "table's %" PRIu32 " entries",
					    where(w, at, sizeof(at)), w->head, e.next, entries);
		w->index = e.next;
	}
}

/* Walks the chain starting at w->head in the descriptor table. */
static int walk_chain(struct chain_walk *w)
{
	struct virtqueue *vq = w->vq;
	char at[80];
	w->index = w->head;
	for (unsigned visited = 0;; visited++) {
		if (visited == vq->size)
			return queue_broken(vq,
					    "chain %u loops (more than %u descriptors, the queue "
					    "size)",
					    w->head, vq->size);
		struct virtq_desc d;
		read_desc(&vq->desc[w->index], &d);
		/* Zero or more direct descriptors may precede one indirect one (2.7.5.3.2). */
		if (d.flags & VIRTQ_DESC_F_INDIRECT)
			return walk_indirect(w, &d);
		int r = take_buffer(w, &d);
		if (r)
			return r;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		if (d.next >= vq->size)
			return queue_broken(vq,
					    "%s of chain %u: next %u is beyond the queue size %u",
					    where(w, at, sizeof(at)), w->head, d.next, vq->size);
		w->index = d.next;
	}
}

/* How many chains the driver made available; -1 (queue broken) if it claims more than fit. */
static int available(struct virtqueue *vq, uint16_t avail_idx)
{
	uint16_t pending = (uint16_t)(avail_idx - vq->last_avail_idx);
	if (pending > vq->size)
		return queue_broken(vq,
				    "available index %u is %u ahead of the device's %u (queue size "
				    "%u)",
				    avail_idx, pending, vq->last_avail_idx, vq->size);
	return pending;
}

int virtq_pop(struct virtqueue *vq, struct virtq_chain *chain)
{
	if (vq->broken)
		return -EINVAL;
	if (!vq->desc)
		return 0; /* not started: nothing to take */
	int pending = available(vq, read_avail_idx(vq));
	if (pending == 0 && vq->event_idx && !vq->kicks_disabled) {
		/* avail_event was stored by the last pop with no fence since: the driver may have
		 * added a chain and read the old avail_event (no kick) just before. Look again. */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		pending = available(vq, read_avail_idx(vq));
	}
	if (pending <= 0)
		return pending;

	uint16_t slot = vq->last_avail_idx & (vq->size - 1);
	uint16_t head = __atomic_load_n(avail_u16(vq, AVAIL_RING(slot)), __ATOMIC_RELAXED);
	if (head >= vq->size)
		return queue_broken(vq,
				    "available ring entry %u names chain %u, beyond the queue size "
				    "%u",
				    vq->last_avail_idx, head, vq->size);
	chain->head = head;
	chain->nr_out = chain->nr_in = 0;
	struct chain_walk w = {.vq = vq, .chain = chain, .head = head};
	int r = walk_chain(&w);
	if (r)
		return r;
	chain->out_bytes = w.out_bytes;
	chain->in_bytes = w.in_bytes;

	vq->last_avail_idx++;
	/* Ask for a kick only for chains after this one (as vhost and QEMU do). */
	if (vq->event_idx && !vq->kicks_disabled)
		write_avail_event(vq, vq->last_avail_idx);
	return 1;
}

void virtq_push(struct virtqueue *vq, uint16_t head, uint32_t written)
{
	if (!vq->used)
		return;
	uint16_t slot = vq->used_idx & (vq->size - 1);
	__atomic_store_n(used_u32(vq, USED_ELEM_ID(slot)), (uint32_t)head, __ATOMIC_RELAXED);
	__atomic_store_n(used_u32(vq, USED_ELEM_LEN(slot)), written, __ATOMIC_RELAXED);
	vq->used_idx++;
	/* Release: the element is visible before the index that publishes it. */
	__atomic_store_n(used_u16(vq, USED_IDX), vq->used_idx, __ATOMIC_RELEASE);
	/* Half the index space without an interrupt makes the event comparison ambiguous: then
	 * interrupt at the next chance rather than risk never doing it (QEMU does the same). */
	if ((int16_t)(vq->used_idx - vq->signalled_used) <= 0)
		vq->signalled_used_valid = false;
	log_used_ring(vq);
}

/* Spec 2.7.10: interrupt when used_event lies in [old, new) (mod 2^16). */
static bool need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

bool virtq_needs_interrupt(struct virtqueue *vq)
{
	if (!vq->used)
		return false;
	/* Our used->idx store must be visible before we read what the driver wants, or the
	 * driver may re-enable interrupts having seen the old index and we skip the interrupt. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!vq->event_idx) {
		uint16_t flags = __atomic_load_n(avail_u16(vq, AVAIL_FLAGS), __ATOMIC_RELAXED);
		return !(flags & VIRTQ_AVAIL_F_NO_INTERRUPT);
	}
	uint16_t old_idx = vq->signalled_used;
	bool valid = vq->signalled_used_valid;
	vq->signalled_used = vq->used_idx;
	vq->signalled_used_valid = true;
	if (!valid)
		return true;
	uint16_t event = __atomic_load_n(avail_u16(vq, USED_EVENT(vq->size)), __ATOMIC_RELAXED);
	return need_event(event, vq->used_idx, old_idx);
}

void virtq_disable_kicks(struct virtqueue *vq)
{
	if (!vq->used)
		return;
	vq->kicks_disabled = true;
	/* With EVENT_IDX nothing is written: pops stop moving avail_event, the driver soon
	 * passes it and stops kicking (as vhost does). */
	if (!vq->event_idx)
		write_used_flags(vq, VIRTQ_USED_F_NO_NOTIFY);
}

bool virtq_enable_kicks(struct virtqueue *vq)
{
	if (!vq->used)
		return false;
	vq->kicks_disabled = false;
	if (vq->event_idx)
		write_avail_event(vq, vq->last_avail_idx);
	else
		write_used_flags(vq, 0);
	/* The driver checks our flag/event after publishing its index; we check its index after
	 * publishing our flag/event. With a full fence on both sides one of us sees the other:
	 * either the driver kicks or we return true here. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return !vq->broken && read_avail_idx(vq) != vq->last_avail_idx;
}

bool virtq_has_work(struct virtqueue *vq)
{
	if (!vq->avail || vq->broken)
		return false;
	return read_avail_idx(vq) != vq->last_avail_idx;
}

/* Copies between `buf` and the buffers iov[0 .. n), starting `offset` bytes into them. */
static size_t copy_iov(const struct iovec *iov, unsigned n, size_t offset, void *buf, size_t len,
		       bool to_iov)
{
	size_t done = 0;
	for (unsigned i = 0; i < n && done < len; i++) {
		if (offset >= iov[i].iov_len) {
			offset -= iov[i].iov_len;
			continue;
		}
		size_t chunk = iov[i].iov_len - offset;
		if (chunk > len - done)
			chunk = len - done;
		uint8_t *part = (uint8_t *)iov[i].iov_base + offset;
		if (to_iov)
			memcpy(part, (uint8_t *)buf + done, chunk);
		else
			memcpy((uint8_t *)buf + done, part, chunk);
		done += chunk;
		offset = 0;
	}
	return done;
}

size_t virtq_chain_read(const struct virtq_chain *chain, size_t offset, void *buf, size_t len)
{
	return copy_iov(chain->iov, chain->nr_out, offset, buf, len, false);
}

size_t virtq_chain_write(const struct virtq_chain *chain, size_t offset, const void *buf,
			 size_t len)
{
	return copy_iov(chain->iov + chain->nr_out, chain->nr_in, offset, (void *)buf, len, true);
}
