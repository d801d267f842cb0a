/* The daemon's SQLite store: what is written is read back after a reopen (a daemon restart),
 * names are unique, deletes stick, and a damaged record is refused with a sentence. */
#include "daemon/vm_store.h"

#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/gureum-store.XXXXXX";
static char path[64];

static void setup(void)
{
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/gureum.db", dir);
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
	strcpy(dir, "/tmp/gureum-store.XXXXXX");
}

TestSuite(vm_store, .init = setup, .fini = teardown);

static struct vm_record sample(const char *name)
{
	struct vm_record r = {0};
	snprintf(r.name, sizeof(r.name), "%s", name);
	r.args = (char *)"[\"--memory\",\"64M\"]";
	r.restart = RESTART_ALWAYS;
	r.limits.cpu_percent = 150;
	r.limits.memory_max = 1ull << 33;
	r.limits.io_read_bps = 10u << 20;
	r.limits.io_write_iops = 500;
	r.want_running = true;
	r.autostart = true;
	r.pid = 4242;
	r.pid_start = 123456789;
	r.restarts = 3;
	snprintf(r.last_exit, sizeof(r.last_exit), "killed by signal 9 (Killed)");
	r.created = 1796600000;
	return r;
}

Test(vm_store, records_survive_a_reopen)
{
	char err[256];
	struct vm_store *store = vm_store_open(path, err, sizeof(err));
	cr_assert_not_null(store, "%s", err);
	struct vm_record a = sample("web-2"), b = sample("db.1");
	b.restart = RESTART_NEVER;
	b.autostart = false;
	cr_assert_eq(vm_store_insert(store, &a, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(vm_store_insert(store, &b, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(a.id, 1); /* each VM its number, from which its user comes */
	cr_assert_eq(b.id, 2);
	vm_store_close(store);

	store = vm_store_open(path, err, sizeof(err));
	struct vm_record *all;
	size_t n;
	cr_assert_eq(vm_store_load(store, &all, &n, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(all[0].name, "db.1"); /* by name */
	cr_assert_eq(all[0].id, 2);	       /* the numbers survive */
	cr_assert_eq(all[1].id, 1);
	cr_assert_eq(all[0].restart, RESTART_NEVER);
	cr_assert_not(all[0].autostart);
	cr_assert_str_eq(all[1].name, "web-2");
	cr_assert_str_eq(all[1].args, a.args);
	cr_assert_eq(all[1].restart, RESTART_ALWAYS);
	cr_assert_eq(all[1].limits.cpu_percent, 150);
	cr_assert_eq(all[1].limits.memory_max, 1ull << 33);
	cr_assert_eq(all[1].limits.io_read_bps, 10u << 20);
	cr_assert_eq(all[1].limits.io_write_iops, 500);
	cr_assert_eq(all[1].limits.io_write_bps, 0);
	cr_assert(all[1].want_running);
	cr_assert(all[1].autostart);
	cr_assert_eq(all[1].pid, 4242);
	cr_assert_eq(all[1].pid_start, 123456789);
	cr_assert_eq(all[1].restarts, 3);
	cr_assert_str_eq(all[1].last_exit, "killed by signal 9 (Killed)");
	cr_assert_eq(all[1].created, 1796600000);
	for (size_t i = 0; i < n; i++)
		vm_record_free(&all[i]);
	free(all);
	vm_store_close(store);
}

Test(vm_store, a_name_is_taken_once)
{
	char err[256];
	struct vm_store *store = vm_store_open(path, err, sizeof(err));
	struct vm_record a = sample("web");
	cr_assert_eq(vm_store_insert(store, &a, err, sizeof(err)), 0);
	cr_assert_eq(vm_store_insert(store, &a, err, sizeof(err)), -1);
	cr_assert_str_eq(err, "a VM named web exists already");
	vm_store_close(store);
}

Test(vm_store, updates_and_deletes_stick)
{
	char err[256];
	struct vm_store *store = vm_store_open(path, err, sizeof(err));
	struct vm_record a = sample("web");
	cr_assert_eq(vm_store_insert(store, &a, err, sizeof(err)), 0);
	a.pid = 0;
	a.want_running = false;
	snprintf(a.last_exit, sizeof(a.last_exit), "exited with status 0");
	cr_assert_eq(vm_store_update(store, &a, err, sizeof(err)), 0, "%s", err);
	struct vm_record *all;
	size_t n;
	cr_assert_eq(vm_store_load(store, &all, &n, err, sizeof(err)), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(all[0].pid, 0);
	cr_assert_not(all[0].want_running);
	cr_assert_str_eq(all[0].last_exit, "exited with status 0");
	vm_record_free(&all[0]);
	free(all);
	cr_assert_eq(vm_store_delete(store, "web", err, sizeof(err)), 0);
	cr_assert_eq(vm_store_load(store, &all, &n, err, sizeof(err)), 0);
	cr_assert_eq(n, 0);
	free(all);
	vm_store_close(store);
}

Test(vm_store, a_damaged_record_is_refused_with_its_name)
{
	char err[256];
	struct vm_store *store = vm_store_open(path, err, sizeof(err));
	struct vm_record a = sample("web");
	cr_assert_eq(vm_store_insert(store, &a, err, sizeof(err)), 0);
	vm_store_close(store);
	sqlite3 *db;
	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, "UPDATE vms SET restart = 'sometimes'", NULL, NULL, NULL),
		     SQLITE_OK);
	sqlite3_close(db);
	store = vm_store_open(path, err, sizeof(err));
	struct vm_record *all;
	size_t n;
	cr_assert_eq(vm_store_load(store, &all, &n, err, sizeof(err)), -1);
	cr_assert(strstr(err, "a VM record is damaged (web)"), "%s", err);
	cr_assert_null(all);
	vm_store_close(store);
}

Test(vm_store, a_file_that_is_not_a_database_is_refused)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("this is not SQLite, and it is long enough to be read as a header.........\n", f);
	fclose(f);
	char err[256];
	cr_assert_null(vm_store_open(path, err, sizeof(err)));
	cr_assert(strstr(err, "cannot open the VM database"), "%s", err);
}

/* Writes the store as another program (an earlier or later gureumd) would have. */
static void run_sql(const char *sql)
{
	sqlite3 *db;
	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	char *msg = NULL;
	cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &msg), SQLITE_OK, "%s", msg);
	sqlite3_close(db);
}

/* A store written by a gureumd before the I/O limits (layout 1): its VMs are kept, with no
 * I/O limits and no autostart, and it takes both from then on. */
Test(vm_store, a_store_of_the_first_layout_is_upgraded_keeping_its_vms)
{
	run_sql("CREATE TABLE vms (name TEXT PRIMARY KEY, args TEXT NOT NULL, "
		"restart TEXT NOT NULL, cpu_percent INTEGER NOT NULL, cpu_weight INTEGER NOT NULL, "
		"memory_max INTEGER NOT NULL, want_running INTEGER NOT NULL, pid INTEGER NOT NULL, "
		"pid_start INTEGER NOT NULL, restarts INTEGER NOT NULL, last_exit TEXT NOT NULL, "
		"created INTEGER NOT NULL); INSERT INTO vms VALUES ('old', '[]', 'always', 50, 0, "
		"0, 1, 0, 0, 2, '', 1796600000); PRAGMA user_version = 1;");
	char err[256];
	struct vm_store *store = vm_store_open(path, err, sizeof(err));
	cr_assert_not_null(store, "%s", err);
	struct vm_record *all;
	size_t n;
	cr_assert_eq(vm_store_load(store, &all, &n, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(all[0].name, "old");
	cr_assert_eq(all[0].limits.cpu_percent, 50);
	cr_assert_eq(all[0].restarts, 2);
	cr_assert_not(vm_limits_any_io(&all[0].limits));
	cr_assert_not(all[0].autostart, "a VM from before autostart does not start by itself");
	all[0].limits.io_write_bps = 1u << 20;
	all[0].autostart = true;
	cr_assert_eq(vm_store_update(store, &all[0], err, sizeof(err)), 0, "%s", err);
	vm_record_free(&all[0]);
	free(all);
	vm_store_close(store);
	store = vm_store_open(path, err, sizeof(err));
	cr_assert_eq(vm_store_load(store, &all, &n, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(all[0].limits.io_write_bps, 1u << 20);
	cr_assert(all[0].autostart);
	vm_record_free(&all[0]);
	free(all);
	vm_store_close(store);
}

Test(vm_store, a_store_from_a_later_gureumd_is_refused)
{
	run_sql("PRAGMA user_version = 9;");
	char err[256];
	cr_assert_null(vm_store_open(path, err, sizeof(err)));
	cr_assert(strstr(err, "layout 9, newer than this gureumd's"), "%s", err);
}

Test(vm_store, host_values_are_kept_and_replaced)
{
	char err[256], value[64];
	struct vm_store *store = vm_store_open(path, err, sizeof(err));
	cr_assert_not_null(store, "%s", err);
	cr_assert_eq(
	    vm_store_get_host_value(store, "boot_id", value, sizeof(value), err, sizeof(err)), 0,
	    "%s", err);
	cr_assert_str_eq(value, "", "a new store knows no boot");
	cr_assert_eq(vm_store_set_host_value(store, "boot_id", "first", err, sizeof(err)), 0);
	cr_assert_eq(vm_store_set_host_value(store, "boot_id", "second", err, sizeof(err)), 0);
	vm_store_close(store);
	store = vm_store_open(path, err, sizeof(err));
	cr_assert_eq(
	    vm_store_get_host_value(store, "boot_id", value, sizeof(value), err, sizeof(err)), 0,
	    "%s", err);
	cr_assert_str_eq(value, "second");
	vm_store_close(store);
}
