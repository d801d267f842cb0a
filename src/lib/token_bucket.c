#include "lib/token_bucket.h"

#define NS_PER_S 1000000000ll

static __int128 capacity(const struct token_bucket *b)
{
	return (__int128)b->burst * NS_PER_S;
}

/* Adds the tokens earned since last_ns, up to the burst. A clock that went backwards (it
 * cannot with CLOCK_MONOTONIC, but a caller might mix clocks) earns nothing. */
static void refill(struct token_bucket *b, uint64_t now_ns)
{
	if (now_ns > b->last_ns && b->rate) {
		__int128 earned = (__int128)(now_ns - b->last_ns) * b->rate;
		b->level += earned;
		if (b->level > capacity(b))
			b->level = capacity(b);
	}
	if (now_ns > b->last_ns)
		b->last_ns = now_ns;
}

static uint64_t default_burst(uint64_t rate, uint64_t burst)
{
	return burst ? burst : rate;
}

void token_bucket_init(struct token_bucket *b, uint64_t rate, uint64_t burst, uint64_t now_ns)
{
	b->rate = rate;
	b->burst = rate ? default_burst(rate, burst) : 0;
	b->level = capacity(b);
	b->last_ns = now_ns;
}

void token_bucket_set(struct token_bucket *b, uint64_t rate, uint64_t burst, uint64_t now_ns)
{
	if (!b->rate) {
		token_bucket_init(b, rate, burst, now_ns);
		return;
	}
	refill(b, now_ns);
	b->rate = rate;
	b->burst = rate ? default_burst(rate, burst) : 0;
	if (!rate)
		b->level = 0;
	else if (b->level > capacity(b))
		b->level = capacity(b);
}

uint64_t token_bucket_wait_ns(struct token_bucket *b, uint64_t n, uint64_t now_ns)
{
	if (!b->rate)
		return 0;
	refill(b, now_ns);
	/* A request above the burst needs a full bucket, not more than it can hold. */
	uint64_t need = n < b->burst ? n : b->burst;
	__int128 missing = (__int128)need * NS_PER_S - b->level;
	if (missing <= 0)
		return 0;
	/* Round up: the tokens must be there when the caller comes back. */
	__int128 wait = (missing + b->rate - 1) / b->rate;
	return wait > INT64_MAX ? INT64_MAX : (uint64_t)wait; /* centuries: no overflow */
}

void token_bucket_take(struct token_bucket *b, uint64_t n, uint64_t now_ns)
{
	if (!b->rate)
		return;
	refill(b, now_ns);
	b->level -= (__int128)n * NS_PER_S;
}

int64_t token_bucket_tokens(struct token_bucket *b, uint64_t now_ns)
{
	refill(b, now_ns);
	return (int64_t)(b->level / NS_PER_S);
}
