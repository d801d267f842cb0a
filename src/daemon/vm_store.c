#include "daemon/vm_store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct vm_store {
	sqlite3 *db;
	char path[4096];
};

/* The layout of user_version 1; upgrade_steps bring it to STORE_VERSION. */
static const char schema[] = "CREATE TABLE IF NOT EXISTS vms ("
			     " name TEXT PRIMARY KEY,"
			     " args TEXT NOT NULL,"
			     " restart TEXT NOT NULL,"
			     " cpu_percent INTEGER NOT NULL,"
			     " cpu_weight INTEGER NOT NULL,"
			     " memory_max INTEGER NOT NULL,"
			     " want_running INTEGER NOT NULL,"
			     " pid INTEGER NOT NULL,"
			     " pid_start INTEGER NOT NULL,"
			     " restarts INTEGER NOT NULL,"
			     " last_exit TEXT NOT NULL,"
			     " created INTEGER NOT NULL);";

#define STORE_VERSION 4
/* upgrade_steps[N - 1] takes a store from version N to N + 1. */
static const char *const upgrade_steps[STORE_VERSION - 1] = {
    /* 1 -> 2: I/O limits */
    "ALTER TABLE vms ADD COLUMN io_read_bps INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE vms ADD COLUMN io_write_bps INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE vms ADD COLUMN io_read_iops INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE vms ADD COLUMN io_write_iops INTEGER NOT NULL DEFAULT 0;",
    /* 2 -> 3: what the daemon keeps of the host (its boot) */
    "CREATE TABLE host (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
    /* 3 -> 4: autostart */
    "ALTER TABLE vms ADD COLUMN autostart INTEGER NOT NULL DEFAULT 0;",
};

static int fail(struct vm_store *store, const char *doing, char *err, size_t err_len)
{
	snprintf(err, err_len, "%s: %s %s", store->path, doing, sqlite3_errmsg(store->db));
	return -1;
}

static int user_version(struct vm_store *store)
{
	sqlite3_stmt *stmt = NULL;
	int version = -1;
	if (sqlite3_prepare_v2(store->db, "PRAGMA user_version", -1, &stmt, NULL) == SQLITE_OK &&
	    sqlite3_step(stmt) == SQLITE_ROW)
		version = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	return version;
}

/* Brings the layout to STORE_VERSION in one transaction (a new store is version 1's layout
 * with version 0). A store from a later gureumd is refused rather than misread. */
static int upgrade(struct vm_store *store, char *err, size_t err_len)
{
	int version = user_version(store);
	if (version < 0)
		return fail(store, "cannot read the database's version:", err, err_len);
	if (version > STORE_VERSION) {
		snprintf(err, err_len,
			 "%s: the VM database has layout %d, newer than this gureumd's %d: run the "
			 "gureumd that wrote it",
			 store->path, version, STORE_VERSION);
		return -1;
	}
	if (version == STORE_VERSION)
		return 0;
	char *sql = NULL;
	size_t len = 0;
	FILE *text = open_memstream(&sql, &len);
	if (!text) {
		snprintf(err, err_len, "%s: out of memory", store->path);
		return -1;
	}
	fputs("BEGIN;", text);
	for (int v = version ? version : 1; v < STORE_VERSION; v++)
		fputs(upgrade_steps[v - 1], text);
	fprintf(text, "PRAGMA user_version = %d; COMMIT;", STORE_VERSION);
	fclose(text);
	int rc = sqlite3_exec(store->db, sql, NULL, NULL, NULL);
	free(sql);
	if (rc != SQLITE_OK) {
		fail(store, "cannot upgrade the VM database:", err, err_len);
		sqlite3_exec(store->db, "ROLLBACK;", NULL, NULL, NULL);
		return -1;
	}
	return 0;
}

