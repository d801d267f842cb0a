/* Writing a paused VM to a snapshot directory, and the two steps of starting one from it
 * (vm_snapshot.h). */
#include "vmm/vm_snapshot.h"

#include "lib/log.h"
#include "lib/monotonic.h"
#include "lib/state_stream.h"
#include "lib/zero_page.h"
#include "vmm/vm.h"
#include "vmm/vm_state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PAGE_SIZE 4096
#define MAX_RUN	  (2u << 20) /* bytes per pwrite of consecutive non-zero pages */

static void file_path(char *path, size_t len, const char *dir, const char *name, const char *suffix)
{
	snprintf(path, len, "%s/%s%s", dir, name, suffix);
}

static int write_at(int fd, const uint8_t *data, size_t len, uint64_t offset)
{
	while (len) {
		ssize_t n = pwrite(fd, data, len, (off_t)offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		data += n, len -= (size_t)n, offset += (uint64_t)n;
	}
	return 0;
}

/* One region's non-zero pages at file offset `base`, in runs; zero pages stay holes. */
static int write_region(int fd, const struct guest_region *r, uint64_t base, uint64_t *written)
{
	uint64_t run_start = 0, run_len = 0;
	for (uint64_t off = 0; off <= r->size; off += PAGE_SIZE) {
		bool data = off < r->size && !page_is_zero(r->host + off);
		if (data && run_len < MAX_RUN) {
			if (!run_len)
				run_start = off;
			run_len += PAGE_SIZE;
			continue;
		}
		if (run_len) {
			int rc = write_at(fd, r->host + run_start, run_len, base + run_start);
			if (rc < 0)
				return rc;
			*written += run_len;
		}
		run_start = off, run_len = data ? PAGE_SIZE : 0;
	}
	return 0;
}

static int create_file(const char *path, char *err, size_t err_len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		snprintf(err, err_len, "snapshot: cannot create '%s': %s", path, strerror(errno));
	return fd;
}

/* Flushes and closes fd; reports a failure of either. */
static int finish_file(int fd, const char *path, int rc, char *err, size_t err_len)
{
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	close(fd);
	if (rc < 0)
		snprintf(err, err_len, "snapshot: cannot write '%s': %s", path, strerror(-rc));
	return rc < 0 ? -1 : 0;
}

static int write_memory_file(const struct guest_memory *mem, const char *path, uint64_t *written,
			     char *err, size_t err_len)
{
	int fd = create_file(path, err, err_len);
	if (fd < 0)
		return -1;
	int rc = ftruncate(fd, (off_t)guest_memory_mapped_size(mem)) < 0 ? -errno : 0;
	uint64_t base = 0;
	for (unsigned i = 0; i < mem->nr_regions && rc == 0; i++) {
		rc = write_region(fd, &mem->regions[i], base, written);
		base += mem->regions[i].size;
	}
	return finish_file(fd, path, rc, err, err_len);
}

/* The stream of the records in `w`; on failure, err says why and -EIO is returned. */
static int write_stream(int fd, const struct state_writer *w, char *err, size_t err_len)
{
	char why[256] = "";
	struct state_out out;
	state_out_init(&out, fd, 0);
	if (state_stream_write_header(&out, why, sizeof(why)) < 0 ||
	    state_stream_write_records(&out, w, why, sizeof(why)) < 0 ||
	    state_stream_write_end(&out, why, sizeof(why)) < 0) {
		snprintf(err, err_len, "snapshot: %s", why);
		return -EIO;
	}
	return 0;
}

static int write_state_file(struct vm *vm, const char *path, uint64_t *bytes, char *err,
			    size_t err_len)
{
	struct state_writer w;
	state_writer_init(&w);
	int rc = vm_save_state(vm, &w, err, err_len);
	if (rc == 0) {
		int fd = create_file(path, err, err_len);
		rc = fd < 0 ? -1 : write_stream(fd, &w, err, err_len);
		if (fd >= 0 && rc == 0)
			rc = finish_file(fd, path, 0, err, err_len);
		else if (fd >= 0)
			close(fd);
		*bytes = w.len;
	}
	state_writer_free(&w);
	return rc < 0 ? -1 : 0;
}

static int make_dir(const char *dir, char *err, size_t err_len)
{
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, err_len, "snapshot: cannot create the directory '%s': %s", dir,
			 strerror(errno));
		return -1;
	}
	return 0;
}

/* The files were written under temporary names; the state file goes in last. */
static int publish(const char *dir, char *err, size_t err_len)
{
	static const char *const names[] = {SNAPSHOT_MEMORY_FILE, SNAPSHOT_CONFIG_FILE,
					    SNAPSHOT_STATE_FILE};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char from[4200], to[4200];
		file_path(from, sizeof(from), dir, names[i], ".tmp");
		file_path(to, sizeof(to), dir, names[i], "");
		if (rename(from, to) < 0) {
			snprintf(err, err_len, "snapshot: cannot rename '%s': %s", from,
				 strerror(errno));
			return -1;
		}
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	return 0;
}

