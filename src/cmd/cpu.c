/* `gureum cpu`: the CPU models a VM can be given (--cpu-model) and which hosts run them, as
 * libvirt's hypervisor-cpu-baseline and -compare do: describe each host with `gureum cpu host
 * > FILE`, compute with `baseline` the model every one of them runs, and check a host against
 * a model with `compare` before moving a VM there. */
#include "accel/accel.h"
#include "accel/cpu_models.h"
#include "cmd/commands.h"
#include "cmd/cpu_host_file.h"
#include "vmm/vm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
	fputs("usage: gureum cpu models\n"
	      "       gureum cpu host [--accel kvm|emu|auto] [--cpu-model SPEC]\n"
	      "       gureum cpu baseline HOSTFILE...\n"
	      "       gureum cpu compare HOSTFILE SPEC\n"
	      "\n"
	      "  models     the named CPU models --cpu-model takes\n"
	      "  host       this host's CPU as the accelerator offers it to guests (JSON: save it\n"
	      "             as HOSTFILE); with --cpu-model, what a guest given SPEC sees\n"
	      "  baseline   the --cpu-model SPEC that every host described runs: a VM started\n"
	      "             with it can move between all of them\n"
	      "  compare    whether the host described runs SPEC; exit status 0 if it does, 1\n"
	      "             if not (naming the missing features)\n",
	      out);
}

static int list_models(void)
{
	printf("%-16s %s\n", "host", "every feature this host's accelerator offers (default)");
	for (size_t i = 0; cpu_model_name(i); i++)
		printf("%-16s %s\n", cpu_model_name(i), cpu_model_summary(i));
	return 0;
}

/* What an accelerator offers a guest given `spec`: an accelerator VM asked through
 * guest_cpuid, as `gureum run` would build it. */
static int features_here(const struct accel_ops *accel, const char *spec,
			 struct cpu_features *features, char *err, size_t err_len)
{
	struct cpu_model model;
	if (cpu_model_parse(spec, &model, err, err_len) < 0)
		return -1;
	struct accel_vm_config config = {.nr_vcpus = 1};
	cpu_model_configure(&model, &config);
	struct accel_vm *vm;
	if (accel->vm_create(&config, &vm, err, err_len) < 0)
		return -1;
	int rc = cpu_features_of_vm(accel, vm, features);
	if (rc < 0)
		snprintf(err, err_len, "the %s accelerator cannot say which CPU features it offers",
			 accel->name);
	else
		rc = cpu_model_check(&model, spec, features, "this host's CPU", err, err_len);
	accel->vm_destroy(vm);
	return rc;
}

static int describe_host(int argc, char **argv)
{
	const char *accel_name = NULL, *spec = "host";
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--accel") == 0 && i + 1 < argc)
			accel_name = argv[++i];
		else if (strcmp(argv[i], "--cpu-model") == 0 && i + 1 < argc)
			spec = argv[++i];
		else {
			fprintf(stderr, "gureum cpu host: unexpected '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	const struct accel_ops *accel = vm_choose_accel(accel_name);
	if (!accel)
		return 1;
	struct cpu_features features;
	char err[1024];
	if (features_here(accel, spec, &features, err, sizeof(err)) < 0) {
		fprintf(stderr, "gureum cpu host: %s\n", err);
		return 1;
	}
	char *text = cpu_host_file_format(&features, accel->name);
	if (!text) {
		fprintf(stderr, "gureum cpu host: out of memory\n");
		return 1;
	}
	fputs(text, stdout);
	free(text);
	return 0;
}

static int baseline(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	struct cpu_features common, next;
	char err[1024];
	for (int i = 1; i < argc; i++) {
		if (cpu_host_file_read(argv[i], i == 1 ? &common : &next, err, sizeof(err)) < 0) {
			fprintf(stderr, "gureum cpu baseline: %s\n", err);
			return 1;
		}
		if (i == 1)
			continue;
		if (memcmp(common.vendor, next.vendor, 12) != 0) {
			fprintf(stderr,
				"gureum cpu baseline: %s has a %.12s CPU and %s a %.12s one: a "
				"guest cannot move between CPU vendors\n",
				argv[1], common.vendor, argv[i], next.vendor);
			return 1;
		}
		for (unsigned w = 0; w < CPU_FEATURE_WORDS; w++)
			common.words[w] &= next.words[w];
	}
	char spec[CPU_MODEL_SPEC_MAX];
	if (cpu_model_spec_for(&common, spec, sizeof(spec)) < 0) {
		fprintf(stderr, "gureum cpu baseline: these hosts share less than x86-64-v1\n");
		return 1;
	}
	printf("%s\n", spec);
	return 0;
}

static int compare(int argc, char **argv)
{
	if (argc != 3) {
		usage(stderr);
		return 2;
	}
	struct cpu_features host;
	struct cpu_model model;
	char err[1024];
	if (cpu_host_file_read(argv[1], &host, err, sizeof(err)) < 0 ||
	    cpu_model_parse(argv[2], &model, err, sizeof(err)) < 0) {
		fprintf(stderr, "gureum cpu compare: %s\n", err);
		return 2;
	}
	cpu_model_apply(&model, &host);
	if (cpu_model_check(&model, argv[2], &host, "the CPU described", err, sizeof(err)) < 0) {
		printf("%s: incompatible: %s\n", argv[1], err);
		return 1;
	}
	printf("%s: compatible: runs --cpu-model %s\n", argv[1], argv[2]);
	return 0;
}

int cmd_cpu(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "";
	if (strcmp(what, "models") == 0 && argc == 2)
		return list_models();
	if (strcmp(what, "host") == 0)
		return describe_host(argc - 1, argv + 1);
	if (strcmp(what, "baseline") == 0)
		return baseline(argc - 1, argv + 1);
	if (strcmp(what, "compare") == 0)
		return compare(argc - 1, argv + 1);
	if (strcmp(what, "--help") == 0 || strcmp(what, "-h") == 0) {
		usage(stdout);
		return 0;
	}
	usage(stderr);
	return 2;
}
