#include "vmm/config.h"

#include "vmm/config_devices.h"

#include "accel/accel.h"
#include "accel/cpu_models.h"
#include "lib/name_chars.h"
#include "lib/size.h"

#include <cpuid.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void config_init(struct vm_config *config)
{
	memset(config, 0, sizeof(*config));
	config->cpus = 1;
	config->max_cpus = 1;
	config->memory = 256ULL << 20;
	config->console = CONSOLE_STDIO;
	config->on_reboot = ON_REBOOT_RESTART;
	config->seccomp = true;
	config->debug_exit_iosize = DEBUG_EXIT_DEFAULT_IOSIZE;
	display_options_init(&config->display);
}

void config_free(struct vm_config *config)
{
	free(config->kernel);
	free(config->initrd);
	free(config->cmdline);
	free(config->bios);
	free(config->accel);
	free(config->cpu_model);
	for (unsigned i = 0; i < config->nr_net_hosts; i++)
		free(config->net_hosts[i]);
	free(config->console_path);
	for (unsigned i = 0; i < config->nr_disks; i++) {
		free(config->disks[i].path);
		free(config->disks[i].format);
	}
	for (unsigned i = 0; i < config->nr_nics; i++)
		free(config->nics[i].tap);
	free(config->api_socket);
	free(config->jail_dir);
	free(config->console_socket);
	free(config->name);
	free(config->vsock.socket);
	for (unsigned i = 0; i < config->nr_settings; i++) {
		free(config->settings[i].key);
		free(config->settings[i].value);
	}
	free(config->settings);
	free(config->restore_dir);
	free(config->incoming);
	memset(config, 0, sizeof(*config));
}

int config_replace_string(char **field, const char *value)
{
	char *copy = strdup(value);
	if (!copy)
		return -1;
	free(*field);
	*field = copy;
	return 0;
}

static int set_kernel(struct vm_config *c, const char *v, char *err, size_t len)
{
	(void)err, (void)len;
	return config_replace_string(&c->kernel, v);
}

static int set_initrd(struct vm_config *c, const char *v, char *err, size_t len)
{
	(void)err, (void)len;
	return config_replace_string(&c->initrd, v);
}

static int set_cmdline(struct vm_config *c, const char *v, char *err, size_t len)
{
	(void)err, (void)len;
	return config_replace_string(&c->cmdline, v);
}

static int set_bios(struct vm_config *c, const char *v, char *err, size_t len)
{
	(void)err, (void)len;
	return config_replace_string(&c->bios, v);
}

static int set_accel(struct vm_config *c, const char *v, char *err, size_t len)
{
	if (strcmp(v, "auto") != 0 && !accel_find(v)) {
		snprintf(err, len, "--accel: unknown accelerator '%s' (available: %s, auto)", v,
			 accel_names());
		return -1;
	}
	return config_replace_string(&c->accel, v);
}

static int set_cpu_model(struct vm_config *c, const char *v, char *err, size_t len)
{
	struct cpu_model model;
	if (strlen(v) >= CPU_MODEL_SPEC_MAX) {
		snprintf(err, len, "--cpu-model: longer than %d characters",
			 CPU_MODEL_SPEC_MAX - 1);
		return -1;
	}
	if (cpu_model_parse(v, &model, err, len) < 0)
		return -1;
	return config_replace_string(&c->cpu_model, v);
}

/* --cpus N[,max=M]: N vCPUs at boot, and room for M (hot-added later, gureum ctl cpus). */
static int set_cpus(struct vm_config *c, const char *v, char *err, size_t len)
{
	char count[16];
	const char *comma = strchr(v, ',');
	size_t count_len = comma ? (size_t)(comma - v) : strlen(v);
	uint64_t cpus, max = 0;
	bool count_ok = count_len < sizeof(count);
	if (count_ok) {
		memcpy(count, v, count_len);
		count[count_len] = '\0';
		count_ok = parse_uint(count, 1, CONFIG_MAX_CPUS, &cpus);
	}
	bool max_ok = !comma || (strncmp(comma + 1, "max=", 4) == 0 &&
				 parse_uint(comma + 5, 1, CONFIG_MAX_CPUS, &max));
	if (!count_ok || !max_ok) {
		snprintf(err, len,
			 "--cpus: '%s' is not N or N,max=M (vCPU counts from 1 to %d: N at boot, "
			 "up to M later)",
			 v, CONFIG_MAX_CPUS);
		return -1;
	}
	if (comma && max < cpus) {
		snprintf(err, len, "--cpus %s: max=%llu is below the %llu vCPUs at boot", v,
			 (unsigned long long)max, (unsigned long long)cpus);
		return -1;
	}
	c->cpus = (unsigned)cpus;
	c->max_cpus = comma ? (unsigned)max : (unsigned)cpus;
	c->cpu_hotplug = comma != NULL;
	return 0;
}

