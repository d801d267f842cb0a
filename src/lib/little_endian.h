/* Little-endian integers of 1-8 bytes in byte buffers, for the formats gureum defines itself
 * (saved state: lib/state_record.c, lib/state_stream.c and the records of the devices and
 * vCPUs), independent of the host's byte order and of any struct layout. */
#ifndef GUREUM_LIB_LITTLE_ENDIAN_H
#define GUREUM_LIB_LITTLE_ENDIAN_H

#include <stdint.h>

/* Writes the low `bytes` bytes of v at p; returns the byte after them. */
static inline uint8_t *le_put(uint8_t *p, uint64_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
	return p + bytes;
}

static inline uint64_t le_get(const uint8_t *p, unsigned bytes)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < bytes; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* le_get at *p, then moves *p past the bytes read. */
static inline uint64_t le_take(const uint8_t **p, unsigned bytes)
{
	uint64_t v = le_get(*p, bytes);
	*p += bytes;
	return v;
}

#endif
