/* Parsing and writing `--net user`'s settings (user_net_options.h). */
#include "virtio/user_net_options.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_NETWORK "10.0.2.0"
#define DEFAULT_PREFIX	24
/* The guest's address is the network's 15th, so the network needs at least 32 addresses. */
#define LONGEST_PREFIX 27

void user_net_default_options(struct user_net_options *o)
{
	memset(o, 0, sizeof(*o));
	inet_pton(AF_INET, DEFAULT_NETWORK, &o->network);
	o->prefix = DEFAULT_PREFIX;
}

struct in_addr user_net_netmask(const struct user_net_options *o)
{
	uint32_t mask = o->prefix ? ~0u << (32 - o->prefix) : 0;
	return (struct in_addr){.s_addr = htonl(mask)};
}

static struct in_addr nth_address(const struct user_net_options *o, uint32_t n)
{
	return (struct in_addr){.s_addr = htonl(ntohl(o->network.s_addr) + n)};
}

struct in_addr user_net_host_address(const struct user_net_options *o)
{
	return nth_address(o, 2);
}

struct in_addr user_net_dns_address(const struct user_net_options *o)
{
	return nth_address(o, 3);
}

struct in_addr user_net_guest_address(const struct user_net_options *o)
{
	return nth_address(o, 15);
}

