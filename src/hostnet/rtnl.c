/* Route-netlink requests over libmnl (rtnl.h). One socket per conversation: the callers make a
 * handful of requests when a switch or a port is set up, so nothing is kept open. */
#include "hostnet/rtnl.h"

#include <errno.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct rtnl {
	struct mnl_socket *nl;
	unsigned port;
	unsigned seq;
	char buf[32768]; /* a dump's messages: libmnl's MNL_SOCKET_DUMP_SIZE */
};

struct rtnl *rtnl_open(char *err, size_t err_len)
{
	struct rtnl *r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(err, err_len, "netlink: out of memory");
		return NULL;
	}
	r->nl = mnl_socket_open(NETLINK_ROUTE);
	if (!r->nl || mnl_socket_bind(r->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		snprintf(err, err_len, "netlink: %s", strerror(errno));
		rtnl_close(r);
		return NULL;
	}
	int on = 1;
	/* The kernel's own sentence for a refusal ("VLAN filtering is not supported", ...). */
	mnl_socket_setsockopt(r->nl, NETLINK_EXT_ACK, &on, sizeof(on));
	r->port = mnl_socket_get_portid(r->nl);
	r->seq = (unsigned)time(NULL);
	return r;
}

void rtnl_close(struct rtnl *r)
{
	if (!r)
		return;
	if (r->nl)
		mnl_socket_close(r->nl);
	free(r);
}

struct nlmsghdr *rtnl_request(struct rtnl *r, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(r->buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	nlh->nlmsg_seq = ++r->seq;
	return nlh;
}

/* The NLMSGERR_ATTR_MSG of an error message, if the kernel sent one. */
static const char *extended_message(const struct nlmsghdr *nlh)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return NULL;
	size_t offset = sizeof(*e);
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		offset += e->msg.nlmsg_len - sizeof(e->msg);
	const struct nlattr *a;
	mnl_attr_for_each(a, nlh, offset)
	{
		if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG &&
		    mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
			return mnl_attr_get_str(a);
	}
	return NULL;
}

int rtnl_talk(struct rtnl *r, struct nlmsghdr *nlh, char *err, size_t err_len)
{
	unsigned seq = nlh->nlmsg_seq;
	if (mnl_socket_sendto(r->nl, nlh, nlh->nlmsg_len) < 0) {
		snprintf(err, err_len, "%s", strerror(errno));
		return -errno;
	}
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(r->nl, r->buf, sizeof(r->buf));
		if (n < 0) {
			snprintf(err, err_len, "%s", strerror(errno));
			return -errno;
		}
		for (const struct nlmsghdr *m = (const struct nlmsghdr *)r->buf;
		     mnl_nlmsg_ok(m, (int)n); m = mnl_nlmsg_next(m, (int *)&n)) {
			if (m->nlmsg_seq != seq || m->nlmsg_type != NLMSG_ERROR)
				continue;
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(m);
			if (e->error == 0)
				return 0;
			const char *why = extended_message(m);
			snprintf(err, err_len, "%s", why ? why : strerror(-e->error));
			return e->error;
		}
	}
}

int rtnl_dump(struct rtnl *r, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	unsigned seq = nlh->nlmsg_seq;
	if (mnl_socket_sendto(r->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(r->nl, r->buf, sizeof(r->buf));
		if (n < 0)
			return -errno;
		int rc = mnl_cb_run(r->buf, (size_t)n, seq, r->port, cb, data);
		if (rc <= MNL_CB_STOP)
			return rc < 0 ? -errno : 0;
	}
}

unsigned rtnl_ifindex(const char *name)
{
	return if_nametoindex(name);
}
