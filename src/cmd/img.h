/* gureum img: create, inspect, check, convert and exercise disk images. */
#ifndef GUREUM_CMD_IMG_H
#define GUREUM_CMD_IMG_H

/* argv[0] is "img", argv[1] the subcommand. Returns the process exit status. */
int cmd_img(int argc, char **argv);

/* The subcommands; argv[0] is the subcommand name. */
int img_create(int argc, char **argv);
int img_info(int argc, char **argv);
int img_check(int argc, char **argv);
int img_convert(int argc, char **argv);
int img_io(int argc, char **argv);
int img_map(int argc, char **argv);
int img_resize(int argc, char **argv);
int img_commit(int argc, char **argv);
int img_rebase(int argc, char **argv);
int img_snapshot(int argc, char **argv);
int img_bench(int argc, char **argv);
int img_crashtest(int argc, char **argv);

/* Creates an empty image of format "raw" or "qcow2". options is QEMU-style
 * "cluster_size=64k,compat=1.1,refcount_bits=16" (or NULL). Reports errors itself. */
int img_create_image(const char *filename, const char *format, unsigned long long size,
		     const char *backing, const char *backing_format, const char *options);

#endif
