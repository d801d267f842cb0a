#include "cmd/run_args.h"

#include "vmm/config_devices.h"
#include "vmm/vm_snapshot.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

void run_args_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: gureum run [options]\n"
	    "\n"
	    "Boots a virtual machine.\n"
	    "\n"
	    "  --kernel FILE          Linux bzImage, vmlinux with a PVH note, or multiboot kernel\n"
	    "  --initrd FILE          initial ramdisk; for multiboot: \"mod1 args,mod2\"\n"
	    "  --name NAME            the VM's name, in log lines (\"gureum[NAME]: ...\") and\n"
	    "                         ctl status: letters, digits, '.', '_', '-'\n"
	    "  --cmdline TEXT         kernel command line (default: console=ttyS0)\n"
	    "  --bios FILE            boot a firmware image from the reset vector instead\n"
	    "  --cpus N[,max=M]       number of vCPUs, 1-255 (default 1); max=M leaves room to "
	    "add\n"
	    "                         vCPUs while it runs, up to M (gureum ctl SOCKET cpus N)\n"
	    "  --memory SIZE          guest RAM, e.g. 512M, 2G; plain numbers are MiB (default "
	    "256M)\n"
	    "  --accel NAME           CPU backend: kvm, emu or auto (default: kvm with hardware\n"
	    "                         virtualization, otherwise the software CPU emu)\n"
	    "  --cpu-model SPEC       host (default), a model (x86-64-v2, x86-64-v3, "
	    "intel-skylake,\n"
	    "                         amd-zen...; gureum cpu models) or MODEL,+FEAT,-FEAT: the\n"
	    "                         guest sees only these CPU features, so it can move to\n"
	    "                         any host that has them\n"
	    "  --tsc-khz N            the guest TSC's rate in kHz (default: the host's under\n"
	    "                         KVM, where another needs TSC scaling; 2 GHz on the\n"
	    "                         software CPU): one rate for a VM that moves between\n"
	    "                         hosts or accelerators\n"
	    "  --console KIND         stdio (default), file:PATH or none\n"
	    "  --console-socket PATH  also a unix socket (0600) where one client at a time\n"
	    "                         attaches to the console (gureum vm console); it is\n"
	    "                         shown the last 16 KiB of output first\n"
	    "  --debug-exit PORT[,iosize=1|2|4]\n"
	    "                         QEMU-compatible exit port(s): writing v exits with (v<<1)|1\n"
	    "  --on-reboot ACTION     restart (default) or exit when the guest reboots\n"
	    "  --stats                print exit counters and timings when the VM stops\n"
	    "  --seccomp on|off       system-call filters per thread kind (default on): a\n"
	    "                         forbidden call (a program started, a mount, a file\n"
	    "                         created by a vCPU thread...) ends the VM with a message\n"
	    "  --jail DIR             once the VM's files are open, the VMM's file system is\n"
	    "                         DIR alone (a mount namespace of its own, with /dev's\n"
	    "                         null, urandom, net/tun, kvm); later paths (a disk\n"
	    "                         added, a snapshot) are inside DIR; a guest reboot ends\n"
	    "                         the VMM with status 4 for its supervisor to start it\n"
	    "                         again; needs root\n"
	    "  --user UID[:GID]       then run as this uid and gid, without capabilities\n"
	    "\n"
	    "Paravirtual (virtio-pci) devices:\n"
	    "  --disk PATH[,readonly=on][,serial=ID][,format=raw|qcow2][,cache=none|writeback]\n"
	    "         [,overlay=on]   a virtio-blk disk; repeat for more disks (up to 16);\n"
	    "                         overlay=on: the VM writes to a new qcow2 overlay beside\n"
	    "                         PATH (PATH.ovlN.qcow2), PATH stays as it is\n"
	    "         [,bps=RATE][,bps-burst=SIZE][,iops=N][,iops-burst=N]\n"
	    "                         I/O limits: bytes (8M) and requests per second, each\n"
	    "                         with a burst (default: one second's worth); requests\n"
	    "                         beyond them wait, the guest sees no error; change them\n"
	    "                         while it runs: gureum ctl SOCKET disk-limit\n"
	    "  --net tap=NAME[,mac=52:54:00:xx:xx:xx][,vhost=auto|on|off][,queues=N]\n"
	    "                         a virtio-net card on a host tap device (queues=N: N\n"
	    "                         queue pairs on a multi-queue tap); repeat for more\n"
	    "  --net user[,net=CIDR][,hostfwd=tcp|udp:[ADDR]:PORT-:PORT]...\n"
	    "                         a card on a user-mode NAT (libslirp): no tap, no root\n"
	    "  --net switch=NAME,vlan=ID|trunk=ID:ID[,ip=ADDR][,rate=BYTES]\n"
	    "                         a port of a virtual switch (gureum net create NAME)\n"
	    "  --rng                  virtio-rng fed from the host's getrandom()\n"
	    "  --balloon              virtio-balloon (resize it through --api-socket)\n"
	    "  --balloon-size SIZE    balloon inflated to SIZE at boot (implies --balloon)\n"
	    "  --memory-hotplug SIZE  up to SIZE more RAM (a multiple of 128M) the guest can\n"
	    "                         be given and take back while it runs: virtio-mem\n"
	    "                         (gureum ctl SOCKET memory TOTAL)\n"
	    "  --vsock cid=N[,socket=PATH]\n"
	    "                         virtio-vsock, guest CID N (>= 3). With socket=: host\n"
	    "                         processes connect to the Unix socket PATH and say\n"
	    "                         \"CONNECT <port>\\n\"; the guest's connections to CID 2\n"
	    "                         port P go to PATH_P. Without: the host kernel's\n"
	    "                         vhost-vsock (/dev/vhost-vsock), AF_VSOCK to CID N\n"
	    "  --console-device DEV   serial (ttyS0, default) or virtio (hvc0) carries the "
	    "console\n"
	    "  --api-socket PATH      control socket for a running VM (gureum ctl PATH ...)\n"
	    "  --display vnc=ADDR:PORT|vnc=unix:PATH[,password=P][,websocket=[ADDR:]PORT]\n"
	    "            [,width=W,height=H][,adapter=efifb|bochs][,input=virtio|ps2]\n"
	    "                         a linear framebuffer (the guest's efifb; console=tty0\n"
	    "                         puts the console there) served over VNC; ADDR empty:\n"
	    "                         every interface, PORT 0: any free one (logged);\n"
	    "                         websocket=: a listener for browsers (noVNC);\n"
	    "                         1024x768 unless given; adapter=bochs: a PCI display\n"
	    "                         adapter whose mode the guest sets (DRM's bochs driver);\n"
	    "                         input=virtio (default): a virtio-input tablet and\n"
	    "                         keyboard, ps2: PS/2 keys only;\n"
	    "                         none (default): no framebuffer\n"
	    "  --config FILE          JSON object with the same keys (\"cpus\": 2, ...)\n"
	    "  --restore DIR          start from a snapshot (gureum ctl SOCKET snapshot DIR)\n"
	    "                         instead of booting; other options override its own\n"
	    "                         (--net here moves its cards, in order, to these taps)\n"
	    "  --incoming URI         wait on unix:PATH or tcp:HOST:PORT for a VM migrated\n"
	    "                         here (gureum ctl SOCKET migrate URI), then run it\n"
	    "  --help, --version\n"
	    "\n"
	    "Console keys (stdio on a terminal): Ctrl-A x quits, Ctrl-A h lists the keys.\n"
	    "Exit status: 0 guest powered off (or rebooted with --on-reboot exit), 1 error,\n"
	    "2 usage, 3 guest crashed, (v<<1)|1 written to the debug-exit port.\n");
}