/* 1 MHz to 100 GHz: guest_clock's range, in kHz as KVM takes it. */
#define MIN_TSC_KHZ 1000
#define MAX_TSC_KHZ 100000000

static int set_tsc_khz(struct vm_config *c, const char *v, char *err, size_t len)
{
	if (!parse_uint(v, MIN_TSC_KHZ, MAX_TSC_KHZ, &c->tsc_khz)) {
		snprintf(err, len, "--tsc-khz: '%s' is not a rate in kHz from %d to %d", v,
			 MIN_TSC_KHZ, MAX_TSC_KHZ);
		return -1;
	}
	return 0;
}

/* The largest --memory-hotplug: a 1 TiB region fits every host's guest physical addresses. */
#define CONFIG_MAX_MEMORY_HOTPLUG (1ULL << 40)
#define CONFIG_MEMORY_BLOCK	  (128ULL << 20) /* Linux's x86 memory block */

static int set_memory_hotplug(struct vm_config *c, const char *v, char *err, size_t len)
{
	uint64_t bytes;
	if (!parse_size(v, true, &bytes) || bytes % CONFIG_MEMORY_BLOCK ||
	    bytes > CONFIG_MAX_MEMORY_HOTPLUG) {
		snprintf(err, len,
			 "--memory-hotplug: '%s' is not a multiple of 128M up to 1T (examples: "
			 "1G, 4G)",
			 v);
		return -1;
	}
	c->memory_hotplug = bytes;
	return 0;
}

static int set_memory(struct vm_config *c, const char *v, char *err, size_t len)
{
	uint64_t bytes;
	if (!parse_size(v, true, &bytes)) {
		snprintf(err, len,
			 "--memory: '%s' is not a size (examples: 512M, 2G; a plain number means "
			 "MiB)",
			 v);
		return -1;
	}
	if (bytes < CONFIG_MIN_MEMORY || bytes % 4096) {
		snprintf(err, len,
			 "--memory: %s is too small or not a multiple of 4 KiB (minimum %llu MiB)",
			 v, CONFIG_MIN_MEMORY >> 20);
		return -1;
	}
	c->memory = bytes;
	return 0;
}

static int set_console(struct vm_config *c, const char *v, char *err, size_t len)
{
	if (strcmp(v, "stdio") == 0) {
		c->console = CONSOLE_STDIO;
	} else if (strcmp(v, "none") == 0) {
		c->console = CONSOLE_NONE;
	} else if (strncmp(v, "file:", 5) == 0 && v[5] != '\0') {
		c->console = CONSOLE_FILE;
		return config_replace_string(&c->console_path, v + 5);
	} else {
		snprintf(err, len, "--console: '%s' is not stdio, none or file:PATH", v);
		return -1;
	}
	return 0;
}

int config_parse_bool(const char *v, bool *out)
{
	if (strcmp(v, "true") == 0 || strcmp(v, "on") == 0 || strcmp(v, "1") == 0)
		*out = true;
	else if (strcmp(v, "false") == 0 || strcmp(v, "off") == 0 || strcmp(v, "0") == 0)
		*out = false;
	else
		return -1;
	return 0;
}

static int set_stats(struct vm_config *c, const char *v, char *err, size_t len)
{
	if (config_parse_bool(v, &c->stats) < 0) {
		snprintf(err, len, "--stats: '%s' is not true or false", v);
		return -1;
	}
	return 0;
}

static int set_seccomp(struct vm_config *c, const char *v, char *err, size_t len)
{
	if (strcmp(v, "on") == 0)
		c->seccomp = true;
	else if (strcmp(v, "off") == 0)
		c->seccomp = false;
	else {
		snprintf(err, len, "--seccomp: '%s' is not on or off", v);
		return -1;
	}
	return 0;
}

static int set_on_reboot(struct vm_config *c, const char *v, char *err, size_t len)
{
	if (strcmp(v, "restart") == 0)
		c->on_reboot = ON_REBOOT_RESTART;
	else if (strcmp(v, "exit") == 0)
		c->on_reboot = ON_REBOOT_EXIT;
	else {
		snprintf(err, len, "--on-reboot: '%s' is not restart or exit", v);
		return -1;
	}
	return 0;
}

