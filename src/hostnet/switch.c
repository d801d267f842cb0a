/* Virtual switches as Linux bridges (switch.h), configured over route netlink: RTM_NEWLINK
 * with IFLA_INFO_KIND "bridge" and the bridge's own attributes (include/uapi/linux/if_link.h,
 * IFLA_BR_*), the same requests `ip link add ... type bridge vlan_filtering 1` makes. */
#include "hostnet/switch.h"

#include "hostnet/rtnl.h"

#include <errno.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool switch_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n >= IFNAMSIZ || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return false;
	for (const char *c = name; *c; c++)
		if (*c == '/' || *c == ':' || *c == ',' || *c <= ' ' || *c > '~')
			return false;
	return true;
}

/* Up, and marked as gureum's: the kernel takes an alias only on an existing link. */
static int set_up_as_switch(struct rtnl *r, const char *name, char *err, size_t err_len)
{
	struct nlmsghdr *nlh = rtnl_request(r, RTM_NEWLINK, 0);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_change = IFF_UP;
	ifi->ifi_flags = IFF_UP;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	mnl_attr_put_strz(nlh, IFLA_IFALIAS, SWITCH_ALIAS);
	return rtnl_talk(r, nlh, err, err_len);
}

static int add_bridge(struct rtnl *r, const char *name, char *err, size_t err_len)
{
	struct nlmsghdr *nlh = rtnl_request(r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	struct nlattr *info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "bridge");
	struct nlattr *data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	mnl_attr_put_u8(nlh, IFLA_BR_VLAN_FILTERING, 1);
	/* No VLAN 1 on new ports: a port is in no segment until its VM's options say. */
	mnl_attr_put_u16(nlh, IFLA_BR_VLAN_DEFAULT_PVID, 0);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, info);
	return rtnl_talk(r, nlh, err, err_len);
}

int switch_create(const char *name, char *err, size_t err_len)
{
	char why[256];
	if (!switch_name_valid(name)) {
		snprintf(err, err_len, "switch name '%s': 1 to 15 letters, digits, '-' or '_'",
			 name);
		return -1;
	}
	struct rtnl *r = rtnl_open(err, err_len);
	if (!r)
		return -1;
	int rc = add_bridge(r, name, why, sizeof(why));
	if (rc == -EEXIST)
		snprintf(err, err_len, "switch %s: an interface of that name exists already", name);
	else if (rc == -EPERM)
		snprintf(err, err_len, "switch %s: %s (run as root or with CAP_NET_ADMIN)", name,
			 why);
	else if (rc < 0)
		snprintf(err, err_len,
			 "switch %s: the kernel refused a VLAN-filtering bridge: %s (it needs "
			 "CONFIG_BRIDGE and CONFIG_BRIDGE_VLAN_FILTERING)",
			 name, why);
	if (rc == 0 && (rc = set_up_as_switch(r, name, why, sizeof(why))) < 0)
		snprintf(err, err_len, "switch %s: setting it up: %s", name, why);
	rtnl_close(r);
	return rc < 0 ? -1 : 0;
}

/* --- finding switches ------------------------------------------------------------------------ */

struct link_info {
	const char *name, *kind, *alias;
	unsigned index, master;
};

static int link_attr(const struct nlattr *a, void *data)
{
	struct link_info *l = data;
	switch (mnl_attr_get_type(a)) {
	case IFLA_IFNAME:
		if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
			l->name = mnl_attr_get_str(a);
		break;
	case IFLA_IFALIAS:
		if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
			l->alias = mnl_attr_get_str(a);
		break;
	case IFLA_MASTER:
		if (mnl_attr_validate(a, MNL_TYPE_U32) == 0)
			l->master = mnl_attr_get_u32(a);
		break;
	case IFLA_LINKINFO: {
		const struct nlattr *i;
		mnl_attr_for_each_nested(i, a)
		{
			if (mnl_attr_get_type(i) == IFLA_INFO_KIND &&
			    mnl_attr_validate(i, MNL_TYPE_NUL_STRING) == 0)
				l->kind = mnl_attr_get_str(i);
		}
		break;
	}
	}
	return MNL_CB_OK;
}