/* A decimal number in [min, max] and nothing else. */
static int parse_number(const char *text, unsigned long min, unsigned long max,
			unsigned long *value)
{
	if (*text < '0' || *text > '9')
		return -1;
	errno = 0;
	char *end;
	unsigned long v = strtoul(text, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*value = v;
	return 0;
}

int user_net_parse_network(struct user_net_options *o, const char *cidr, char *err, size_t err_len)
{
	char address[INET_ADDRSTRLEN];
	const char *slash = strchr(cidr, '/');
	size_t n = slash ? (size_t)(slash - cidr) : 0;
	unsigned long prefix;
	struct in_addr network;
	if (!slash || n == 0 || n >= sizeof(address) ||
	    parse_number(slash + 1, 1, LONGEST_PREFIX, &prefix) < 0) {
		snprintf(err, err_len,
			 "--net user: net=%s is not an IPv4 network with a prefix of 1 to %d "
			 "bits, like 10.0.2.0/24",
			 cidr, LONGEST_PREFIX);
		return -1;
	}
	memcpy(address, cidr, n);
	address[n] = 0;
	if (inet_pton(AF_INET, address, &network) != 1) {
		snprintf(err, err_len, "--net user: net=%s: '%s' is not an IPv4 address", cidr,
			 address);
		return -1;
	}
	struct user_net_options candidate = *o;
	candidate.network = network;
	candidate.prefix = (unsigned)prefix;
	struct in_addr mask = user_net_netmask(&candidate);
	if (network.s_addr & ~mask.s_addr) {
		struct in_addr base = {.s_addr = network.s_addr & mask.s_addr};
		char text[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &base, text, sizeof(text));
		snprintf(err, err_len,
			 "--net user: net=%s has host bits set (did you mean net=%s/%lu?)", cidr,
			 text, prefix);
		return -1;
	}
	if (o->nr_forwards) {
		snprintf(err, err_len, "--net user: give net= before hostfwd=");
		return -1;
	}
	*o = candidate;
	return 0;
}

/* "[ADDR]:PORT" into an address (0 when empty) and a port of 1 to 65535. */
static int parse_endpoint(const char *text, struct in_addr *addr, uint16_t *port)
{
	const char *colon = strrchr(text, ':');
	char address[INET_ADDRSTRLEN];
	size_t n = colon ? (size_t)(colon - text) : 0;
	unsigned long value;
	if (!colon || n >= sizeof(address) || parse_number(colon + 1, 1, 65535, &value) < 0)
		return -1;
	memcpy(address, text, n);
	address[n] = 0;
	addr->s_addr = 0;
	if (n && inet_pton(AF_INET, address, addr) != 1)
		return -1;
	*port = (uint16_t)value;
	return 0;
}

static bool in_network(const struct user_net_options *o, struct in_addr a)
{
	struct in_addr mask = user_net_netmask(o);
	return (a.s_addr & mask.s_addr) == o->network.s_addr;
}

static int split_forward(const char *spec, struct user_net_forward *f, char *why, size_t why_len)
{
	char text[96];
	if (strlen(spec) >= sizeof(text)) {
		snprintf(why, why_len, "too long");
		return -1;
	}
	strcpy(text, spec);
	char *colon = strchr(text, ':'), *dash = strchr(text, '-');
	if (!colon || !dash || dash < colon) {
		snprintf(why, why_len, "not PROTOCOL:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT");
		return -1;
	}
	*colon = 0;
	*dash = 0;
	if (strcmp(text, "udp") == 0)
		f->udp = true;
	else if (*text && strcmp(text, "tcp") != 0) {
		snprintf(why, why_len, "the protocol '%s' is not tcp or udp", text);
		return -1;
	}
	if (parse_endpoint(colon + 1, &f->host_addr, &f->host_port) < 0) {
		snprintf(why, why_len, "'%s' is not [HOSTADDR]:PORT with a port of 1 to 65535",
			 colon + 1);
		return -1;
	}
	if (parse_endpoint(dash + 1, &f->guest_addr, &f->guest_port) < 0) {
		snprintf(why, why_len, "'%s' is not [GUESTADDR]:PORT with a port of 1 to 65535",
			 dash + 1);
		return -1;
	}
	return 0;
}

int user_net_parse_forward(struct user_net_options *o, const char *spec, char *err, size_t err_len)
{
	struct user_net_forward f = {0};
	char why[128];
	if (o->nr_forwards >= USER_NET_MAX_FORWARDS) {
		snprintf(err, err_len, "--net user: at most %d hostfwd= per card",
			 USER_NET_MAX_FORWARDS);
		return -1;
	}
	if (split_forward(spec, &f, why, sizeof(why)) < 0) {
		snprintf(err, err_len,
			 "--net user: hostfwd=%s: %s (example: hostfwd=tcp::2222-:22)", spec, why);
		return -1;
	}
	if (f.guest_addr.s_addr && !in_network(o, f.guest_addr)) {
		snprintf(err, err_len,
			 "--net user: hostfwd=%s: the guest address is outside net=", spec);
		return -1;
	}
	for (unsigned i = 0; i < o->nr_forwards; i++) {
		const struct user_net_forward *g = &o->forwards[i];
		if (g->udp == f.udp && g->host_port == f.host_port &&
		    (!g->host_addr.s_addr || !f.host_addr.s_addr ||
		     g->host_addr.s_addr == f.host_addr.s_addr)) {
			snprintf(err, err_len,
				 "--net user: hostfwd=%s: host port %u is forwarded twice", spec,
				 f.host_port);
			return -1;
		}
	}
	o->forwards[o->nr_forwards++] = f;
	return 0;
}

static const char *address_text(struct in_addr a, char *buf)
{
	if (!a.s_addr)
		return "";
	return inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
}

int user_net_format(const struct user_net_options *o, char *buf, size_t len)
{
	char net[INET_ADDRSTRLEN], host[INET_ADDRSTRLEN], guest[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &o->network, net, sizeof(net));
	int used = snprintf(buf, len, "net=%s/%u", net, o->prefix);
	for (unsigned i = 0; i < o->nr_forwards && used >= 0; i++) {
		const struct user_net_forward *f = &o->forwards[i];
		size_t at = (size_t)used < len ? (size_t)used : len;
		int n = snprintf(buf + at, len - at, ",hostfwd=%s:%s:%u-%s:%u",
				 f->udp ? "udp" : "tcp", address_text(f->host_addr, host),
				 f->host_port, address_text(f->guest_addr, guest), f->guest_port);
		used = n < 0 ? n : used + n;
	}
	return used;
}