/* A name goes into log lines, socket and file names a host tool derives from it, and later a
 * host daemon's records: letters, digits, '.', '_' and '-', starting with a letter or digit. */
static int set_name(struct vm_config *c, const char *v, char *err, size_t len)
{
	size_t n = strlen(v);
	bool ok = n >= 1 && n <= CONFIG_NAME_MAX && isalnum((unsigned char)v[0]);
	for (size_t i = 0; ok && i < n; i++)
		ok = name_char(v[i]);
	if (!ok) {
		snprintf(
		    err, len,
		    "--name: '%s' is not a name: use 1 to %d letters, digits, '.', '_' or '-', "
		    "starting with a letter or digit",
		    v, CONFIG_NAME_MAX);
		return -1;
	}
	return config_replace_string(&c->name, v);
}

static int set_display(struct vm_config *c, const char *v, char *err, size_t len)
{
	return display_options_parse(&c->display, v, err, len);
}

static const struct {
	const char *key;
	option_setter set;
	bool flag;
	bool repeats;
} options[] = {
    {"name", set_name, false, false},
    {"kernel", set_kernel, false, false},
    {"initrd", set_initrd, false, false},
    {"cmdline", set_cmdline, false, false},
    {"bios", set_bios, false, false},
    {"accel", set_accel, false, false},
    {"cpus", set_cpus, false, false},
    {"cpu-model", set_cpu_model, false, false},
    {"tsc-khz", set_tsc_khz, false, false},
    {"memory", set_memory, false, false},
    {"memory-hotplug", set_memory_hotplug, false, false},
    {"console", set_console, false, false},
    {"console-socket", set_console_socket, false, false},
    {"debug-exit", set_debug_exit, false, false},
    {"stats", set_stats, true, false},
    {"on-reboot", set_on_reboot, false, false},
    {"seccomp", set_seccomp, false, false},
    {"jail", set_jail, false, false},
    {"user", set_user, false, false},
    {"disk", set_disk, false, true},
    {"net", set_net, false, true},
    {"net-host", set_net_host, false, true},
    {"rng", set_rng, true, false},
    {"balloon", set_balloon, true, false},
    {"balloon-size", set_balloon_size, false, false},
    {"vsock", set_vsock, false, false},
    {"console-device", set_console_device, false, false},
    {"api-socket", set_api_socket, false, false},
    {"display", set_display, false, false},
};

static int find_option(const char *key)
{
	for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++)
		if (strcmp(options[i].key, key) == 0)
			return (int)i;
	return -1;
}

bool config_key_known(const char *key)
{
	return find_option(key) >= 0;
}

bool config_key_repeats(const char *key)
{
	int i = find_option(key);
	return i >= 0 && options[i].repeats;
}

bool config_key_is_flag(const char *key)
{
	int i = find_option(key);
	return i >= 0 && options[i].flag;
}

/* Appends key=value to config->settings, or replaces the value of a single-valued key. */
static int remember_setting(struct vm_config *config, const char *key, const char *value,
			    bool repeats)
{
	char *copy = strdup(value);
	if (!copy)
		return -1;
	for (unsigned i = 0; !repeats && i < config->nr_settings; i++) {
		if (strcmp(config->settings[i].key, key) == 0) {
			free(config->settings[i].value);
			config->settings[i].value = copy;
			return 0;
		}
	}
	struct config_setting *grown =
	    realloc(config->settings, (config->nr_settings + 1) * sizeof(*grown));
	char *key_copy = strdup(key);
	if (grown)
		config->settings = grown;
	if (!grown || !key_copy) {
		free(copy);
		free(key_copy);
		return -1;
	}
	config->settings[config->nr_settings++] = (struct config_setting){key_copy, copy};
	return 0;
}

int config_rewrite_setting(struct vm_config *config, const char *key, unsigned index,
			   const char *value)
{
	for (unsigned i = 0, seen = 0; i < config->nr_settings; i++) {
		if (strcmp(config->settings[i].key, key) != 0 || seen++ != index)
			continue;
		char *copy = strdup(value);
		if (!copy)
			return -1;
		free(config->settings[i].value);
		config->settings[i].value = copy;
		return 0;
	}
	return 0;
}

/* Forgets the index-th setting of a repeated key. */
static void forget_setting(struct vm_config *config, const char *key, unsigned index)
{
	for (unsigned i = 0, seen = 0; i < config->nr_settings; i++) {
		if (strcmp(config->settings[i].key, key) != 0 || seen++ != index)
			continue;
		free(config->settings[i].key);
		free(config->settings[i].value);
		memmove(&config->settings[i], &config->settings[i + 1],
			(config->nr_settings - i - 1) * sizeof(config->settings[0]));
		config->nr_settings--;
		return;
	}
}

