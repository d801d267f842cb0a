/* The last BYTE_RING_SIZE bytes of a stream: what a console client that attaches later is
 * shown first, as a terminal's scrollback would. Not thread-safe: the owner locks. */
#ifndef GUREUM_LIB_BYTE_RING_H
#define GUREUM_LIB_BYTE_RING_H

#include <stddef.h>
#include <stdint.h>

#define BYTE_RING_SIZE 16384

struct byte_ring {
	uint8_t bytes[BYTE_RING_SIZE];
	size_t head; /* where the next byte goes */
	size_t len;  /* how many are kept, up to BYTE_RING_SIZE */
};

/* Keeps `buf`, dropping the oldest bytes beyond BYTE_RING_SIZE. */
void byte_ring_append(struct byte_ring *ring, const uint8_t *buf, size_t len);
/* The kept bytes, oldest first, as at most two pieces: first, then second (either may be
 * empty). */
void byte_ring_pieces(const struct byte_ring *ring, const uint8_t **first, size_t *first_len,
		      const uint8_t **second, size_t *second_len);

#endif