int vm_snapshot_write(struct vm *vm, const char *dir, struct snapshot_stats *stats, char *err,
		      size_t err_len)
{
	uint64_t start = monotonic_ms();
	*stats = (struct snapshot_stats){0};
	char memory[4200], state[4200], config[4200];
	file_path(memory, sizeof(memory), dir, SNAPSHOT_MEMORY_FILE, ".tmp");
	file_path(state, sizeof(state), dir, SNAPSHOT_STATE_FILE, ".tmp");
	file_path(config, sizeof(config), dir, SNAPSHOT_CONFIG_FILE, ".tmp");
	if (!vm_vcpus_settled(vm, err, err_len) || !vm_pci_settled(vm, err, err_len) ||
	    make_dir(dir, err, err_len) < 0)
		return -1;
	/* An older snapshot here stops being one before any of its files is replaced. */
	char old_state[4200];
	file_path(old_state, sizeof(old_state), dir, SNAPSHOT_STATE_FILE, "");
	unlink(old_state);
	/* The accelerator that ran it: a restore must use the same (the CPU it saw). And the
	 * vCPUs it has now, which hotplug may have changed since it started. */
	char cpus[32];
	vm_cpus_setting(vm, cpus, sizeof(cpus));
	const char *const overrides[] = {"accel", vm->accel->name, "cpus", cpus, NULL};
	char why[512] = "";
	if (write_memory_file(&vm->mem, memory, &stats->memory_bytes, err, err_len) < 0 ||
	    write_state_file(vm, state, &stats->state_bytes, err, err_len) < 0)
		return -1;
	if (config_save_json(vm->config, config, overrides, why, sizeof(why)) < 0) {
		snprintf(err, err_len, "snapshot: %s", why);
		return -1;
	}
	if (publish(dir, err, err_len) < 0)
		return -1;
	stats->elapsed_ms = monotonic_ms() - start;
	return 0;
}

static int map_memory(struct vm *vm, void *opaque, char *err, size_t err_len)
{
	const char *dir = opaque;
	struct guest_memory *mem = &vm->mem;
	char path[4200];
	file_path(path, sizeof(path), dir, SNAPSHOT_MEMORY_FILE, "");
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, err_len, "restore: cannot open '%s': %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	int rc = 0;
	if ((uint64_t)st.st_size != guest_memory_mapped_size(mem)) {
		snprintf(err, err_len,
			 "restore: '%s' holds %llu bytes, but the VM has %llu bytes of RAM (a "
			 "snapshot's memory and configuration must stay together)",
			 path, (unsigned long long)st.st_size,
			 (unsigned long long)guest_memory_mapped_size(mem));
		rc = -1;
	}
	uint64_t offset = 0;
	for (unsigned i = 0; i < mem->nr_regions && rc == 0; i++) {
		struct guest_region *r = &mem->regions[i];
		/* Private: the guest's writes stay in this process, the file stays the snapshot. */
		if (mmap(r->host, r->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd,
			 (off_t)offset) == MAP_FAILED) {
			snprintf(err, err_len, "restore: cannot map '%s': %s", path,
				 strerror(errno));
			rc = -1;
		}
		offset += r->size;
	}
	close(fd);
	return rc;
}

static int load_stream(struct vm *vm, const uint8_t *buf, size_t len, char *err, size_t err_len)
{
	struct state_stream stream;
	struct state_section section;
	if (state_stream_check(buf, len, &stream, err, err_len) < 0)
		return -1;
	bool loaded = false;
	while (state_stream_next(&stream, &section)) {
		if (section.kind != STREAM_RECORDS || loaded) {
			snprintf(
			    err, err_len,
			    "a snapshot's state holds one section of records and nothing else");
			return -1;
		}
		if (vm_load_state(vm, section.payload, section.length, err, err_len) < 0)
			return -1;
		loaded = true;
	}
	if (!loaded)
		snprintf(err, err_len, "it holds no records");
	return loaded ? 0 : -1;
}

static int load_state(struct vm *vm, void *opaque, char *err, size_t err_len)
{
	const char *dir = opaque;
	char path[4200];
	file_path(path, sizeof(path), dir, SNAPSHOT_STATE_FILE, "");
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, err_len, "restore: cannot open '%s': %s (is '%s' a snapshot?)", path,
			 strerror(errno), dir);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	size_t len = (size_t)st.st_size;
	void *buf = len ? mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
	close(fd);
	if (buf == MAP_FAILED) {
		snprintf(err, err_len, "restore: '%s' is empty or cannot be mapped", path);
		return -1;
	}
	char why[512] = "";
	int rc = load_stream(vm, buf, len, why, sizeof(why));
	munmap(buf, len);
	if (rc < 0)
		snprintf(err, err_len, "restore: '%s': %s", path, why);
	return rc;
}

struct vm_origin vm_snapshot_origin(const char *dir)
{
	return (struct vm_origin){.what = "restored from",
				  .source = dir,
				  .map_memory = map_memory,
				  .load = load_state,
				  .opaque = (void *)dir};
}
