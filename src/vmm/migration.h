/* Moving a VM to another gureum process, on this host or another (migration.c;
 * docs/snapshot-format.md, "Migration"). The source sends one state stream over a unix or TCP
 * socket: header, the VM's configuration, guest RAM, the records; the destination builds the
 * same machine from it, loads it, and the two agree on who runs the VM before either does:
 *   destination -> source   "ready\n"  (everything loaded) or "error: WHY\n"
 *   source -> destination   "go\n"     (the source will not run the VM again)
 * A source that hears no "ready" resumes the VM; a destination that hears no "go" exits
 * without running it. URIs: unix:PATH, tcp:HOST:PORT. */
#ifndef GUREUM_VMM_MIGRATION_H
#define GUREUM_VMM_MIGRATION_H

#include "lib/state_stream.h"
#include "vmm/config.h"
#include "vmm/postcopy.h"
#include "vmm/vm.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Source: a connection to the destination listening on `uri`. Returns the fd, or -1 with err. */
int migration_connect(const char *uri, char *err, size_t err_len);
/* Destination: listens on `uri`, takes one connection, stops listening. fd or -1 with err. */
int migration_accept(const char *uri, char *err, size_t err_len);
/* Destination: a socket listening on `uri` (a post-copy waiting for its source to come
 * back). fd or -1 with err. */
int migration_listen(const char *uri, char *err, size_t err_len);
/* TCP keepalive on a migration link, so that a peer gone silent fails it within about 11 s
 * (nothing for a unix socket, which fails at once). migration_connect and migration_accept
 * set it; a post-copy's new link needs it too. */
void migration_watch_link(int fd);

struct migration_stats {
	bool precopy;		      /* RAM went over while the VM ran (else: all of it paused) */
	unsigned rounds;	      /* pre-copy rounds after the first full copy */
	uint64_t memory_bytes;	      /* guest RAM scanned or sent, page bytes before compression */
	uint64_t ms;		      /* from the first byte to the destination's "ready" */
	uint64_t downtime_ms;	      /* from the final pause to the destination's "ready" */
	unsigned throttle_pct;	      /* the most auto-converge throttled the vCPUs */
	bool postcopy;		      /* the destination ran the VM before all RAM was there */
	uint64_t postcopy_ms;	      /* from the handover to the destination's last page */
	uint64_t postcopy_pages;      /* pages sent after the handover */
	uint64_t postcopy_requested;  /* of which the destination asked for */
	unsigned postcopy_recoveries; /* broken post-copy links made again */
};

/* How a migration is going, for `migrate-status` from another thread while it runs. */
struct migration_progress {
	_Atomic unsigned rounds;	       /* pre-copy rounds done after the first full copy */
	_Atomic uint64_t dirty_bytes;	       /* what the guest wrote since the last round */
	_Atomic uint64_t dirty_bytes_per_s;    /* how fast it writes them */
	_Atomic uint64_t expected_downtime_ms; /* what pausing now would cost, at the last rate */
	_Atomic bool paused;		       /* in the final, paused copy */
	_Atomic unsigned throttle_pct;	       /* auto-converge: the vCPUs' share asleep */
	_Atomic bool postcopy;		       /* the destination runs the VM: no way back */
	_Atomic uint64_t postcopy_left_bytes;  /* pages still to send after the switch */
	_Atomic bool postcopy_reconnecting;    /* its link broke: connecting again */
};

struct migration_options {
	uint64_t downtime_ms; /* the longest pause wanted (pre-copy) */
	bool compress;	      /* zstd the RAM: for links slower than compression (~400 MB/s) */
	struct migration_progress *progress; /* optional: kept up to date */
	/* Throttle the vCPUs when a round's dirty pages exceed half of what it sent (20%, then
	 * 10 more each round, at most 99%), so a guest that writes faster than the link still
	 * converges. */
	bool auto_converge;
	/* Post-copy (postcopy.h): when pre-copy has not converged after `postcopy_after_rounds`
	 * rounds (0, or no dirty log: at once, without pre-copy), the destination runs the VM and
	 * fetches the rest of its RAM. */
	bool postcopy;
	unsigned postcopy_after_rounds;
	/* Optional: how a post-copy whose link breaks connects again (postcopy.h). */
	const struct postcopy_relink *relink;
};

/* Source: sends `vm` to `out` (a connection; its limit is --max-bandwidth) and hands it over. A
 * running VM whose accelerator logs dirty pages (KVM) is copied while it runs
 * (pre-copy: a full copy, then the pages written meanwhile, round after round, until what is left
 * would take no longer than `options->downtime_ms` to send), then paused for the rest; otherwise it
 * is paused for the whole copy; with options->postcopy the rest comes after the handover.
 * Returns 0 once the destination has it (the caller must stop this VM without running it
 * again), or -1 with one sentence in err: the VM is then as it was (running or paused), or -2
 * when a post-copy failed after the handover: the VM ran on the destination and can run
 * nowhere now (the caller must stop it). */
int migration_send(struct vm *vm, struct state_out *out, const struct migration_options *options,
		   struct migration_stats *stats, char *err, size_t err_len);

/* Destination: reads the stream's header and configuration into `config` (config_init'ed),
 * then applies the command line's own settings (`local`: a new --api-socket, --console) on
 * top. Returns 0, or -1 with err. */
int migration_receive_config(int fd, const struct vm_config *local, struct vm_config *config,
			     char *err, size_t err_len);
/* Destination: the origin for vm_create that reads RAM and records from *fd and runs the
 * handshake. `fd` and `uri` must outlive the VM's creation. */
struct vm_origin migration_origin(int *fd, const char *uri);
/* Destination: tells the source why the VM could not be taken (best effort). */
void migration_refuse(int fd, const char *why);

#endif
