/* Named CPU models and --cpu-model specifications (cpu_models.h). */
#include "accel/cpu_models.h"

#include "accel/accel.h"

#include <stdio.h>
#include <string.h>

#define AMD   "AuthenticAMD"
#define INTEL "GenuineIntel"

struct named_model {
	const char *name;
	const char *vendor; /* NULL: either */
	const char *parent; /* NULL: none */
	const char *features;
	const char *summary;
};

/* The x86-64 levels are the psABI's (the ISA a distribution may compile for); the real models
 * follow the features of the first CPUs of each family, so every later CPU of the vendor runs
 * them. */
static const struct named_model models[] = {
    {"x86-64-v1", NULL, NULL, "fpu cx8 cmov mmx fxsr sse sse2 syscall nx lm",
     "the x86-64 baseline: SSE2"},
    {"x86-64-v2", NULL, "x86-64-v1", "cx16 lahf_lm popcnt sse3 sse4_1 sse4_2 ssse3",
     "adds SSE4.2, POPCNT, CMPXCHG16B (Nehalem, Bulldozer and later)"},
    {"x86-64-v3", NULL, "x86-64-v2", "avx avx2 bmi1 bmi2 f16c fma abm movbe xsave",
     "adds AVX2, BMI2, FMA (Haswell, Zen and later)"},
    {"x86-64-v4", NULL, "x86-64-v3", "avx512f avx512bw avx512cd avx512dq avx512vl",
     "adds AVX-512 F/BW/CD/DQ/VL (Skylake-SP, Zen 4 and later)"},
    {"intel-haswell", INTEL, "x86-64-v3",
     "pclmulqdq pcid aes rdrand fsgsbase smep erms invpcid xsaveopt pdpe1gb rdtscp",
     "Intel Haswell"},
    {"intel-skylake", INTEL, "intel-haswell",
     "rdseed adx smap clflushopt xsavec xgetbv1 3dnowprefetch", "Intel Skylake (client)"},
    {"intel-icelake", INTEL, "intel-skylake",
     "avx512f avx512bw avx512cd avx512dq avx512vl clwb sha_ni avx512vbmi umip pku gfni vaes "
     "vpclmulqdq avx512_vnni avx512_bitalg avx512_vpopcntdq avx512_vbmi2 rdpid",
     "Intel Ice Lake (server)"},
    {"amd-zen", AMD, "x86-64-v3",
     "pclmulqdq aes rdrand fsgsbase smep rdseed adx smap clflushopt sha_ni xsaveopt xsavec "
     "xgetbv1 sse4a misalignsse 3dnowprefetch mmxext fxsr_opt pdpe1gb rdtscp",
     "AMD Zen (EPYC 7001)"},
    {"amd-zen3", AMD, "amd-zen", "pcid erms invpcid clwb umip pku vaes vpclmulqdq rdpid",
     "AMD Zen 3 (EPYC 7003)"},
};

#define NR_MODELS (sizeof(models) / sizeof(models[0]))

const char *cpu_model_name(size_t i)
{
	return i < NR_MODELS ? models[i].name : NULL;
}

const char *cpu_model_summary(size_t i)
{
	return i < NR_MODELS ? models[i].summary : NULL;
}

static const struct named_model *find_model(const char *name, size_t len)
{
	for (size_t i = 0; i < NR_MODELS; i++)
		if (strlen(models[i].name) == len && strncmp(models[i].name, name, len) == 0)
			return &models[i];
	return NULL;
}

static void list_names(char *out, size_t len)
{
	out[0] = '\0';
	for (size_t i = 0; i < NR_MODELS; i++) {
		size_t used = strlen(out);
		snprintf(out + used, len - used, "%s%s", i ? ", " : "", models[i].name);
	}
}

/* Sets or clears one named feature in both masks. */
static int set_feature(struct cpu_model *m, const char *name, size_t len, bool on, char *err,
		       size_t err_len)
{
	char buf[64];
	unsigned word, bit;
	if (len == 0 || len >= sizeof(buf)) {
		snprintf(err, err_len, "an empty or overlong feature name");
		return -1;
	}
	memcpy(buf, name, len);
	buf[len] = '\0';
	if (cpu_feature_find(buf, &word, &bit) < 0) {
		snprintf(err, err_len,
			 "'%s' is not a CPU feature gureum knows (names as in /proc/cpuinfo: "
			 "avx2, sse4_2, ...; `gureum cpu host` lists them)",
			 buf);
		return -1;
	}
	if (on) {
		m->keep[word] |= 1u << bit;
		m->require[word] |= 1u << bit;
	} else {
		m->keep[word] &= ~(1u << bit);
		m->require[word] &= ~(1u << bit);
	}
	return 0;
}

/* A named model's features, its ancestors' first. */
static int add_model(struct cpu_model *m, const struct named_model *nm, char *err, size_t err_len)
{
	if (nm->parent && add_model(m, find_model(nm->parent, strlen(nm->parent)), err, err_len))
		return -1;
	for (const char *p = nm->features; *p;) {
		size_t len = strcspn(p, " ");
		if (set_feature(m, p, len, true, err, err_len) < 0)
			return -1;
		p += len;
		p += strspn(p, " ");
	}
	if (nm->vendor) {
		memcpy(m->vendor, nm->vendor, 12);
		m->amd_identity = strcmp(nm->vendor, AMD) == 0;
	}
	return 0;
}

