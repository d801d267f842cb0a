/* The console's scrollback (src/lib/byte_ring.c): the last bytes, oldest first. */
#include "lib/byte_ring.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

/* The ring's bytes joined (malloc'd, with a NUL after them). */
static char *joined(const struct byte_ring *ring)
{
	const uint8_t *a, *b;
	size_t a_len, b_len;
	byte_ring_pieces(ring, &a, &a_len, &b, &b_len);
	char *out = malloc(a_len + b_len + 1);
	cr_assert_not_null(out);
	memcpy(out, a, a_len);
	memcpy(out + a_len, b, b_len);
	out[a_len + b_len] = '\0';
	return out;
}

Test(byte_ring, keeps_what_fits_in_order)
{
	static struct byte_ring ring;
	char *empty = joined(&ring);
	cr_assert_str_eq(empty, "");
	byte_ring_append(&ring, (const uint8_t *)"login: ", 7);
	byte_ring_append(&ring, (const uint8_t *)"root\n", 5);
	char *text = joined(&ring);
	cr_assert_str_eq(text, "login: root\n");
	free(empty);
	free(text);
}

/* Every byte numbered by its position in the stream, mod 251 (a prime, so no period lines up
 * with the ring's size): the kept ones must be the stream's last BYTE_RING_SIZE. */
static void check_last(const struct byte_ring *ring, size_t total)
{
	const uint8_t *a, *b;
	size_t a_len, b_len;
	byte_ring_pieces(ring, &a, &a_len, &b, &b_len);
	cr_assert_eq(a_len + b_len, BYTE_RING_SIZE);
	size_t pos = total - BYTE_RING_SIZE;
	for (size_t i = 0; i < a_len + b_len; i++, pos++) {
		uint8_t got = i < a_len ? a[i] : b[i - a_len];
		cr_assert_eq(got, pos % 251, "byte %zu of the ring", i);
	}
}

Test(byte_ring, keeps_the_last_bytes_across_wraps_and_big_writes)
{
	static struct byte_ring ring;
	static uint8_t stream[3 * BYTE_RING_SIZE + 77];
	for (size_t i = 0; i < sizeof(stream); i++)
		stream[i] = (uint8_t)(i % 251);
	size_t sent = 0;
	const size_t sizes[] = {1, 4000, 3, BYTE_RING_SIZE - 1, 9000, 5};
	for (size_t i = 0; i < 6; i++) {
		byte_ring_append(&ring, stream + sent, sizes[i]);
		sent += sizes[i];
	}
	check_last(&ring, sent);
	byte_ring_append(&ring, stream + sent, BYTE_RING_SIZE + 70); /* more than it holds */
	sent += BYTE_RING_SIZE + 70;
	check_last(&ring, sent);
	byte_ring_append(&ring, stream + sent, 7);
	check_last(&ring, sent + 7);
}