struct vm_store *vm_store_open(const char *path, char *err, size_t err_len)
{
	struct vm_store *store = calloc(1, sizeof(*store));
	if (!store) {
		snprintf(err, err_len, "%s: out of memory", path);
		return NULL;
	}
	snprintf(store->path, sizeof(store->path), "%s", path);
	/* WAL: a reader never waits for the writer, and a crash keeps the last commit. */
	if (sqlite3_open(path, &store->db) != SQLITE_OK ||
	    sqlite3_busy_timeout(store->db, 5000) != SQLITE_OK ||
	    sqlite3_exec(store->db, "PRAGMA journal_mode = WAL;", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(store->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
		fail(store, "cannot open the VM database:", err, err_len);
		vm_store_close(store);
		return NULL;
	}
	if (upgrade(store, err, err_len) < 0) {
		vm_store_close(store);
		return NULL;
	}
	return store;
}

void vm_store_close(struct vm_store *store)
{
	if (!store)
		return;
	sqlite3_close(store->db);
	free(store);
}

static int bind_record(sqlite3_stmt *stmt, const struct vm_record *r)
{
	int rc = sqlite3_bind_text(stmt, 1, r->name, -1, SQLITE_STATIC);
	rc = rc ?: sqlite3_bind_text(stmt, 2, r->args, -1, SQLITE_STATIC);
	rc = rc ?: sqlite3_bind_text(stmt, 3, restart_policy_name(r->restart), -1, SQLITE_STATIC);
	rc = rc ?: sqlite3_bind_int64(stmt, 4, r->limits.cpu_percent);
	rc = rc ?: sqlite3_bind_int64(stmt, 5, r->limits.cpu_weight);
	rc = rc ?: sqlite3_bind_int64(stmt, 6, (sqlite3_int64)r->limits.memory_max);
	rc = rc ?: sqlite3_bind_int(stmt, 7, r->want_running);
	rc = rc ?: sqlite3_bind_int64(stmt, 8, r->pid);
	rc = rc ?: sqlite3_bind_int64(stmt, 9, (sqlite3_int64)r->pid_start);
	rc = rc ?: sqlite3_bind_int64(stmt, 10, r->restarts);
	rc = rc ?: sqlite3_bind_text(stmt, 11, r->last_exit, -1, SQLITE_STATIC);
	rc = rc ?: sqlite3_bind_int64(stmt, 12, r->created);
	rc = rc ?: sqlite3_bind_int64(stmt, 13, (sqlite3_int64)r->limits.io_read_bps);
	rc = rc ?: sqlite3_bind_int64(stmt, 14, (sqlite3_int64)r->limits.io_write_bps);
	rc = rc ?: sqlite3_bind_int64(stmt, 15, (sqlite3_int64)r->limits.io_read_iops);
	rc = rc ?: sqlite3_bind_int64(stmt, 16, (sqlite3_int64)r->limits.io_write_iops);
	rc = rc ?: sqlite3_bind_int(stmt, 17, r->autostart);
	return rc;
}

/* Runs one statement that binds a whole record. */
static int write_record(struct vm_store *store, const char *sql, const struct vm_record *record,
			const char *doing, char *err, size_t err_len)
{
	sqlite3_stmt *stmt = NULL;
	if (sqlite3_prepare_v2(store->db, sql, -1, &stmt, NULL) != SQLITE_OK)
		return fail(store, doing, err, err_len);
	int rc = bind_record(stmt, record);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	if (rc == SQLITE_CONSTRAINT) {
		snprintf(err, err_len, "a VM named %s exists already", record->name);
		return -1;
	}
	return rc == SQLITE_DONE ? 0 : fail(store, doing, err, err_len);
}

int vm_store_insert(struct vm_store *store, struct vm_record *record, char *err, size_t err_len)
{
	int rc = write_record(
	    store,
	    "INSERT INTO vms (name, args, restart, cpu_percent, cpu_weight, "
	    "memory_max, want_running, pid, pid_start, restarts, last_exit, created, "
	    "io_read_bps, io_write_bps, io_read_iops, io_write_iops, autostart)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, "
	    "?16, ?17)",
	    record, "cannot record the new VM:", err, err_len);
	if (rc == 0)
		record->id = sqlite3_last_insert_rowid(store->db);
	return rc;
}

int vm_store_update(struct vm_store *store, const struct vm_record *record, char *err,
		    size_t err_len)
{
	return write_record(store,
			    "UPDATE vms SET args = ?2, restart = ?3, cpu_percent = ?4, "
			    "cpu_weight = ?5, memory_max = ?6, want_running = ?7, pid = ?8, "
			    "pid_start = ?9, restarts = ?10, last_exit = ?11, created = ?12, "
			    "io_read_bps = ?13, io_write_bps = ?14, io_read_iops = ?15, "
			    "io_write_iops = ?16, autostart = ?17 WHERE name = ?1",
			    record, "cannot record the VM's change:", err, err_len);
}

int vm_store_delete(struct vm_store *store, const char *name, char *err, size_t err_len)
{
	sqlite3_stmt *stmt = NULL;
	if (sqlite3_prepare_v2(store->db, "DELETE FROM vms WHERE name = ?1", -1, &stmt, NULL) !=
	    SQLITE_OK)
		return fail(store, "cannot delete the VM:", err, err_len);
	int rc = sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	return rc == SQLITE_DONE ? 0 : fail(store, "cannot delete the VM:", err, err_len);
}

static const char *column_text(sqlite3_stmt *stmt, int column)
{
	const unsigned char *text = sqlite3_column_text(stmt, column);
	return text ? (const char *)text : "";
}

/* A row as a record; -1 for one this daemon cannot have written (edited by hand). */
static int read_row(sqlite3_stmt *stmt, struct vm_record *r)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", column_text(stmt, 0));
	if (!vm_name_valid(r->name) || restart_policy_parse(column_text(stmt, 2), &r->restart))
		return -1;
	r->args = strdup(column_text(stmt, 1));
	r->limits.cpu_percent = (unsigned)sqlite3_column_int64(stmt, 3);
	r->limits.cpu_weight = (unsigned)sqlite3_column_int64(stmt, 4);
	r->limits.memory_max = (uint64_t)sqlite3_column_int64(stmt, 5);
	r->want_running = sqlite3_column_int(stmt, 6) != 0;
	r->pid = (pid_t)sqlite3_column_int64(stmt, 7);
	r->pid_start = (uint64_t)sqlite3_column_int64(stmt, 8);
	r->restarts = (unsigned)sqlite3_column_int64(stmt, 9);
	snprintf(r->last_exit, sizeof(r->last_exit), "%s", column_text(stmt, 10));
	r->created = sqlite3_column_int64(stmt, 11);
	r->id = sqlite3_column_int64(stmt, 12);
	r->limits.io_read_bps = (uint64_t)sqlite3_column_int64(stmt, 13);
	r->limits.io_write_bps = (uint64_t)sqlite3_column_int64(stmt, 14);
	r->limits.io_read_iops = (uint64_t)sqlite3_column_int64(stmt, 15);
	r->limits.io_write_iops = (uint64_t)sqlite3_column_int64(stmt, 16);
	r->autostart = sqlite3_column_int(stmt, 17) != 0;
	return r->args ? 0 : -1;
}

static int append_row(sqlite3_stmt *stmt, struct vm_record **records, size_t *count)
{
	struct vm_record *grown = realloc(*records, (*count + 1) * sizeof(**records));
	if (!grown)
		return -1;
	*records = grown;
	if (read_row(stmt, &grown[*count]) < 0) {
		vm_record_free(&grown[*count]);
		return -1;
	}
	(*count)++;
	return 0;
}

int vm_store_load(struct vm_store *store, struct vm_record **records, size_t *count, char *err,
		  size_t err_len)
{
	*records = NULL;
	*count = 0;
	sqlite3_stmt *stmt = NULL;
	if (sqlite3_prepare_v2(store->db,
			       "SELECT name, args, restart, cpu_percent, cpu_weight, memory_max, "
			       "want_running, pid, pid_start, restarts, last_exit, created, rowid, "
			       "io_read_bps, io_write_bps, io_read_iops, io_write_iops, "
			       "autostart FROM vms ORDER BY name",
			       -1, &stmt, NULL) != SQLITE_OK)
		return fail(store, "cannot read the VMs:", err, err_len);
	int rc;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
		if (append_row(stmt, records, count) < 0) {
			snprintf(err, err_len, "%s: a VM record is damaged (%s)", store->path,
				 column_text(stmt, 0));
			rc = SQLITE_ERROR;
			break;
		}
	sqlite3_finalize(stmt);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ERROR)
		fail(store, "cannot read the VMs:", err, err_len);
	for (size_t i = 0; i < *count; i++)
		vm_record_free(&(*records)[i]);
	free(*records);
	*records = NULL;
	*count = 0;
	return -1;
}

