/* Named CPU models and `--cpu-model` specifications (issue #11's CPU compatibility, as Intel
 * FlexMigration and AMD-V Extended Migration do in hardware): a VM given a model sees only the
 * model's features, whatever more the host offers, so it can later move to any host that offers
 * the model. A specification is
 *
 *   host | NAME [,+FEATURE|,-FEATURE]...	  (NAME: x86-64-v2, intel-skylake...; FEATURE as
 *					   /proc/cpuinfo names it: avx2, sse4_2)
 *
 * A model decides the named feature bits (cpu_features.h's table: the instruction-set
 * extensions); the bits that describe the platform (paging, APIC, TSC, speculation controls)
 * stay as the accelerator offers them, and the migration check still compares them. A model
 * from one vendor runs only on that vendor's CPUs under KVM (the guest runs on the real CPU); the
 * x86-64-vN levels run on either. */
#ifndef GUREUM_ACCEL_CPU_MODELS_H
#define GUREUM_ACCEL_CPU_MODELS_H

#include "accel/cpu_features.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CPU_MODEL_SPEC_MAX 512

struct cpu_model {
	bool host;	   /* based on "host": every feature offered, but those removed */
	char vendor[12];   /* all zero: any vendor */
	bool amd_identity; /* the software CPU should present itself as AMD */
	uint32_t keep[CPU_FEATURE_WORDS];    /* the bits the guest may be shown */
	uint32_t require[CPU_FEATURE_WORDS]; /* the bits the host must offer */
};

/* Parses a specification. Returns 0, or -1 with one sentence saying what is wrong and which
 * names exist. */
int cpu_model_parse(const char *spec, struct cpu_model *model, char *err, size_t err_len);

/* Whether a host whose accelerator offers `offered` (after masking with model->keep) runs the
 * model: the vendor matches and every required feature is there. Returns 0, or -1 with one
 * sentence naming the missing features; `host` names the CPU in it ("the kvm accelerator"). */
int cpu_model_check(const struct cpu_model *model, const char *spec,
		    const struct cpu_features *offered, const char *host, char *err,
		    size_t err_len);

struct accel_vm_config;
/* The accelerator VM settings a model asks for: its feature mask (none for "host" with nothing
 * removed), and for a model of AMD's the
 * software CPU's AMD identity (under KVM the vendor is the host's, checked by cpu_model_check). */
void cpu_model_configure(const struct cpu_model *model, struct accel_vm_config *config);

/* `offered` masked by the model: what a guest given the model sees on that host. */
void cpu_model_apply(const struct cpu_model *model, struct cpu_features *features);

/* The named models, for listings: i from 0 while the name is not NULL. */
const char *cpu_model_name(size_t i);
const char *cpu_model_summary(size_t i);

/* The specification that shows a guest exactly the named features of `common` (the features
 * several hosts share): the largest named model `common` meets, plus the rest feature by
 * feature. Returns 0, or -1 when `common` lacks even x86-64-v1 or the text does not fit. */
int cpu_model_spec_for(const struct cpu_features *common, char *out, size_t out_len);

#endif
