/* The qcow2 metadata cache on a real file: dirty tables reach the file only on flush or eviction,
 * always after the ordering hook has run, and lookups hit the cache once a table is in it. */
#include "block/qcow2_cache.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TABLE	512
#define NTABLES 64

static char path[] = "/tmp/gureum-cache-XXXXXX";
static int fd = -1;
static struct qcow2_cache cache;
static int hook_calls, hook_result;
static bool unsynced;
/* What the file held for table 1 when the hook last ran: proves the hook runs first. */
static uint8_t seen_by_hook;

static uint8_t file_byte(uint64_t offset)
{
	uint8_t b = 0;
	cr_assert_eq(pread(fd, &b, 1, offset), 1);
	return b;
}

static int hook(void *opaque)
{
	(void)opaque;
	hook_calls++;
	seen_by_hook = file_byte(TABLE);
	return hook_result;
}

/* Tables 1..NTABLES-1 at offset i * TABLE, each filled with the byte i. */
static void setup(void)
{
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	for (int i = 0; i < NTABLES; i++) {
		uint8_t t[TABLE];
		memset(t, i, sizeof(t));
		cr_assert_eq(pwrite(fd, t, sizeof(t), (off_t)i * TABLE), TABLE);
	}
	hook_calls = 0;
	hook_result = 0;
	unsynced = false;
}

static void teardown(void)
{
	qcow2_cache_destroy(&cache);
	close(fd);
	unlink(path);
}

TestSuite(qcow2_cache, .init = setup, .fini = teardown);

static void init_cache(size_t slots)
{
	cr_assert_eq(qcow2_cache_init(&cache, fd, slots, TABLE), 0);
	cache.before_writeback = hook;
	cache.unsynced = &unsynced;
}

static uint8_t cached_byte(uint64_t offset)
{
	uint8_t *t;
	cr_assert_eq(qcow2_cache_get(&cache, offset, &t), 0);
	return t[0];
}

Test(qcow2_cache, reads_come_from_the_file_and_hit_afterwards)
{
	init_cache(NTABLES);
	for (int round = 0; round < 2; round++)
		for (int i = 1; i < NTABLES; i++)
			cr_assert_eq(cached_byte((uint64_t)i * TABLE), i);
	cr_assert_eq(cache.misses, NTABLES - 1);
	cr_assert_eq(cache.hits, NTABLES - 1);
}

Test(qcow2_cache, dirty_table_reaches_the_file_only_on_flush_after_the_hook)
{
	init_cache(4);
	uint8_t v = 0xaa;
	cr_assert_eq(qcow2_cache_write(&cache, TABLE, 0, &v, 1), 0);
	cr_assert_eq(file_byte(TABLE), 1, "written through before any flush");
	cr_assert_eq(cached_byte(TABLE), 0xaa);
	cr_assert(qcow2_cache_is_dirty(&cache));
	cr_assert_eq(qcow2_cache_flush(&cache), 0);
	cr_assert_eq(hook_calls, 1);
	cr_assert_eq(seen_by_hook, 1, "the hook must run before the table is written");
	cr_assert_eq(file_byte(TABLE), 0xaa);
	cr_assert(unsynced);
	cr_assert_not(qcow2_cache_is_dirty(&cache));
	cr_assert_eq(qcow2_cache_flush(&cache), 0);
	cr_assert_eq(hook_calls, 1, "nothing dirty: no hook, no write");
}

Test(qcow2_cache, evicting_a_dirty_table_writes_it_back_after_the_hook)
{
	init_cache(2);
	uint8_t v = 0xbb;
	cr_assert_eq(qcow2_cache_write(&cache, TABLE, 0, &v, 1), 0);
	cr_assert_eq(cached_byte(2 * TABLE), 2);
	cr_assert_eq(file_byte(TABLE), 1);
	cr_assert_eq(cached_byte(3 * TABLE), 3); /* table 1 is the least recently used */
	cr_assert_eq(hook_calls, 1);
	cr_assert_eq(seen_by_hook, 1);
	cr_assert_eq(file_byte(TABLE), 0xbb);
	cr_assert_eq(cached_byte(TABLE), 0xbb, "read back from the file after eviction");
}

Test(qcow2_cache, recently_used_tables_survive_eviction)
{
	init_cache(2);
	cr_assert_eq(cached_byte(TABLE), 1);
	cr_assert_eq(cached_byte(2 * TABLE), 2);
	cr_assert_eq(cached_byte(TABLE), 1); /* now table 2 is the victim */
	cr_assert_eq(cached_byte(3 * TABLE), 3);
	uint64_t misses = cache.misses;
	cr_assert_eq(cached_byte(TABLE), 1);
	cr_assert_eq(cache.misses, misses, "table 1 was evicted instead of table 2");
}

Test(qcow2_cache, failing_hook_keeps_the_table_dirty_and_unwritten)
{
	init_cache(2);
	uint8_t v = 0xcc;
	cr_assert_eq(qcow2_cache_write(&cache, TABLE, 0, &v, 1), 0);
	hook_result = -EIO;
	cr_assert_eq(qcow2_cache_flush(&cache), -EIO);
	cr_assert_eq(file_byte(TABLE), 1);
	cr_assert(qcow2_cache_is_dirty(&cache));
	hook_result = 0;
	cr_assert_eq(qcow2_cache_flush(&cache), 0);
	cr_assert_eq(file_byte(TABLE), 0xcc);
}

Test(qcow2_cache, forgotten_dirty_table_is_never_written)
{
	init_cache(2);
	uint8_t v = 0xdd;
	cr_assert_eq(qcow2_cache_write(&cache, TABLE, 0, &v, 1), 0);
	qcow2_cache_forget(&cache, TABLE);
	cr_assert_not(qcow2_cache_is_dirty(&cache));
	cr_assert_eq(qcow2_cache_flush(&cache), 0);
	cr_assert_eq(file_byte(TABLE), 1);
	cr_assert_eq(cached_byte(TABLE), 1);
}

Test(qcow2_cache, installed_table_is_served_without_reading)
{
	init_cache(2);
	uint8_t t[TABLE];
	memset(t, 0xee, sizeof(t));
	cr_assert_eq(qcow2_cache_install(&cache, 5 * TABLE, t), 0);
	cr_assert_eq(cached_byte(5 * TABLE), 0xee);
	cr_assert_eq(cache.misses, 0);
	cr_assert_not(qcow2_cache_is_dirty(&cache));
}
