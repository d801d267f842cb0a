/* The token bucket on a clock driven by hand: rate, burst, requests larger than the burst,
 * refill, and a rate changed while it runs. */
#include "lib/token_bucket.h"

#include <criterion/criterion.h>

#define MS 1000000ull
#define S  1000000000ull

Test(token_bucket, no_rate_lets_everything_pass)
{
	struct token_bucket b;
	token_bucket_init(&b, 0, 0, 0);
	cr_assert_not(token_bucket_limited(&b));
	cr_assert_eq(token_bucket_wait_ns(&b, 1ull << 40, 0), 0);
	token_bucket_take(&b, 1ull << 40, 0);
	cr_assert_eq(token_bucket_wait_ns(&b, 1ull << 40, 0), 0);
}

Test(token_bucket, starts_full_with_one_second_of_burst_by_default)
{
	struct token_bucket b;
	token_bucket_init(&b, 1000, 0, 5 * S);
	cr_assert(token_bucket_limited(&b));
	cr_assert_eq(b.burst, 1000);
	cr_assert_eq(token_bucket_tokens(&b, 5 * S), 1000);
	cr_assert_eq(token_bucket_wait_ns(&b, 1000, 5 * S), 0);
}

Test(token_bucket, the_burst_passes_at_once_then_the_rate_rules)
{
	struct token_bucket b;
	token_bucket_init(&b, 100, 10, 0); /* 100 per second, 10 at once */
	uint64_t now = 0;
	for (int i = 0; i < 10; i++) {
		cr_assert_eq(token_bucket_wait_ns(&b, 1, now), 0);
		token_bucket_take(&b, 1, now);
	}
	/* Empty: the next token comes after 10 ms. */
	cr_assert_eq(token_bucket_wait_ns(&b, 1, now), 10 * MS);
	/* Over 10 s of taking whenever allowed, 10 + 100 * 10 tokens pass. */
	unsigned passed = 10;
	while (now < 10 * S) {
		uint64_t wait = token_bucket_wait_ns(&b, 1, now);
		if (wait) {
			now += wait;
			continue;
		}
		token_bucket_take(&b, 1, now);
		passed++;
	}
	cr_assert(passed >= 1009 && passed <= 1011, "%u tokens in 10 s at 100/s, burst 10", passed);
}

Test(token_bucket, refill_stops_at_the_burst)
{
	struct token_bucket b;
	token_bucket_init(&b, 1000, 50, 0);
	token_bucket_take(&b, 50, 0);
	cr_assert_eq(token_bucket_tokens(&b, 0), 0);
	cr_assert_eq(token_bucket_tokens(&b, 20 * MS), 20);
	cr_assert_eq(token_bucket_tokens(&b, 1 * S), 50); /* not 1000: the bucket holds 50 */
	cr_assert_eq(token_bucket_tokens(&b, 100 * S), 50);
}

Test(token_bucket, fractions_of_a_token_are_kept)
{
	/* 3 tokens per second: 1 token every 333.33 ms; refills asked every 1 ms must not lose
	 * the fractions (a burst of 2, so that the cap never cuts them). */
	struct token_bucket b;
	token_bucket_init(&b, 3, 2, 0);
	token_bucket_take(&b, 2, 0);
	unsigned passed = 0;
	for (uint64_t now = 1 * MS; now <= 10 * S; now += 1 * MS) {
		if (token_bucket_wait_ns(&b, 1, now) == 0) {
			token_bucket_take(&b, 1, now);
			passed++;
		}
	}
	cr_assert_eq(passed, 30);
}

Test(token_bucket, a_request_larger_than_the_burst_goes_when_full_and_leaves_a_debt)
{
	struct token_bucket b;
	token_bucket_init(&b, 1000, 100, 0);
	/* Full: 500 > burst 100 goes at once, leaving a debt of 400. */
	cr_assert_eq(token_bucket_wait_ns(&b, 500, 0), 0);
	token_bucket_take(&b, 500, 0);
	cr_assert_eq(token_bucket_tokens(&b, 0), -400);
	/* Another one needs a full bucket again: 500 ms (400 repaid, then 100). */
	cr_assert_eq(token_bucket_wait_ns(&b, 500, 0), 500 * MS);
	cr_assert_eq(token_bucket_wait_ns(&b, 500, 499 * MS), 1 * MS);
	cr_assert_eq(token_bucket_wait_ns(&b, 500, 500 * MS), 0);
	/* A small request also waits for the debt: nothing passes before it is repaid. */
	token_bucket_take(&b, 500, 500 * MS);
	cr_assert_eq(token_bucket_wait_ns(&b, 1, 500 * MS), 401 * MS);
}