/* Splits "--key=value" / "--key value"; returns the value or NULL when missing. */
static const char *option_value(int argc, char **argv, int *i, const char *arg, char *key,
				size_t key_len)
{
	const char *eq = strchr(arg, '=');
	size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
	if (n >= key_len)
		n = key_len - 1;
	memcpy(key, arg, n);
	key[n] = '\0';
	if (eq)
		return eq + 1;
	if (config_key_is_flag(key))
		return "true";
	if (*i + 1 >= argc)
		return NULL;
	return argv[++*i];
}

/* The value of `--name VALUE` or `--name=VALUE` at argv[i], or NULL when argv[i] is not that
 * option; *missing is set when the value is absent. */
static const char *named_value(int argc, char **argv, int i, const char *name, bool *missing)
{
	size_t n = strlen(name);
	if (strncmp(argv[i], name, n) != 0)
		return NULL;
	if (argv[i][n] == '=')
		return argv[i] + n + 1;
	if (argv[i][n] != '\0')
		return NULL;
	*missing = i + 1 >= argc;
	return *missing ? NULL : argv[i + 1];
}

/* --restore DIR: the snapshot's own configuration comes first, so that options given with it
 * (a new --api-socket, another --console) override it. */
static enum run_args_result apply_snapshot_config(int argc, char **argv, struct vm_config *config,
						  char *err, size_t err_len)
{
	for (int i = 1; i < argc; i++) {
		bool missing = false;
		const char *dir = named_value(argc, argv, i, "--restore", &missing);
		if (missing) {
			snprintf(err, err_len, "--restore needs a snapshot directory");
			return RUN_ARGS_ERROR;
		}
		if (!dir)
			continue;
		char path[4096];
		snprintf(path, sizeof(path), "%s/" SNAPSHOT_CONFIG_FILE, dir);
		if (access(path, R_OK) < 0) {
			snprintf(err, err_len,
				 "--restore: '%s' is not a snapshot (cannot read "
				 "its " SNAPSHOT_CONFIG_FILE
				 ": %s); make one with gureum ctl SOCKET snapshot DIR",
				 dir, strerror(errno));
			return RUN_ARGS_ERROR;
		}
		if (config_load_json(config, path, err, err_len) < 0 ||
		    config_replace_string(&config->restore_dir, dir) < 0)
			return RUN_ARGS_ERROR;
	}
	return RUN_ARGS_OK;
}

