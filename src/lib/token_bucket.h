/* A token bucket: a rate (tokens per second) with a burst (the bucket's capacity), refilled by
 * elapsed monotonic time. The caller passes the time (ns) to every call, so the bucket is pure
 * and tests drive the clock by hand. Used for disk I/O limits (bytes and operations).
 *
 * A request of n tokens may go when the bucket holds n, or, for a request larger than the
 * burst (which could otherwise never go), when the bucket is full: it then takes all and goes
 * into debt, which the refill repays before anything else passes. So the long-run rate is the
 * configured one whatever the request sizes, and nothing waits forever. Not thread-safe: the
 * owner serialises calls. */
#ifndef GUREUM_LIB_TOKEN_BUCKET_H
#define GUREUM_LIB_TOKEN_BUCKET_H

#include <stdbool.h>
#include <stdint.h>

/* The largest rate and burst accepted: far above any disk, and small enough that the
 * arithmetic in ns never overflows. */
#define TOKEN_BUCKET_MAX (1ull << 50)

struct token_bucket {
	uint64_t rate;	/* tokens per second; 0: no limit */
	uint64_t burst; /* capacity in tokens (> 0 when rate is) */
	/* Tokens held, in token-nanoseconds (tokens * 1e9), so that a refill of a fraction of a
	 * token is kept rather than lost; negative while in debt. */
	__int128 level;
	uint64_t last_ns; /* time of the last refill */
};

/* A bucket of `rate` tokens per second holding up to `burst` (0: one second's worth), full at
 * `now_ns`. rate 0 makes a bucket that lets everything pass. */
void token_bucket_init(struct token_bucket *b, uint64_t rate, uint64_t burst, uint64_t now_ns);
/* A new rate and burst at `now_ns` (the old rate counts until then). The tokens held stay,
 * capped at the new burst; a debt stays too. From no limit to a limit, the bucket starts full. */
void token_bucket_set(struct token_bucket *b, uint64_t rate, uint64_t burst, uint64_t now_ns);
static inline bool token_bucket_limited(const struct token_bucket *b)
{
	return b->rate != 0;
}
/* 0 when `n` tokens may be taken at `now_ns`, else the nanoseconds (>= 1) until they may. */
uint64_t token_bucket_wait_ns(struct token_bucket *b, uint64_t n, uint64_t now_ns);
/* Takes `n` tokens (after token_bucket_wait_ns said 0; the level may go negative). */
void token_bucket_take(struct token_bucket *b, uint64_t n, uint64_t now_ns);
/* Whole tokens held now (negative: the debt). */
int64_t token_bucket_tokens(struct token_bucket *b, uint64_t now_ns);

#endif
