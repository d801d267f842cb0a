/* `gureum net`: the host's virtual switches, which VMs join with --net switch=NAME,vlan=ID
 * (or trunk=ID:ID). A switch is a Linux bridge with VLAN filtering, marked as gureum's
 * (hostnet/switch.h); it outlives the VMs on it and is removed with `gureum net delete`. */
#include "cmd/commands.h"
#include "hostnet/switch.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *out)
{
	fputs("usage: gureum net create NAME\n"
	      "       gureum net delete NAME\n"
	      "       gureum net list\n"
	      "\n"
	      "  create   a virtual switch (a Linux bridge with VLAN filtering; needs root or\n"
	      "           CAP_NET_ADMIN). VMs join it with --net switch=NAME,vlan=ID: ports\n"
	      "           of one VLAN reach each other, no other; trunk=ID:ID carries several\n"
	      "           VLANs tagged; ip=ADDR and the port's MAC are the only sources let\n"
	      "           through (anti-spoofing), rate=BYTES limits what the VM sends per second\n"
	      "  delete   removes a switch (only one gureum made)\n"
	      "  list     the switches and how many ports each has\n",
	      out);
}

static void print_switch(const char *name, unsigned ports, void *data)
{
	(void)data;
	printf("%-16s %u port%s\n", name, ports, ports == 1 ? "" : "s");
}

int cmd_net(int argc, char **argv)
{
	char err[512];
	const char *verb = argc > 1 ? argv[1] : "";
	int rc;
	if (strcmp(verb, "--help") == 0 || strcmp(verb, "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(verb, "list") == 0 && argc == 2)
		rc = switch_list(print_switch, NULL, err, sizeof(err));
	else if (strcmp(verb, "create") == 0 && argc == 3)
		rc = switch_create(argv[2], err, sizeof(err));
	else if (strcmp(verb, "delete") == 0 && argc == 3)
		rc = switch_delete(argv[2], err, sizeof(err));
	else {
		usage(stderr);
		return 2;
	}
	if (rc < 0) {
		fprintf(stderr, "gureum net %s: %s\n", verb, err);
		return 1;
	}
	return 0;
}
