/* Post-copy migration (docs/snapshot-format.md, "Post-copy"): the destination runs the VM
 * before all of its RAM has arrived. At the switch the source, paused, sends the pages the
 * destination does not have yet (or holds stale: written since they were sent) as PENDING
 * sections, then the records; the destination drops its copies of those pages and registers
 * guest RAM with userfaultfd (lib/userfault.h), so that whatever touches a pending page (a
 * vCPU, a device, the kernel for vhost or O_DIRECT) waits for it. After "go":
 *   source -> destination   MEMORY/PAGES sections: every pending page, those asked for first,
 *                           then the end section
 *   destination -> source   "page 0xGPA\n" for a pending page something waits on, and "done\n"
 *                           once the end section came and every page is in place
 * A page that arrives where the destination has one already (the guest's own, or an earlier
 * copy) is dropped: the guest's writes are never overwritten.
 *
 * What it costs: after "go" the VM exists whole on neither host until the last page arrived.
 * A link that breaks then is made again (the source connects anew, the destination listens
 * again on its URI and answers "resume" with the pages it still lacks); a link that stays
 * broken past POSTCOPY_RECOVERY_WINDOW_S, or either end dying, ends the VM on both (the source
 * says so and stops; the destination stops rather than let the guest read pages it never
 * got). */
#ifndef GUREUM_VMM_POSTCOPY_H
#define GUREUM_VMM_POSTCOPY_H

#include "lib/state_stream.h"
#include "vmm/page_set.h"
#include "vmm/vm.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct postcopy_stats {
	uint64_t pages;		/* pending pages sent after the switch */
	uint64_t requested;	/* of which the destination asked for (the guest waited on) */
	uint64_t ms;		/* from "go" to the destination's "done" */
	unsigned recoveries;	/* links that broke and were made again */
	_Atomic uint64_t *left; /* optional: pending bytes not sent yet, kept up to date */
};

/* How the source makes a broken post-copy link again. */
struct postcopy_relink {
	/* A new connection to the destination in out->fd, the broken one closed. 0, or -1 with
	 * err. */
	int (*reconnect)(void *opaque, struct state_out *out, char *err, size_t err_len);
	void *opaque;
	_Atomic bool *reconnecting; /* optional: true while it tries */
};

/* How long either side tries to make a broken link again before it gives the VM up. */
#define POSTCOPY_RECOVERY_WINDOW_S 30

/* Source, after "go": sends every page of `pending` (emptied as they go), those the
 * destination asks for first, then the end section, and waits for "done". When the link
 * breaks (the destination still waiting for pages), `relink` (may be NULL) connects again
 * within POSTCOPY_RECOVERY_WINDOW_S: the destination answers "resume" with the pages it
 * still lacks, and they go over the new link. Returns 0, or -1 with err (the VM is then on
 * neither host). */
int postcopy_send(struct vm *vm, struct state_out *out, struct page_set *pending, bool compress,
		  const struct postcopy_relink *relink, struct postcopy_stats *stats, char *err,
		  size_t err_len);

struct postcopy_destination;

/* Destination, before "ready": drops this VM's copies of the pending pages and registers guest
 * RAM for their faults. NULL with err when it cannot (the VM is refused, the source keeps it).
 * Takes `pending`. */
struct postcopy_destination *postcopy_destination_prepare(struct vm *vm, struct page_set *pending,
							  char *err, size_t err_len);
/* After "go": the threads that place the pages as they arrive on fd and ask for the ones
 * something waits on. When the link breaks, `uri` (the --incoming one) listens again for the
 * source; a source that does not come back within POSTCOPY_RECOVERY_WINDOW_S ends the process
 * (the guest must not go on with memory it never got). Takes fd. Returns 0, or -1 with err. */
int postcopy_destination_start(struct postcopy_destination *p, int fd, const char *uri, char *err,
			       size_t err_len);
/* Ends the threads (at once if the pages are all in; else the source is cut off: call it
 * only once nothing waits on a page any more, i.e. after the vCPUs and devices stopped) and
 * frees p. */
void postcopy_destination_finish(struct postcopy_destination *p);

#endif
