/* virtio-vsock's connections: the table by ports, credit arithmetic, the bytes kept for the
 * host socket, and the host handshake line. See vsock_connection.h. */
#include "virtio/vsock_connection.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct vsock_conn *vsock_conn_new(int fd)
{
	struct vsock_conn *c = calloc(1, sizeof(*c));
	if (c)
		c->fd = fd;
	return c;
}

void vsock_conn_free(struct vsock_conn *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	free(c->out);
	free(c);
}

static unsigned bucket_of(uint32_t local_port, uint32_t peer_port)
{
	uint32_t h = local_port * 2654435761u ^ peer_port * 40503u;
	return (h ^ (h >> 16)) % VSOCK_TABLE_BUCKETS;
}

struct vsock_conn *vsock_table_find(const struct vsock_table *t, uint32_t local_port,
				    uint32_t peer_port)
{
	for (struct vsock_conn *c = t->bucket[bucket_of(local_port, peer_port)]; c;
	     c = c->next_in_bucket)
		if (c->local_port == local_port && c->peer_port == peer_port)
			return c;
	return NULL;
}

int vsock_table_insert(struct vsock_table *t, struct vsock_conn *c)
{
	if (t->count >= VSOCK_MAX_CONNECTIONS || c->in_table ||
	    vsock_table_find(t, c->local_port, c->peer_port))
		return -1;
	unsigned b = bucket_of(c->local_port, c->peer_port);
	c->next_in_bucket = t->bucket[b];
	t->bucket[b] = c;
	c->in_table = true;
	t->count++;
	return 0;
}

void vsock_table_remove(struct vsock_table *t, struct vsock_conn *c)
{
	if (!c->in_table)
		return;
	for (struct vsock_conn **p = &t->bucket[bucket_of(c->local_port, c->peer_port)]; *p;
	     p = &(*p)->next_in_bucket)
		if (*p == c) {
			*p = c->next_in_bucket;
			c->next_in_bucket = NULL;
			c->in_table = false;
			t->count--;
			return;
		}
}

void vsock_table_each(struct vsock_table *t, void (*each)(struct vsock_conn *c, void *opaque),
		      void *opaque)
{
	for (unsigned b = 0; b < VSOCK_TABLE_BUCKETS; b++) {
		struct vsock_conn *c = t->bucket[b];
		while (c) {
			struct vsock_conn *next = c->next_in_bucket;
			each(c, opaque);
			c = next;
		}
	}
}

uint32_t vsock_conn_peer_credit(const struct vsock_conn *c)
{
	uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt; /* wraps as the spec's counters do */
	return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

bool vsock_conn_rx_fits(const struct vsock_conn *c, uint32_t len)
{
	/* What the guest may have in flight is measured against the fwd_cnt it last heard of,
	 * but it is held against what we really keep: both must stay within the buffer. */
	uint32_t unforwarded = c->rx_cnt - c->fwd_cnt;
	return (uint64_t)unforwarded + len <= VSOCK_BUF_ALLOC;
}

bool vsock_conn_wants_credit_update(const struct vsock_conn *c)
{
	return c->fwd_cnt - c->fwd_cnt_sent >= VSOCK_BUF_ALLOC / 4;
}

int vsock_conn_out_append(struct vsock_conn *c, const void *buf, size_t len)
{
	if (len == 0)
		return 0;
	if (c->out_len + len > VSOCK_BUF_ALLOC)
		return -1;
	if (c->out_len + len > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 16384;
		while (cap < c->out_len + len)
			cap *= 2;
		if (cap > VSOCK_BUF_ALLOC)
			cap = VSOCK_BUF_ALLOC;
		uint8_t *grown = realloc(c->out, cap);
		if (!grown)
			return -1;
		c->out = grown;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, buf, len);
	c->out_len += len;
	return 0;
}

void vsock_conn_out_consume(struct vsock_conn *c, size_t n)
{
	if (n >= c->out_len) {
		c->out_len = 0;
		return;
	}
	memmove(c->out, c->out + n, c->out_len - n);
	c->out_len -= n;
}

int vsock_parse_connect_line(const char *line, uint32_t *port)
{
	static const char verb[] = "CONNECT ";
	if (strncmp(line, verb, sizeof(verb) - 1) != 0)
		return -1;
	const char *p = line + sizeof(verb) - 1;
	if (*p < '0' || *p > '9')
		return -1;
	uint64_t v = 0;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > UINT32_MAX)
			return -1;
	}
	if (*p == '\r')
		p++;
	if (*p != '\0')
		return -1;
	*port = (uint32_t)v;
	return 0;
}