Test(token_bucket, oversized_requests_keep_the_rate)
{
	struct token_bucket b;
	token_bucket_init(&b, 1 << 20, 1 << 16, 0); /* 1 MiB/s, 64 KiB burst, 1 MiB requests */
	uint64_t now = 0, bytes = 0;
	while (now < 10 * S) {
		uint64_t wait = token_bucket_wait_ns(&b, 1 << 20, now);
		if (wait) {
			now += wait;
			continue;
		}
		token_bucket_take(&b, 1 << 20, now);
		bytes += 1 << 20;
	}
	/* 10 s at 1 MiB/s plus the first request, which found the bucket full. */
	cr_assert(bytes >= (10u << 20) && bytes <= (11u << 20), "%llu bytes in 10 s",
		  (unsigned long long)bytes);
}

Test(token_bucket, a_new_rate_counts_from_the_change)
{
	struct token_bucket b;
	token_bucket_init(&b, 100, 100, 0);
	token_bucket_take(&b, 100, 0);
	/* 500 ms at 100/s: 50 tokens; then 1000/s. */
	token_bucket_set(&b, 1000, 1000, 500 * MS);
	cr_assert_eq(token_bucket_tokens(&b, 500 * MS), 50);
	cr_assert_eq(token_bucket_tokens(&b, 600 * MS), 150);
	cr_assert_eq(token_bucket_wait_ns(&b, 1000, 600 * MS), 850 * MS);
}

Test(token_bucket, a_smaller_burst_caps_what_is_held)
{
	struct token_bucket b;
	token_bucket_init(&b, 1000, 0, 0);
	token_bucket_set(&b, 1000, 10, 0);
	cr_assert_eq(token_bucket_tokens(&b, 0), 10);
	/* A debt survives a change of rate. */
	token_bucket_take(&b, 50, 0);
	token_bucket_set(&b, 10, 0, 0);
	cr_assert_eq(b.burst, 10);
	cr_assert_eq(token_bucket_tokens(&b, 0), -40);
	cr_assert_eq(token_bucket_wait_ns(&b, 10, 0), 5 * S);
}

Test(token_bucket, limits_removed_and_set_again_start_full)
{
	struct token_bucket b;
	token_bucket_init(&b, 10, 10, 0);
	token_bucket_take(&b, 100, 0);
	token_bucket_set(&b, 0, 0, 0);
	cr_assert_not(token_bucket_limited(&b));
	cr_assert_eq(token_bucket_wait_ns(&b, 100, 0), 0);
	token_bucket_set(&b, 10, 20, 1 * S);
	cr_assert_eq(token_bucket_tokens(&b, 1 * S), 20);
}

Test(token_bucket, the_largest_values_do_not_overflow)
{
	struct token_bucket b;
	token_bucket_init(&b, TOKEN_BUCKET_MAX, TOKEN_BUCKET_MAX, 0);
	token_bucket_take(&b, TOKEN_BUCKET_MAX, 0);
	cr_assert_eq(token_bucket_wait_ns(&b, TOKEN_BUCKET_MAX, 0), 1 * S);
	cr_assert_eq(token_bucket_tokens(&b, UINT64_MAX), (int64_t)TOKEN_BUCKET_MAX);
	struct token_bucket slow;
	token_bucket_init(&slow, 1, 1, 0);
	token_bucket_take(&slow, 1ull << 30, 0);
	cr_assert_eq(token_bucket_wait_ns(&slow, 1, 0), (1ull << 30) * S);
	token_bucket_take(&slow, TOKEN_BUCKET_MAX, 0);
	cr_assert_eq(token_bucket_wait_ns(&slow, 1, 0), INT64_MAX);
}