static int parse_base(const char *name, size_t len, struct cpu_model *m, char *err, size_t err_len)
{
	*m = (struct cpu_model){0};
	if (len == 4 && strncmp(name, "host", 4) == 0) {
		m->host = true;
		memset(m->keep, 0xff, sizeof(m->keep));
		return 0;
	}
	const struct named_model *nm = find_model(name, len);
	if (!nm) {
		char known[256];
		list_names(known, sizeof(known));
		snprintf(err, err_len, "'%.*s' is not a CPU model (host, %s)", (int)len, name,
			 known);
		return -1;
	}
	/* What the model does not name stays as the host offers it. */
	for (unsigned w = 0; w < CPU_FEATURE_WORDS; w++)
		m->keep[w] = ~cpu_features_governed(w);
	return add_model(m, nm, err, err_len);
}

int cpu_model_parse(const char *spec, struct cpu_model *model, char *err, size_t err_len)
{
	char why[256];
	size_t len = strcspn(spec, ",");
	int rc = parse_base(spec, len, model, why, sizeof(why));
	for (const char *p = spec + len; rc == 0 && *p == ',';) {
		p++;
		len = strcspn(p, ",");
		if (len == 0 || (p[0] != '+' && p[0] != '-')) {
			snprintf(why, sizeof(why), "'%.*s' is not +FEATURE or -FEATURE", (int)len,
				 p);
			rc = -1;
			break;
		}
		rc = set_feature(model, p + 1, len - 1, p[0] == '+', why, sizeof(why));
		p += len;
	}
	if (rc < 0)
		snprintf(err, err_len, "--cpu-model %s: %s", spec, why);
	return rc;
}

void cpu_model_configure(const struct cpu_model *model, struct accel_vm_config *config)
{
	config->cpu_model = model->amd_identity ? "amd-zen" : NULL;
	bool hides = false;
	for (unsigned w = 0; w < CPU_FEATURE_WORDS; w++)
		hides |= model->keep[w] != UINT32_MAX;
	config->cpu_feature_keep = hides ? model->keep : NULL; /* "host" hides nothing */
}

void cpu_model_apply(const struct cpu_model *model, struct cpu_features *features)
{
	for (unsigned w = 0; w < CPU_FEATURE_WORDS; w++)
		features->words[w] &= model->keep[w];
}

int cpu_model_check(const struct cpu_model *model, const char *spec,
		    const struct cpu_features *offered, const char *host, char *err, size_t err_len)
{
	if (model->vendor[0] && memcmp(model->vendor, offered->vendor, 12) != 0) {
		snprintf(
		    err, err_len,
		    "--cpu-model %s is a model of %.12s CPUs and %s offers a %.12s CPU: a guest "
		    "cannot be shown another vendor's CPU, so choose a model of that vendor "
		    "or an x86-64-vN level",
		    spec, model->vendor, host, offered->vendor);
		return -1;
	}
	snprintf(err, err_len, "--cpu-model %s: %s lacks ", spec, host);
	return cpu_features_name_missing(model->require, offered->words, err, err_len) ? -1 : 0;
}

static unsigned required_bits(const struct cpu_model *m)
{
	unsigned n = 0;
	for (unsigned w = 0; w < CPU_FEATURE_WORDS; w++)
		n += (unsigned)__builtin_popcount(m->require[w]);
	return n;
}

/* The named model with the most features that a CPU with `common` runs. */
static bool best_model(const struct cpu_features *common, struct cpu_model *best, size_t *index)
{
	bool found = false;
	for (size_t i = 0; i < NR_MODELS; i++) {
		struct cpu_model m;
		char ignored[256];
		if (parse_base(models[i].name, strlen(models[i].name), &m, ignored,
			       sizeof(ignored)) < 0 ||
		    cpu_model_check(&m, models[i].name, common, "", ignored, sizeof(ignored)) < 0)
			continue;
		if (!found || required_bits(&m) > required_bits(best)) {
			*best = m;
			*index = i;
			found = true;
		}
	}
	return found;
}

int cpu_model_spec_for(const struct cpu_features *common, char *out, size_t out_len)
{
	struct cpu_model m = {0};
	size_t index = 0;
	if (!best_model(common, &m, &index))
		return -1; /* not even the x86-64 baseline */
	size_t used = (size_t)snprintf(out, out_len, "%s", models[index].name);
	for (unsigned w = 0; w < CPU_FEATURE_WORDS; w++) {
		uint32_t extra = common->words[w] & cpu_features_governed(w) & ~m.require[w];
		for (unsigned bit = 0; bit < 32 && used < out_len; bit++)
			if (extra & (1u << bit))
				used += (size_t)snprintf(out + used, out_len - used, ",+%s",
							 cpu_feature_name(w, bit));
	}
	return used < out_len ? 0 : -1;
}
