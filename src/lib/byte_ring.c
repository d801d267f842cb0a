#include "lib/byte_ring.h"

#include <string.h>

void byte_ring_append(struct byte_ring *ring, const uint8_t *buf, size_t len)
{
	if (len >= BYTE_RING_SIZE) { /* only its end survives */
		memcpy(ring->bytes, buf + len - BYTE_RING_SIZE, BYTE_RING_SIZE);
		ring->head = 0;
		ring->len = BYTE_RING_SIZE;
		return;
	}
	size_t to_end = BYTE_RING_SIZE - ring->head;
	size_t first = len < to_end ? len : to_end;
	memcpy(ring->bytes + ring->head, buf, first);
	memcpy(ring->bytes, buf + first, len - first);
	ring->head = (ring->head + len) % BYTE_RING_SIZE;
	ring->len = ring->len + len > BYTE_RING_SIZE ? BYTE_RING_SIZE : ring->len + len;
}

void byte_ring_pieces(const struct byte_ring *ring, const uint8_t **first, size_t *first_len,
		      const uint8_t **second, size_t *second_len)
{
	size_t start = (ring->head + BYTE_RING_SIZE - ring->len) % BYTE_RING_SIZE;
	size_t to_end = BYTE_RING_SIZE - start;
	*first = ring->bytes + start;
	*first_len = ring->len < to_end ? ring->len : to_end;
	*second = ring->bytes;
	*second_len = ring->len - *first_len;
}
