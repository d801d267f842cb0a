/* randio: block I/O load for the virtio benchmark, run inside the lab's L2 guest.
 *
 *   randio [-w] [-s] [-j THREADS] [-q DEPTH] [-t SECONDS] [-b BYTES] DEVICE
 *
 * Each thread reads (or with -w writes) BYTES-sized blocks of DEVICE with O_DIRECT, at random
 * aligned offsets or, with -s, at consecutive offsets (wrapping at the end of the device),
 * until SECONDS have passed.
 *   Without -q a thread issues one request with pread/pwrite, waits for it and repeats:
 *   THREADS requests in flight, like fio's psync engine with numjobs=THREADS.
 *   With -q DEPTH a thread keeps DEPTH requests in flight through Linux native AIO (io_setup,
 *   io_submit, io_getevents), resubmitting each as it completes (what one io_getevents
 *   returned goes back in one io_submit): THREADS * DEPTH in flight, like fio's libaio engine
 *   with iodepth=DEPTH.
 * Prints one line:
 *   randio: randread bs=4096 threads=1 qd=1 ops=N seconds=S iops=I lat_us=L mbs=M
 * (read/write instead of randread/randwrite with -s; qd=1 without -q). lat_us is the mean
 * time from submitting a request to seeing it complete; mbs is MiB/s (2^20 bytes, as dd bs=1M
 * counts). A failed or short request prints what failed and exits 1.
 *
 * All requests of a thread share one buffer: the data read is not looked at, and a buffer per
 * request in flight (32 MiB for 1 MiB at depth 32) would add the first touch of that much
 * guest memory, page faults and their VM exits, to the measurement.
 *
 * Why not fio: Debian's fio links librados, librbd, libgfapi, RDMA and PMEM libraries, tens
 * of megabytes the guest's initramfs would carry for one benchmark; this is built static
 * (no libraries in the guest) and is a few hundred kilobytes. Native AIO is called through
 * syscall(2) (linux/aio_abi.h), so no libaio is needed either.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 64
#define MAX_DEPTH   1024

struct job {
	int fd;
	int write;
	int sequential;
	int depth; /* 0: pread/pwrite; otherwise requests in flight through native AIO */
	size_t block;
	uint64_t blocks; /* number of BYTES-sized blocks on the device */
	uint64_t next;	 /* with -s: the next block to read or write */
	double seconds;
	uint64_t seed;
	uint64_t ops;
	double latency; /* seconds from submission to completion, summed over ops */
	/* The first failure, if any: what failed (a system call's name or "request"), its errno
	 * (0 for a short transfer), and for a request its offset and the bytes it moved. */
	const char *failed;
	int error;
	off_t error_offset;
	long long error_bytes;
};

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* xorshift64*: cheap, good enough to spread offsets uniformly over the device. */
static uint64_t next_random(uint64_t *state)
{
	uint64_t x = *state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* The offset of the job's next request. */
static off_t next_offset(struct job *job, uint64_t *state)
{
	uint64_t block;
	if (job->sequential) {
		block = job->next;
		job->next = (job->next + 1) % job->blocks;
	} else {
		block = next_random(state) % job->blocks;
	}
	return (off_t)block * (off_t)job->block;
}

static void fail_request(struct job *job, int error, off_t offset, long long bytes)
{
	job->failed = "request";
	job->error = error;
	job->error_offset = offset;
	job->error_bytes = bytes;
}

static void fail_call(struct job *job, const char *call, int error)
{
	job->failed = call;
	job->error = error;
}

static long io_setup(unsigned nr, aio_context_t *ctx)
{
	return syscall(SYS_io_setup, nr, ctx);
}

static long io_destroy(aio_context_t ctx)
{
	return syscall(SYS_io_destroy, ctx);
}

static long io_submit(aio_context_t ctx, long nr, struct iocb **iocbs)
{
	return syscall(SYS_io_submit, ctx, nr, iocbs);
}

static long io_getevents(aio_context_t ctx, long min_nr, long nr, struct io_event *events)
{
	return syscall(SYS_io_getevents, ctx, min_nr, nr, events, NULL);
}

/* submit_all: io_submit the N requests in LIST, again for what a partial submission left.
 * Returns 0, or -1 with the job's failure set. */
static int submit_all(struct job *job, aio_context_t ctx, struct iocb **list, long n)
{
	while (n > 0) {
		long done = io_submit(ctx, n, list);
		if (done < 0 && errno == EINTR)
			continue;
		if (done <= 0) {
			fail_call(job, "io_submit", done < 0 ? errno : EAGAIN);
			return -1;
		}
		list += done;
		n -= done;
	}
	return 0;
}

/* The pread/pwrite loop: one request in flight. */
static void run_sync(struct job *job, void *buf, uint64_t *state)
{
	double end = now_seconds() + job->seconds;
	double t = now_seconds();
	do {
		off_t offset = next_offset(job, state);
		ssize_t n = job->write ? pwrite(job->fd, buf, job->block, offset)
				       : pread(job->fd, buf, job->block, offset);
		if (n != (ssize_t)job->block) {
			fail_request(job, n < 0 ? errno : 0, offset, n);
			break;
		}
		double t1 = now_seconds();
		job->latency += t1 - t;
		t = t1;
		job->ops++;
	} while (t < end);
}

/* The native AIO loop: job->depth requests in flight until the time is up, then the ones
 * still in flight are waited for (and counted). */
static void run_aio(struct job *job, void *buf, uint64_t *state)
{
	int depth = job->depth;
	struct iocb *cbs = calloc((size_t)depth, sizeof(*cbs));
	struct iocb **list = calloc((size_t)depth, sizeof(*list));
	struct io_event *events = calloc((size_t)depth, sizeof(*events));
	double *submitted = calloc((size_t)depth, sizeof(*submitted));
	aio_context_t ctx = 0;
	if (!cbs || !list || !events || !submitted) {
		fail_call(job, "calloc", ENOMEM);
		goto out;
	}
	if (io_setup((unsigned)depth, &ctx) != 0) {
		fail_call(job, "io_setup", errno);
		goto out;
	}
	double t = now_seconds(), end = t + job->seconds;
	for (int i = 0; i < depth; i++) {
		cbs[i] = (struct iocb){
		    .aio_data = (uint64_t)i,
		    .aio_lio_opcode = job->write ? IOCB_CMD_PWRITE : IOCB_CMD_PREAD,
		    .aio_fildes = (uint32_t)job->fd,
		    .aio_buf = (uint64_t)(uintptr_t)buf,
		    .aio_nbytes = job->block,
		    .aio_offset = (int64_t)next_offset(job, state),
		};
		submitted[i] = t;
		list[i] = &cbs[i];
	}
	if (submit_all(job, ctx, list, depth) != 0)
		goto out_destroy;
	int inflight = depth;
	while (inflight > 0) {
		long n = io_getevents(ctx, 1, depth, events);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fail_call(job, "io_getevents", n < 0 ? errno : EIO);
			break;
		}
		t = now_seconds();
		inflight -= (int)n;
		long again = 0;
		for (long i = 0; i < n; i++) {
			struct iocb *cb = &cbs[events[i].data];
			if (events[i].res != (int64_t)job->block) {
				if (!job->failed)
					fail_request(job,
						     events[i].res < 0 ? (int)-events[i].res : 0,
						     (off_t)cb->aio_offset, events[i].res);
				continue;
			}
			job->ops++;
			job->latency += t - submitted[events[i].data];
			if (job->failed || t >= end)
				continue;
			cb->aio_offset = (int64_t)next_offset(job, state);
			submitted[events[i].data] = t;
			list[again++] = cb;
		}
		if (again > 0) {
			if (submit_all(job, ctx, list, again) != 0)
				break;
			inflight += (int)again;
		}
	}
out_destroy:
	/* On a failure with requests in flight io_destroy waits for them. */
	if (io_destroy(ctx) != 0 && !job->failed)
		fail_call(job, "io_destroy", errno);
out:
	free(cbs);
	free(list);
	free(events);
	free(submitted);
}

