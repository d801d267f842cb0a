/* libFuzzer target: the settings of --net user (net=, hostfwd=) and of a switch port
 * (switch=, vlan=, trunk=, ip=, rate=), which users and VM configuration files (vm.json, a
 * snapshot's config.json) feed. The input is a comma-separated list of key=value items. Beyond
 * not crashing: settings that are accepted must come back the same from the text they are
 * written as, since a snapshot or a migration records a card that way and builds it again. */
#include "hostnet/switch_port.h"
#include "virtio/user_net_options.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static bool parse_user(struct user_net_options *o, char *text)
{
	char err[256];
	user_net_default_options(o);
	for (char *save, *item = strtok_r(text, ",", &save); item;
	     item = strtok_r(NULL, ",", &save)) {
		char *value = strchr(item, '=');
		if (!value)
			return false;
		*value++ = 0;
		int rc = strcmp(item, "net") == 0
			     ? user_net_parse_network(o, value, err, sizeof(err))
			 : strcmp(item, "hostfwd") == 0
			     ? user_net_parse_forward(o, value, err, sizeof(err))
			     : -1;
		if (rc < 0)
			return false;
	}
	return true;
}

static bool parse_port(struct switch_port_options *o, char *text)
{
	char err[256];
	memset(o, 0, sizeof(*o));
	for (char *save, *item = strtok_r(text, ",", &save); item;
	     item = strtok_r(NULL, ",", &save)) {
		char *value = strchr(item, '=');
		if (!value)
			return false;
		*value++ = 0;
		if (switch_port_parse(o, item, value, err, sizeof(err)) < 0)
			return false;
	}
	/* Only a port on a switch is written as text (a card without one has no settings). */
	return o->switch_name[0] && switch_port_check(o, err, sizeof(err)) == 0;
}

/* Field by field: the structures' padding is not part of the settings. */
static bool same_user(const struct user_net_options *a, const struct user_net_options *b)
{
	if (a->network.s_addr != b->network.s_addr || a->prefix != b->prefix ||
	    a->nr_forwards != b->nr_forwards)
		return false;
	for (unsigned i = 0; i < a->nr_forwards; i++) {
		const struct user_net_forward *f = &a->forwards[i], *g = &b->forwards[i];
		if (f->udp != g->udp || f->host_addr.s_addr != g->host_addr.s_addr ||
		    f->guest_addr.s_addr != g->guest_addr.s_addr || f->host_port != g->host_port ||
		    f->guest_port != g->guest_port)
			return false;
	}
	return true;
}

static bool same_port(const struct switch_port_options *a, const struct switch_port_options *b)
{
	return strcmp(a->switch_name, b->switch_name) == 0 && a->access_vlan == b->access_vlan &&
	       a->nr_trunk == b->nr_trunk &&
	       memcmp(a->trunk, b->trunk, a->nr_trunk * sizeof(a->trunk[0])) == 0 &&
	       a->ip.s_addr == b->ip.s_addr && a->rate == b->rate;
}

static void round_trip_user(const char *input)
{
	char *text = strdup(input), written[4096];
	struct user_net_options o, back;
	if (text && parse_user(&o, text)) {
		int n = user_net_format(&o, written, sizeof(written));
		if (n < 0 || (size_t)n >= sizeof(written) || !parse_user(&back, written) ||
		    !same_user(&o, &back))
			abort(); /* what we write, we must read back as it was */
	}
	free(text);
}

static void round_trip_port(const char *input)
{
	char *text = strdup(input), written[1024];
	struct switch_port_options o, back;
	if (text && parse_port(&o, text)) {
		int n = switch_port_format(&o, written, sizeof(written));
		if (n < 0 || (size_t)n >= sizeof(written) || !parse_port(&back, written) ||
		    !same_port(&o, &back))
			abort();
	}
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *input = malloc(size + 1);
	if (!input)
		return 0;
	memcpy(input, data, size);
	input[size] = '\0';
	round_trip_user(input);
	round_trip_port(input);
	free(input);
	return 0;
}
