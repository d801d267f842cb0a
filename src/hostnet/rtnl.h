/* A route-netlink conversation with the host kernel over libmnl: requests that are answered
 * with an acknowledgement (or an error and the kernel's extended message), and dumps walked
 * message by message. Used by the virtual switch code to make bridges and configure ports. */
#ifndef GUREUM_HOSTNET_RTNL_H
#define GUREUM_HOSTNET_RTNL_H

#include <libmnl/libmnl.h>
#include <stddef.h>

struct rtnl;

/* NULL with a sentence in `err` when the socket cannot be opened. */
struct rtnl *rtnl_open(char *err, size_t err_len);
void rtnl_close(struct rtnl *r);

/* A request header of `type` with `flags` (NLM_F_REQUEST|NLM_F_ACK added) in r's buffer. */
struct nlmsghdr *rtnl_request(struct rtnl *r, uint16_t type, uint16_t flags);

/* Sends the request and waits for its acknowledgement. 0, or -errno with the kernel's own
 * explanation (extended ack) when it gave one, else strerror, in `err`. */
int rtnl_talk(struct rtnl *r, struct nlmsghdr *nlh, char *err, size_t err_len);

/* Sends a dump request and calls `cb` for every message of the answer. 0 or -errno. */
int rtnl_dump(struct rtnl *r, struct nlmsghdr *nlh, mnl_cb_t cb, void *data);

/* The interface index of `name`, or 0 when there is none. */
unsigned rtnl_ifindex(const char *name);

#endif