static void *run_job(void *arg)
{
	struct job *job = arg;
	void *buf;
	if (posix_memalign(&buf, 4096, job->block) != 0) {
		fail_call(job, "posix_memalign", ENOMEM);
		return NULL;
	}
	/* Incompressible, non-zero data so no layer below can shortcut the writes. */
	uint64_t fill = job->seed | 1;
	for (size_t i = 0; i + 8 <= job->block; i += 8) {
		uint64_t r = next_random(&fill);
		memcpy((char *)buf + i, &r, 8);
	}
	uint64_t state = job->seed;
	if (job->depth > 0)
		run_aio(job, buf, &state);
	else
		run_sync(job, buf, &state);
	free(buf);
	return NULL;
}

static uint64_t device_bytes(int fd)
{
	struct stat st;
	uint64_t bytes = 0;
	if (fstat(fd, &st) != 0)
		return 0;
	if (S_ISBLK(st.st_mode))
		return ioctl(fd, BLKGETSIZE64, &bytes) == 0 ? bytes : 0;
	return (uint64_t)st.st_size;
}

static void usage(void)
{
	fprintf(stderr, "usage: randio [-w] [-s] [-j THREADS] [-q DEPTH] [-t SECONDS] [-b BYTES] "
			"DEVICE\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int write = 0, sequential = 0, threads = 1, depth = 0, opt;
	double seconds = 10;
	size_t block = 4096;
	while ((opt = getopt(argc, argv, "wsj:q:t:b:")) != -1) {
		switch (opt) {
		case 'w':
			write = 1;
			break;
		case 's':
			sequential = 1;
			break;
		case 'j':
			threads = atoi(optarg);
			break;
		case 'q':
			depth = atoi(optarg);
			if (depth < 1 || depth > MAX_DEPTH)
				usage();
			break;
		case 't':
			seconds = atof(optarg);
			break;
		case 'b':
			block = (size_t)strtoul(optarg, NULL, 0);
			break;
		default:
			usage();
		}
	}
	if (optind != argc - 1 || threads < 1 || threads > MAX_THREADS || seconds <= 0 ||
	    block < 512 || block % 512 != 0)
		usage();
	const char *path = argv[optind];
	int fd = open(path, (write ? O_RDWR : O_RDONLY) | O_DIRECT);
	if (fd < 0) {
		fprintf(stderr, "randio: cannot open %s with O_DIRECT: %s\n", path,
			strerror(errno));
		return 1;
	}
	uint64_t bytes = device_bytes(fd);
	if (bytes < block) {
		fprintf(stderr, "randio: %s is smaller than one %zu-byte block\n", path, block);
		return 1;
	}
	struct job jobs[MAX_THREADS];
	pthread_t tids[MAX_THREADS];
	double start = now_seconds();
	for (int i = 0; i < threads; i++) {
		uint64_t blocks = bytes / block;
		jobs[i] = (struct job){.fd = fd,
				       .write = write,
				       .sequential = sequential,
				       .depth = depth,
				       .block = block,
				       .blocks = blocks,
				       /* -s: the threads start spread over the device. */
				       .next = blocks / (uint64_t)threads * (uint64_t)i,
				       .seconds = seconds,
				       .seed = 0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1)};
		if (pthread_create(&tids[i], NULL, run_job, &jobs[i]) != 0) {
			fprintf(stderr, "randio: cannot start thread %d\n", i);
			return 1;
		}
	}
	uint64_t ops = 0;
	double latency = 0;
	struct job *failed = NULL;
	for (int i = 0; i < threads; i++) {
		pthread_join(tids[i], NULL);
		ops += jobs[i].ops;
		latency += jobs[i].latency;
		if (jobs[i].failed && !failed)
			failed = &jobs[i];
	}
	double elapsed = now_seconds() - start;
	const char *name =
	    sequential ? (write ? "write" : "read") : (write ? "randwrite" : "randread");
	if (failed && strcmp(failed->failed, "request") == 0) {
		const char *op = write ? "write" : "read";
		if (failed->error)
			fprintf(stderr, "randio: a %zu-byte %s at offset %lld of %s failed: %s\n",
				block, op, (long long)failed->error_offset, path,
				strerror(failed->error));
		else
			fprintf(
			    stderr,
			    "randio: a %zu-byte %s at offset %lld of %s moved only %lld bytes\n",
			    block, op, (long long)failed->error_offset, path, failed->error_bytes);
		return 1;
	}
	if (failed) {
		fprintf(stderr, "randio: %s failed during %s on %s: %s\n", failed->failed, name,
			path, strerror(failed->error));
		return 1;
	}
	printf("randio: %s bs=%zu threads=%d qd=%d ops=%llu seconds=%.2f iops=%.0f lat_us=%.1f "
	       "mbs=%.2f\n",
	       name, block, threads, depth ? depth : 1, (unsigned long long)ops, elapsed,
	       (double)ops / elapsed, ops ? latency * 1e6 / (double)ops : 0.0,
	       (double)ops * (double)block / 1048576.0 / elapsed);
	return 0;
}