static void parse_link(const struct nlmsghdr *nlh, struct link_info *l)
{
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	memset(l, 0, sizeof(*l));
	l->index = (unsigned)ifi->ifi_index;
	mnl_attr_parse(nlh, sizeof(*ifi), link_attr, l);
}

static bool is_switch(const struct link_info *l)
{
	return l->name && l->kind && strcmp(l->kind, "bridge") == 0 && l->alias &&
	       strcmp(l->alias, SWITCH_ALIAS) == 0;
}

#define SWITCH_MAX_LINKS 1024

struct link_table {
	unsigned count;
	struct {
		char name[IFNAMSIZ];
		unsigned index, master;
		bool is_switch;
	} links[SWITCH_MAX_LINKS];
};

static int collect_link(const struct nlmsghdr *nlh, void *data)
{
	struct link_table *t = data;
	struct link_info l;
	parse_link(nlh, &l);
	if (!l.name || t->count == SWITCH_MAX_LINKS)
		return MNL_CB_OK;
	snprintf(t->links[t->count].name, IFNAMSIZ, "%s", l.name);
	t->links[t->count].index = l.index;
	t->links[t->count].master = l.master;
	t->links[t->count].is_switch = is_switch(&l);
	t->count++;
	return MNL_CB_OK;
}

static struct link_table *read_links(char *err, size_t err_len)
{
	struct link_table *t = calloc(1, sizeof(*t));
	struct rtnl *r = t ? rtnl_open(err, err_len) : NULL;
	if (!r) {
		free(t);
		return NULL;
	}
	struct nlmsghdr *nlh = rtnl_request(r, RTM_GETLINK, 0);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	int rc = rtnl_dump(r, nlh, collect_link, t);
	rtnl_close(r);
	if (rc < 0) {
		snprintf(err, err_len, "listing the host's interfaces: %s", strerror(-rc));
		free(t);
		return NULL;
	}
	return t;
}

int switch_list(void (*cb)(const char *name, unsigned ports, void *data), void *data, char *err,
		size_t err_len)
{
	struct link_table *t = read_links(err, err_len);
	if (!t)
		return -1;
	for (unsigned i = 0; i < t->count; i++) {
		if (!t->links[i].is_switch)
			continue;
		unsigned ports = 0;
		for (unsigned j = 0; j < t->count; j++)
			ports += t->links[j].master == t->links[i].index;
		cb(t->links[i].name, ports, data);
	}
	free(t);
	return 0;
}

int switch_check(const char *name, char *err, size_t err_len)
{
	struct link_table *t = read_links(err, err_len);
	if (!t)
		return -1;
	int rc = -1;
	bool found = false;
	for (unsigned i = 0; i < t->count; i++)
		if (strcmp(t->links[i].name, name) == 0) {
			found = true;
			rc = t->links[i].is_switch ? 0 : -1;
		}
	free(t);
	if (!found)
		snprintf(err, err_len, "there is no switch %s (make it: gureum net create %s)",
			 name, name);
	else if (rc < 0)
		snprintf(err, err_len,
			 "%s is not a gureum switch (gureum uses only the bridges it made: gureum "
			 "net create NAME)",
			 name);
	return rc;
}

int switch_delete(const char *name, char *err, size_t err_len)
{
	if (switch_check(name, err, err_len) < 0)
		return -1;
	struct rtnl *r = rtnl_open(err, err_len);
	if (!r)
		return -1;
	char why[256];
	struct nlmsghdr *nlh = rtnl_request(r, RTM_DELLINK, 0);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	int rc = rtnl_talk(r, nlh, why, sizeof(why));
	rtnl_close(r);
	if (rc < 0)
		snprintf(err, err_len, "switch %s: %s", name, why);
	return rc < 0 ? -1 : 0;
}
