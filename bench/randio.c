/* randio: random block I/O load for the virtio benchmark, run inside the lab's L2 guest.
 *
 *   randio [-w] [-j THREADS] [-t SECONDS] [-b BYTES] DEVICE
 *
 * Each thread reads (or with -w writes) one BYTES-sized block at a random aligned offset of
 * DEVICE with O_DIRECT, waits for it, and repeats until SECONDS have passed: THREADS requests
 * in flight, like fio's psync engine with numjobs=THREADS. Prints one line:
 *   randio: randread bs=4096 threads=1 ops=N seconds=S iops=I lat_us=L
 *
 * Why not fio: Debian's fio links librados, librbd, libgfapi, RDMA and PMEM libraries, tens
 * of megabytes the guest's initramfs would carry for one benchmark; this is built static
 * (no libraries in the guest) and is a few hundred kilobytes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 64

struct job {
	int fd;
	int write;
	size_t block;
	uint64_t blocks; /* number of BYTES-sized blocks on the device */
	double seconds;
	uint64_t seed;
	uint64_t ops;
	int error; /* errno of the first failed request, 0 if none */
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

static void *run_job(void *arg)
{
	struct job *job = arg;
	void *buf;
	if (posix_memalign(&buf, 4096, job->block) != 0) {
		job->error = ENOMEM;
		return NULL;
	}
	/* Incompressible, non-zero data so no layer below can shortcut the writes. */
	uint64_t fill = job->seed | 1;
	for (size_t i = 0; i + 8 <= job->block; i += 8) {
		uint64_t r = next_random(&fill);
		memcpy((char *)buf + i, &r, 8);
	}
	double end = now_seconds() + job->seconds;
	uint64_t state = job->seed;
	do {
		off_t offset = (off_t)(next_random(&state) % job->blocks) * (off_t)job->block;
		ssize_t n = job->write ? pwrite(job->fd, buf, job->block, offset)
				       : pread(job->fd, buf, job->block, offset);
		if (n != (ssize_t)job->block) {
			job->error = n < 0 ? errno : EIO;
			break;
		}
		job->ops++;
	} while (now_seconds() < end);
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
	fprintf(stderr, "usage: randio [-w] [-j THREADS] [-t SECONDS] [-b BYTES] DEVICE\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int write = 0, threads = 1, opt;
	double seconds = 10;
	size_t block = 4096;
	while ((opt = getopt(argc, argv, "wj:t:b:")) != -1) {
		switch (opt) {
		case 'w':
			write = 1;
			break;
		case 'j':
			threads = atoi(optarg);
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
		jobs[i] = (struct job){.fd = fd,
				       .write = write,
				       .block = block,
				       .blocks = bytes / block,
				       .seconds = seconds,
				       .seed = 0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1)};
		if (pthread_create(&tids[i], NULL, run_job, &jobs[i]) != 0) {
			fprintf(stderr, "randio: cannot start thread %d\n", i);
			return 1;
		}
	}
	uint64_t ops = 0;
	int error = 0;
	for (int i = 0; i < threads; i++) {
		pthread_join(tids[i], NULL);
		ops += jobs[i].ops;
		if (jobs[i].error && !error)
			error = jobs[i].error;
	}
	double elapsed = now_seconds() - start;
	if (error) {
		fprintf(stderr, "randio: a request on %s failed: %s\n", path, strerror(error));
		return 1;
	}
	printf("randio: %s bs=%zu threads=%d ops=%llu seconds=%.2f iops=%.0f lat_us=%.1f\n",
	       write ? "randwrite" : "randread", block, threads, (unsigned long long)ops, elapsed,
	       (double)ops / elapsed, ops ? elapsed * 1e6 * threads / (double)ops : 0.0);
	return 0;
}
