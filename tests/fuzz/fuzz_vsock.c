/* libFuzzer target: virtio-vsock's packet handling (src/virtio/virtio_vsock.c) driven by a
 * guest whose packets are the fuzz input, with host processes on both kinds of Unix socket
 * (a listener at PATH_1 that accepts guest connections to port 1, and clients that say
 * CONNECT). The rings themselves are well formed (fuzz_virtqueue covers bad rings), so
 * whatever the packets say, the device must never fail, crash, overrun or hang. Build and run
 * with tests/fuzz/run_fuzz_vsock.sh SECONDS.
 *
 * The device thread is not started: the harness calls the queue and epoll callbacks itself,
 * under the device lock, so every input runs the same way. Input: a list of steps, each a
 * kind byte and its operands (see step()). */
#include "virtio/virtio_devices.h"
#include "virtio/vsock_connection.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM	     (1u << 20)
#define QSIZE	     64
#define RING(q)	     (0x10000u + (q)*0x4000u) /* desc, avail +0x1000, used +0x2000 */
#define TX_HDR	     0x40000u
#define TX_DATA	     0x41000u
#define RX_BUF(s)    (0x60000u + (s)*0x1000u)
#define RX_SLOTS     16
#define EVENT_BUF    0x80000u
#define MAX_PAYLOAD  4096u
#define MAX_HOST_FDS 16
#define MAX_STEPS    64

static struct guest_memory mem;
static struct virtio_device *dev;
static char path[108];
static int listen1 = -1;
static int host_fds[MAX_HOST_FDS];
static unsigned nr_host_fds;
static uint16_t avail_idx[3];
static uint8_t scratch[65536];

static void check(int ok)
{
	if (!ok)
		abort();
}

static void put16(uint64_t gpa, uint16_t v)
{
	check(guest_memory_write(&mem, gpa, &v, 2));
}

static uint16_t used_idx(unsigned q)
{
	uint16_t v;
	check(guest_memory_read(&mem, RING(q) + 0x2000 + 2, &v, 2));
	return v;
}

static void set_desc(unsigned q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	struct virtq_desc d = {.addr = addr, .len = len, .flags = flags, .next = next};
	check(guest_memory_write(&mem, RING(q) + i * 16u, &d, sizeof(d)));
}

static void make_available(unsigned q, uint16_t head)
{
	put16(RING(q) + 0x1000 + 4 + (avail_idx[q] % QSIZE) * 2u, head);
	avail_idx[q]++;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	put16(RING(q) + 0x1000 + 2, avail_idx[q]);
}

static void kick(unsigned q)
{
	pthread_mutex_lock(&dev->lock);
	if (dev->started)
		dev->ops->queue_kick(dev, q);
	pthread_mutex_unlock(&dev->lock);
}

/* The device's epoll set, as the device thread would see it readable (a few rounds: an
 * accepted socket's first line is seen in the next). */
static void host_events(void)
{
	pthread_mutex_lock(&dev->lock);
	for (int round = 0; round < 3; round++)
		for (unsigned i = 0; i < VIRTIO_MAX_WATCHES; i++)
			if (dev->watches[i].fd >= 0 && dev->started)
				dev->watches[i].handler(dev, dev->watches[i].fd, EPOLLIN);
	pthread_mutex_unlock(&dev->lock);
}

static void start_device(void)
{
	virtio_device_reset(dev);
	memset(guest_memory_ptr(&mem, RING(0), 3 * 0x4000u), 0, 3 * 0x4000u);
	memset(avail_idx, 0, sizeof(avail_idx));
	uint8_t status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;
	virtio_device_write_status(dev, status);
	virtio_device_write_features(dev, 1, 1); /* VERSION_1 */
	virtio_device_write_status(dev, status |= VIRTIO_STATUS_FEATURES_OK);
	for (unsigned q = 0; q < 3; q++) {
		dev->queues[q].size = QSIZE;
		dev->queues[q].desc_addr = RING(q);
		dev->queues[q].avail_addr = RING(q) + 0x1000;
		dev->queues[q].used_addr = RING(q) + 0x2000;
		virtio_device_enable_queue(dev, q);
	}
	virtio_device_write_status(dev, status | VIRTIO_STATUS_DRIVER_OK);
	check(dev->started);
}

