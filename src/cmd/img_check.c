/* gureum img check: compare refcounts with the references in the metadata; --repair fixes them.
 * Exit status as qemu-img check: 0 clean, 1 check failed, 2 corruptions, 3 only leaks. */
#include "block/qcow2_check.h"
#include "cmd/img.h"

#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_human(const struct qcow2_check_result *r, bool repair)
{
	uint64_t corruptions = r->corruptions - r->corruptions_fixed;
	uint64_t leaks = r->leaks - r->leaks_fixed;
	if (repair && (r->corruptions_fixed || r->leaks_fixed))
		printf("Repaired %" PRIu64 " leaks and %" PRIu64 " corruptions.\n", r->leaks_fixed,
		       r->corruptions_fixed);
	if (corruptions == 0 && leaks == 0)
		printf("No errors were found on the image.\n");
	if (corruptions)
		printf("%" PRIu64 " errors were found on the image.\n"
		       "Data may be corrupted, or further writes to the image may corrupt it.\n",
		       corruptions);
	if (leaks)
		printf("%" PRIu64 " leaked clusters were found on the image.\n"
		       "This means waste of disk space, but no harm to data.\n",
		       leaks);
	printf("%" PRIu64 "/%" PRIu64 " allocated clusters\n", r->allocated_clusters,
	       r->total_clusters);
	printf("Image end offset: %" PRIu64 "\n", r->image_end_offset);
}

static void print_json(const char *filename, const struct qcow2_check_result *r)
{
	json_t *o = json_pack(
	    "{s:s, s:s, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "filename", filename, "format",
	    "qcow2", "check-errors", 0, "corruptions",
	    (json_int_t)(r->corruptions - r->corruptions_fixed), "leaks",
	    (json_int_t)(r->leaks - r->leaks_fixed), "corruptions-fixed",
	    (json_int_t)r->corruptions_fixed, "leaks-fixed", (json_int_t)r->leaks_fixed,
	    "allocated-clusters", (json_int_t)r->allocated_clusters, "total-clusters",
	    (json_int_t)r->total_clusters, "image-end-offset", (json_int_t)r->image_end_offset);
	char *text = json_dumps(o, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
	printf("%s\n", text);
	free(text);
	json_decref(o);
}

int img_check(int argc, char **argv)
{
	const char *format = NULL;
	bool as_json = false, repair = false;
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, 'j'}, {"repair", no_argument, NULL, 'r'}, {0}};
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "f:r", longopts, NULL)) != -1) {
		if (c == 'f')
			format = optarg;
		else if (c == 'j')
			as_json = true;
		else if (c == 'r')
			repair = true;
		else
			return 1;
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: gureum img check [-f fmt] [--json] [--repair] FILE\n");
		return 1;
	}
	const char *filename = argv[optind];
	struct block_device *dev;
	struct block_error err;
	unsigned flags = repair ? BLOCK_OPEN_FOR_REPAIR : BLOCK_OPEN_READ_ONLY;
	struct qcow2_check_result r;
	if (block_open(filename, format, flags, &dev, &err) < 0 ||
	    (qcow2_check(dev, repair, &r, &err) < 0 && (block_close(dev), 1))) {
		fprintf(stderr, "gureum img: %s\n", err.message);
		return 1;
	}
	block_close(dev);
	if (as_json)
		print_json(filename, &r);
	else
		print_human(&r, repair);
	if (r.corruptions > r.corruptions_fixed)
		return 2;
	return r.leaks > r.leaks_fixed ? 3 : 0;
}