/* --incoming URI: the configuration arrives with the VM, so nothing is required here yet. */
static enum run_args_result note_incoming(int argc, char **argv, struct vm_config *config,
					  char *err, size_t err_len)
{
	for (int i = 1; i < argc; i++) {
		bool missing = false;
		const char *uri = named_value(argc, argv, i, "--incoming", &missing);
		if (missing) {
			snprintf(err, err_len, "--incoming needs unix:PATH or tcp:HOST:PORT");
			return RUN_ARGS_ERROR;
		}
		if (uri && config_replace_string(&config->incoming, uri) < 0)
			return RUN_ARGS_ERROR;
	}
	if (config->incoming && config->restore_dir) {
		snprintf(err, err_len, "--incoming and --restore exclude each other");
		return RUN_ARGS_ERROR;
	}
	return RUN_ARGS_OK;
}

static enum run_args_result apply_config_files(int argc, char **argv, struct vm_config *config,
					       char *err, size_t err_len)
{
	for (int i = 1; i < argc; i++) {
		const char *path = NULL;
		if (strcmp(argv[i], "--config") == 0) {
			if (i + 1 >= argc) {
				snprintf(err, err_len, "--config needs a file name");
				return RUN_ARGS_ERROR;
			}
			path = argv[i + 1];
		} else if (strncmp(argv[i], "--config=", 9) == 0) {
			path = argv[i] + 9;
		}
		if (path && config_load_json(config, path, err, err_len) < 0)
			return RUN_ARGS_ERROR;
	}
	return RUN_ARGS_OK;
}

enum run_args_result run_args_parse(int argc, char **argv, struct vm_config *config, char *err,
				    size_t err_len)
{
	err[0] = '\0';
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return RUN_ARGS_HELP;
		if (strcmp(argv[i], "--version") == 0)
			return RUN_ARGS_VERSION;
	}
	if (apply_snapshot_config(argc, argv, config, err, err_len) != RUN_ARGS_OK ||
	    note_incoming(argc, argv, config, err, err_len) != RUN_ARGS_OK ||
	    apply_config_files(argc, argv, config, err, err_len) != RUN_ARGS_OK)
		return RUN_ARGS_ERROR;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (strncmp(arg, "--", 2) != 0) {
			snprintf(err, err_len, "unexpected argument '%s' (options start with --)",
				 arg);
			return RUN_ARGS_ERROR;
		}
		char key[64];
		const char *value = option_value(argc, argv, &i, arg + 2, key, sizeof(key));
		if (strcmp(key, "config") == 0 || strcmp(key, "restore") == 0 ||
		    strcmp(key, "incoming") == 0)
			continue; /* applied above */
		/* The cards a restored or incoming VM came with, on this host's taps. */
		if ((config->restore_dir || config->incoming) && strcmp(key, "net") == 0)
			strcpy(key, "net-host");
		else if ((config->restore_dir || config->incoming) && config_key_repeats(key)) {
			snprintf(err, err_len,
				 "--%s cannot be added to a restored or incoming VM: it has the "
				 "devices it was saved with",
				 key);
			return RUN_ARGS_ERROR;
		}
		if (!config_key_known(key)) {
			snprintf(err, err_len, "unknown option '%s' (see gureum run --help)", arg);
			return RUN_ARGS_ERROR;
		}
		if (!value) {
			snprintf(err, err_len, "--%s needs a value", key);
			return RUN_ARGS_ERROR;
		}
		if (config_set(config, key, value, err, err_len) < 0)
			return RUN_ARGS_ERROR;
	}
	return RUN_ARGS_OK;
}