int vm_store_get_host_value(struct vm_store *store, const char *key, char *out, size_t out_len,
			    char *err, size_t err_len)
{
	sqlite3_stmt *stmt = NULL;
	out[0] = '\0';
	if (sqlite3_prepare_v2(store->db, "SELECT value FROM host WHERE key = ?1", -1, &stmt,
			       NULL) != SQLITE_OK)
		return fail(store, "cannot read the host's record:", err, err_len);
	int rc = sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		snprintf(out, out_len, "%s", column_text(stmt, 0));
	sqlite3_finalize(stmt);
	return rc == SQLITE_ROW || rc == SQLITE_DONE
		   ? 0
		   : fail(store, "cannot read the host's record:", err, err_len);
}

int vm_store_set_host_value(struct vm_store *store, const char *key, const char *value, char *err,
			    size_t err_len)
{
	sqlite3_stmt *stmt = NULL;
	if (sqlite3_prepare_v2(store->db,
			       "INSERT INTO host (key, value) VALUES (?1, ?2) "
			       "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
			       -1, &stmt, NULL) != SQLITE_OK)
		return fail(store, "cannot record the host:", err, err_len);
	int rc = sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
	rc = rc ?: sqlite3_bind_text(stmt, 2, value, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	return rc == SQLITE_DONE ? 0 : fail(store, "cannot record the host:", err, err_len);
}