void config_remove_disk(struct vm_config *config, unsigned index)
{
	if (index >= config->nr_disks)
		return;
	free(config->disks[index].path);
	free(config->disks[index].format);
	memmove(&config->disks[index], &config->disks[index + 1],
		(config->nr_disks - index - 1) * sizeof(config->disks[0]));
	config->nr_disks--;
	memset(&config->disks[config->nr_disks], 0, sizeof(config->disks[0]));
	forget_setting(config, "disk", index);
}

void config_remove_nic(struct vm_config *config, unsigned index)
{
	if (index >= config->nr_nics)
		return;
	free(config->nics[index].tap);
	memmove(&config->nics[index], &config->nics[index + 1],
		(config->nr_nics - index - 1) * sizeof(config->nics[0]));
	config->nr_nics--;
	memset(&config->nics[config->nr_nics], 0, sizeof(config->nics[0]));
	forget_setting(config, "net", index);
}

int config_set(struct vm_config *config, const char *key, const char *value, char *err,
	       size_t err_len)
{
	int i = find_option(key);
	if (i < 0) {
		snprintf(err, err_len, "unknown option '%s'", key);
		return -1;
	}
	if (options[i].set(config, value, err, err_len) < 0 ||
	    remember_setting(config, key, value, options[i].repeats) < 0) {
		if (err[0] == '\0')
			snprintf(err, err_len, "--%s: out of memory", key);
		return -1;
	}
	return 0;
}

static int check_readable_file(const char *what, const char *path, char *err, size_t len)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		snprintf(err, len, "%s '%s': %s", what, path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, len, "%s '%s' is not a regular file", what, path);
		return -1;
	}
	if (access(path, R_OK) < 0) {
		snprintf(err, len, "%s '%s': %s", what, path, strerror(errno));
		return -1;
	}
	return 0;
}

static uint64_t host_memory_bytes(void)
{
	long pages = sysconf(_SC_PHYS_PAGES);
	long page_size = sysconf(_SC_PAGESIZE);
	return pages > 0 && page_size > 0 ? (uint64_t)pages * (uint64_t)page_size : UINT64_MAX;
}

/* Guest RAM continues above 4 GiB past a 1 GiB hole, and must end below the CPU's physical
 * address width (CPUID 0x80000008 EAX[7:0]). */
static uint64_t guest_ram_limit(void)
{
	unsigned eax, ebx, ecx, edx;
	unsigned bits = 36;
	if (__get_cpuid(0x80000000, &eax, &ebx, &ecx, &edx) && eax >= 0x80000008 &&
	    __get_cpuid(0x80000008, &eax, &ebx, &ecx, &edx))
		bits = eax & 0xff;
	if (bits < 36 || bits > 52)
		bits = 36;
	return (1ULL << bits) - (1ULL << 30);
}

bool config_memory_exceeds_host(const struct vm_config *c)
{
	return c->memory > host_memory_bytes();
}

int config_validate(const struct vm_config *c, char *err, size_t len)
{
	if (!c->kernel && !c->bios) {
		snprintf(err, len, "no guest to boot: give --kernel FILE (or --bios FILE)");
		return -1;
	}
	if (c->kernel && c->bios) {
		snprintf(err, len,
			 "--kernel and --bios exclude each other: choose one way to boot");
		return -1;
	}
	if (c->kernel && check_readable_file("kernel", c->kernel, err, len) < 0)
		return -1;
	if (c->bios && check_readable_file("bios", c->bios, err, len) < 0)
		return -1;
	/* A multiboot module list ("a.bin args,b.bin") is checked by the loader. */
	if (c->initrd && !strchr(c->initrd, ',') && !strchr(c->initrd, ' ') &&
	    check_readable_file("initrd", c->initrd, err, len) < 0)
		return -1;
	if (c->initrd && c->bios) {
		snprintf(err, len, "--initrd needs --kernel (firmware loads its own)");
		return -1;
	}
	if (validate_devices(c, err, len) < 0)
		return -1;
	/* RAM is reserved lazily, so a guest larger than the host is legitimate (it may never
	 * touch it all); one the CPU cannot even address is not. */
	uint64_t limit = guest_ram_limit();
	if (c->memory > limit) {
		snprintf(err, len,
			 "--memory %llu MiB is more than guest-physical addresses on this CPU can "
			 "hold (%llu MiB)",
			 (unsigned long long)(c->memory >> 20), (unsigned long long)(limit >> 20));
		return -1;
	}
	return 0;
}
