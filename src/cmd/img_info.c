/* gureum img info: what an image is, in words or JSON (field names as in qemu-img info). */
#include "block/qcow2.h"
#include "cmd/img.h"

#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static json_t *qcow2_specific(const struct qcow2_header *h)
{
	return json_pack("{s:s, s:i, s:b, s:b, s:b, s:s, s:b}", "compat",
			 h->version >= 3 ? "1.1" : "0.10", "refcount-bits", 1 << h->refcount_order,
			 "lazy-refcounts",
			 (h->compatible_features & QCOW2_COMPAT_LAZY_REFCOUNTS) != 0, "corrupt",
			 (h->incompatible_features & QCOW2_INCOMPAT_CORRUPT) != 0, "dirty",
			 (h->incompatible_features & QCOW2_INCOMPAT_DIRTY) != 0, "compression-type",
			 h->compression_type == QCOW2_COMPRESSION_ZSTD ? "zstd" : "zlib",
			 "extended-l2", qcow2_has_extended_l2(h));
}

static json_t *describe(struct block_device *dev)
{
	struct stat st;
	json_int_t disk = stat(dev->filename, &st) == 0 ? (json_int_t)st.st_blocks * 512 : -1;
	json_t *info = json_pack("{s:s, s:s, s:I, s:I}", "filename", dev->filename, "format",
				 dev->driver->format_name, "virtual-size", (json_int_t)dev->size,
				 "actual-size", disk);
	const struct qcow2_header *h = qcow2_header_of(dev);
	if (!h)
		return info;
	json_object_set_new(info, "cluster-size", json_integer(qcow2_cluster_size(h)));
	if (h->backing_file[0]) {
		json_object_set_new(info, "backing-filename", json_string(h->backing_file));
		if (h->backing_format[0])
			json_object_set_new(info, "backing-filename-format",
					    json_string(h->backing_format));
	}
	json_object_set_new(info, "snapshots", json_integer(h->nb_snapshots));
	json_object_set_new(info, "format-specific", qcow2_specific(h));
	return info;
}

static void print_human(json_t *info)
{
	printf("image: %s\n", json_string_value(json_object_get(info, "filename")));
	printf("file format: %s\n", json_string_value(json_object_get(info, "format")));
	printf("virtual size: %" JSON_INTEGER_FORMAT " bytes\n",
	       json_integer_value(json_object_get(info, "virtual-size")));
	printf("disk size: %" JSON_INTEGER_FORMAT " bytes\n",
	       json_integer_value(json_object_get(info, "actual-size")));
	json_t *cluster = json_object_get(info, "cluster-size");
	if (cluster)
		printf("cluster_size: %" JSON_INTEGER_FORMAT "\n", json_integer_value(cluster));
	json_t *backing = json_object_get(info, "backing-filename");
	if (backing)
		printf("backing file: %s\n", json_string_value(backing));
	json_t *backing_format = json_object_get(info, "backing-filename-format");
	if (backing_format)
		printf("backing file format: %s\n", json_string_value(backing_format));
	json_t *specific = json_object_get(info, "format-specific");
	if (!specific)
		return;
	printf("Format specific information:\n");
	printf("    compat: %s\n", json_string_value(json_object_get(specific, "compat")));
	printf("    compression type: %s\n",
	       json_string_value(json_object_get(specific, "compression-type")));
	printf("    lazy refcounts: %s\n",
	       json_is_true(json_object_get(specific, "lazy-refcounts")) ? "true" : "false");
	printf("    refcount bits: %" JSON_INTEGER_FORMAT "\n",
	       json_integer_value(json_object_get(specific, "refcount-bits")));
	printf("    corrupt: %s\n",
	       json_is_true(json_object_get(specific, "corrupt")) ? "true" : "false");
	printf("    extended l2: %s\n",
	       json_is_true(json_object_get(specific, "extended-l2")) ? "true" : "false");
	printf("    dirty: %s\n",
	       json_is_true(json_object_get(specific, "dirty")) ? "true" : "false");
}

int img_info(int argc, char **argv)
{
	const char *format = NULL;
	bool as_json = false;
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, 'j'}, {"output", required_argument, NULL, 'o'}, {0}};
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "+f:", longopts, NULL)) != -1) {
		if (c == 'f')
			format = optarg;
		else if (c == 'j' || (c == 'o' && strcmp(optarg, "json") == 0))
			as_json = true;
		else if (c != 'o')
			return 2;
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: gureum img info [-f fmt] [--json] FILE\n");
		return 2;
	}
	struct block_device *dev;
	struct block_error err;
	if (block_open(argv[optind], format, BLOCK_OPEN_READ_ONLY, &dev, &err) < 0) {
		fprintf(stderr, "gureum img: %s\n", err.message);
		return 1;
	}
	json_t *info = describe(dev);
	block_close(dev);
	if (as_json) {
		char *text = json_dumps(info, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
		printf("%s\n", text);
		free(text);
	} else {
		print_human(info);
	}
	json_decref(info);
	return 0;
}