static void init_once(void)
{
	if (dev)
		return;
	signal(SIGPIPE, SIG_IGN); /* the device closes host sockets the harness writes to */
	check(guest_memory_create(&mem, RAM) == 0);
	snprintf(path, sizeof(path), "/tmp/gureum-fuzz-vsock-%d.sock", getpid());
	unlink(path);
	char err[256];
	struct vsock_config cfg = {.cid = 3, .socket = path};
	dev = virtio_vsock_create(&cfg, err, sizeof(err));
	if (!dev) {
		fprintf(stderr, "%s\n", err);
		abort();
	}
	dev->mem = &mem; /* what virtio_device_realize sets, without the thread */
	char p1[120];
	snprintf(p1, sizeof(p1), "%s_1", path);
	unlink(p1);
	listen1 = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", p1);
	check(bind(listen1, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(listen1, 64) == 0);
}

static void add_host_fd(int fd)
{
	if (nr_host_fds < MAX_HOST_FDS)
		host_fds[nr_host_fds++] = fd;
	else
		close(fd);
}

/* Guest connections that reached PATH_1, and what any host socket has received. */
static void host_side(void)
{
	int fd;
	while ((fd = accept4(listen1, NULL, NULL, SOCK_NONBLOCK)) >= 0)
		add_host_fd(fd);
	for (unsigned i = 0; i < nr_host_fds; i++)
		while (read(host_fds[i], scratch, sizeof(scratch)) > 0)
			;
}

/* Packets to the guest land in RX_SLOTS buffers; posts more while fewer are outstanding. */
static void post_rx(uint32_t len)
{
	while ((uint16_t)(avail_idx[0] - used_idx(0)) < RX_SLOTS) {
		uint16_t slot = avail_idx[0] % RX_SLOTS;
		set_desc(0, slot, RX_BUF(slot), len, VIRTQ_DESC_F_WRITE, 0);
		make_available(0, slot);
	}
	kick(0);
}

/* Kind 0: a guest packet. Operands: flags, the 44-byte header, a payload length (2 bytes) and
 * the payload. flags bit 0: CIDs made right, bit 1: len made right, bit 2: type STREAM,
 * bit 3: header split over two descriptors, bit 4: a chain shorter than the header. */
static size_t guest_packet(const uint8_t *p, size_t n)
{
	if (n < 1 + sizeof(struct vsock_hdr) + 2)
		return n;
	uint8_t flags = p[0];
	struct vsock_hdr h;
	memcpy(&h, p + 1, sizeof(h));
	size_t at = 1 + sizeof(h);
	uint32_t len = (uint32_t)(p[at] | p[at + 1] << 8) % (MAX_PAYLOAD + 1);
	at += 2;
	if (len > n - at)
		len = (uint32_t)(n - at);
	if (flags & 1) {
		h.src_cid = 3;
		h.dst_cid = VSOCK_CID_HOST;
	}
	if (flags & 2)
		h.len = len;
	if (flags & 4)
		h.type = VSOCK_TYPE_STREAM;
	check(guest_memory_write(&mem, TX_HDR, &h, sizeof(h)));
	check(guest_memory_write(&mem, TX_DATA, p + at, len));
	uint32_t hdr_len = (flags & 16) ? (uint32_t)(p[1] % sizeof(h)) : sizeof(h);
	uint16_t d = 0;
	if ((flags & 8) && hdr_len > 7) {
		set_desc(1, d, TX_HDR, 7, VIRTQ_DESC_F_NEXT, (uint16_t)(d + 1));
		d++;
		set_desc(1, d, TX_HDR + 7, hdr_len - 7, len ? VIRTQ_DESC_F_NEXT : 0,
			 (uint16_t)(d + 1));
	} else {
		set_desc(1, d, TX_HDR, hdr_len, len ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(d + 1));
	}
	if (len)
		set_desc(1, ++d, TX_DATA, len, 0, 0);
	uint16_t before = used_idx(1);
	make_available(1, 0);
	kick(1);
	check(used_idx(1) == (uint16_t)(before + 1)); /* every packet is taken at once */
	return at + len;
}

static size_t step(const uint8_t *p, size_t n)
{
	uint8_t kind = p[0] % 6;
	p++, n--;
	switch (kind) {
	case 0:
		return 1 + guest_packet(p, n);
	case 1: /* a host process says CONNECT <port>, or something else */
		if (n >= 2) {
			int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
			struct sockaddr_un a = {.sun_family = AF_UNIX};
			snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
			if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
				char line[32];
				int len = (p[0] & 0x80) ? snprintf(line, sizeof(line), "%.*s\n",
								   p[1] % 12, (const char *)p + 2)
							: snprintf(line, sizeof(line),
								   "CONNECT %u\n", p[1] % 4);
				if (write(fd, line, (size_t)len) < 0) {
					/* the device closed it: fine */
				}
				add_host_fd(fd);
			} else if (fd >= 0) {
				close(fd);
			}
			host_events();
			return 1 + 2 + ((p[0] & 0x80) ? (size_t)(p[1] % 12) : 0);
		}
		return 1 + n;
	case 2: /* a host socket sends bytes, shuts down or closes */
		if (n >= 2 && nr_host_fds) {
			unsigned i = p[0] % nr_host_fds;
			switch (p[1] & 3) {
			case 0:
			case 1:
				memset(scratch, p[1], (size_t)p[1] * 64);
				if (write(host_fds[i], scratch, (size_t)p[1] * 64) < 0) {
					/* full or reset: fine */
				}
				break;
			case 2:
				shutdown(host_fds[i], SHUT_WR);
				break;
			default:
				close(host_fds[i]);
				host_fds[i] = host_fds[--nr_host_fds];
			}
			host_events();
		}
		return 1 + (n < 2 ? n : 2);
	case 3: /* receive buffers, of a size from the input */
		if (n >= 1)
			post_rx(p[0] < 8 ? (uint32_t)p[0] * 8 : 4096);
		return 1 + (n ? 1 : 0);
	case 4: /* an event buffer */
		set_desc(2, (uint16_t)(avail_idx[2] % QSIZE), EVENT_BUF, 4, VIRTQ_DESC_F_WRITE, 0);
		make_available(2, (uint16_t)(avail_idx[2] % QSIZE));
		kick(2);
		return 1;
	default:
		host_side();
		host_events();
		return 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	init_once();
	start_device();
	post_rx(4096);
	for (unsigned s = 0; s < MAX_STEPS && size; s++) {
		size_t used = step(data, size);
		if (used > size)
			used = size;
		data += used;
		size -= used;
		host_side();
		check(!(dev->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET));
	}
	struct vsock_stats st;
	virtio_vsock_get_stats(dev, &st);
	if (getenv("FUZZ_VSOCK_VERBOSE")) /* how deep a seed goes */
		fprintf(
		    stderr, "to guest %llu, from guest %llu, dropped %llu, resets %llu, open %u\n",
		    (unsigned long long)st.rx_packets, (unsigned long long)st.tx_packets,
		    (unsigned long long)st.dropped, (unsigned long long)st.resets, st.connections);
	/* A reset closes every connection: the host sockets see it. */
	virtio_device_reset(dev);
	virtio_vsock_get_stats(dev, &st);
	check(st.connections == 0);
	for (unsigned i = 0; i < nr_host_fds; i++)
		close(host_fds[i]);
	nr_host_fds = 0;
	return 0;
}
