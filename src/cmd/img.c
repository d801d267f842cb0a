/* gureum img: dispatch to the subcommands. */
#include "cmd/img.h"

#include "lib/log.h"

#include <stdio.h>
#include <string.h>

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;
} subcommands[] = {
    {"create", img_create, "create [-f fmt] [-b backing [-F fmt]] [-o opts] FILE [SIZE]"},
    {"info", img_info, "info [-f fmt] [--json] FILE"},
    {"check", img_check, "check [-f fmt] [--json] FILE"},
    {"convert", img_convert, "convert [-c] [-p] [-f fmt] [-O fmt] [-o opts] SRC DST"},
    {"io", img_io,
     "io [-f fmt] [-r] FILE -c CMD... (write [-P n|-z] OFF LEN, read [-P n] OFF "
     "LEN, discard OFF LEN, flush)"},
    {"map", img_map, "map [-f fmt] [--output=human|json] FILE"},
    {"resize", img_resize, "resize [-f fmt] [--shrink] FILE [+|-]SIZE"},
    {"commit", img_commit, "commit [-f fmt] [-d] [-p] OVERLAY"},
    {"rebase", img_rebase, "rebase [-f fmt] [-u] [-p] -b BACKING [-F fmt] FILE"},
    {"snapshot", img_snapshot, "snapshot [-f fmt] IMAGE OVERLAY"},
    {"crashtest", img_crashtest,
     "crashtest fill FILE | write SEED FILE | verify SEED GEN [--base] RAW (crash tests)"},
    {"bench", img_bench,
     "bench [-f fmt] [-c count] [-d depth] [-s size] [-S step] [-o offset] [-w] [-t none] "
     "[--pattern=n] [--flush-interval=n] FILE"},
};

static void usage(FILE *out)
{
	fprintf(out, "usage: gureum img [-v|--verbose] <subcommand> ...\n\n");
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		fprintf(out, "  gureum img %s\n", subcommands[i].help);
}

int cmd_img(int argc, char **argv)
{
	/* -v: debug messages too, e.g. each cluster a repair on open fixes. */
	if (argc >= 2 && (strcmp(argv[1], "-v") == 0 || strcmp(argv[1], "--verbose") == 0)) {
		log_set_level(LOG_DEBUG);
		argc--;
		argv++;
	}
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (strcmp(argv[1], subcommands[i].name) == 0)
			return subcommands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "gureum img: unknown subcommand '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
