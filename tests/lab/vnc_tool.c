/* A VNC client for the display scenarios (vdisplay, vinput), on Debian's libvncclient:
 *   vnc-tool [--password P] [--encodings "tight zrle ..."] SERVER COMMAND [ARGS]
 * SERVER is HOST:PORT or a Unix socket's path. Commands:
 *   watch SECONDS   gets the first picture (and for a second whatever the client asks for
 *                   with it), prints "ready", then counts what comes for
 *                   SECONDS (or until N updates came): prints "updates N rects R pixels P
 *                   bytes B" (N FramebufferUpdate messages after the first picture; B the
 *                   bytes received meanwhile, from TCP_INFO: 0 on a Unix socket)
 *   latency N       after the first picture, N times: reads a line from stdin (the caller
 *                   makes the guest change its screen as it writes it) and prints the
 *                   milliseconds until the next update arrives ("latency-ms X"); 5 s without
 *                   one is "latency-ms none"
 *   drop            connects, asks for the picture, and resets the connection (RST) while
 *                   it comes: a viewer killed or a cable pulled
 *   garbage         after the handshake sends 4 KiB of random bytes; prints how the server
 *                   ended the connection
 *   huge            asks for a 65535x65535 update, far beyond the screen, and prints
 *                   "updates N" for what came back in 2 s
 *   type TEXT       types TEXT and Enter as a US keyboard's user would: X11 keysyms, with
 *                   Shift pressed around the characters that need it
 *   size SECONDS WxH  prints "first WxH" (the size the server announced), then follows the
 *                   server's size changes (NewFBSize) until the screen is WxH, and prints
 *                   "size WxH" (the last size seen, whether or not it is the one awaited)
 *   pointer X,Y,MASK ...  sends each pointer event in turn (MASK: RFB's buttons, 1 left,
 *                   2 middle, 4 right, 8/16 the wheel), 100 ms apart
 *   hold KEYSYM MS  presses the key of X11 keysym KEYSYM (hex: 0xffe1 is Shift_L) and
 *                   releases it MS milliseconds later, sending nothing in between
 * --wait SECONDS retries connecting that long (a client started before the server listens).
 * Exit status 0 when the command could be done, 1 otherwise (it says why). */
#include <errno.h>
#include <linux/tcp.h> /* its tcp_info has tcpi_bytes_received; glibc's has not */
#include <netinet/in.h>
#include <rfb/rfbclient.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct counts {
	unsigned messages, rects;
	unsigned long long pixels;
};

static struct counts counts;
static const char *password;

static void quiet(const char *fmt, ...)
{
	(void)fmt;
}

static void got_rect(rfbClient *c, int x, int y, int w, int h)
{
	(void)c, (void)x, (void)y;
	counts.rects++;
	counts.pixels += (unsigned long long)w * (unsigned long long)h;
}

static void got_message(rfbClient *c)
{
	(void)c;
	counts.messages++;
}

static char *get_password(rfbClient *c)
{
	(void)c;
	return strdup(password ? password : "");
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static rfbClient *connect_to(const char *server, const char *encodings)
{
	rfbClient *c = rfbGetClient(8, 3, 4);
	const char *colon = strrchr(server, ':');
	if (strchr(server, '/') || !colon) {
		c->serverHost = strdup(server);
	} else {
		c->serverHost = strndup(server, (size_t)(colon - server));
		c->serverPort = atoi(colon + 1);
	}
	c->appData.encodingsString = encodings;
	c->GotFrameBufferUpdate = got_rect;
	c->FinishedFrameBufferUpdate = got_message;
	c->GetPassword = get_password;
	if (!rfbInitClient(c, NULL, NULL)) {
		fprintf(stderr, "vnc-tool: cannot connect to %s (or the password was refused)\n",
			server);
		return NULL;
	}
	return c;
}

/* Handles messages until `seconds` passed or (stop_after) that many messages came. */
static bool pump(rfbClient *c, double seconds, unsigned stop_after)
{
	double until = now_s() + seconds;
	while (now_s() < until && counts.messages < stop_after) {
		int n = WaitForMessage(c, 50000);
		if (n < 0 || (n > 0 && !HandleRFBServerMessage(c))) {
			fprintf(stderr, "vnc-tool: the connection failed\n");
			return false;
		}
	}
	return true;
}

/* The bytes the connection has received so far (0 when the kernel cannot say: not TCP). */
static unsigned long long bytes_received(rfbClient *c)
{
	struct tcp_info info;
	socklen_t len = sizeof(info);
	if (getsockopt(c->sock, IPPROTO_TCP, TCP_INFO, &info, &len) < 0)
		return 0;
	return (unsigned long long)info.tcpi_bytes_received;
}

/* The first picture, and for a second what the client asked for with it. */
static bool first_picture(rfbClient *c)
{
	if (!pump(c, 30, 1) || counts.messages < 1) {
		fprintf(stderr, "vnc-tool: no first picture within 30 s\n");
		return false;
	}
	/* libvncclient asks for the whole picture once more when the server's first update
	 * tells it the desktop's size (ExtendedDesktopSize): let that pass too. */
	return pump(c, 1, UINT32_MAX);
}

static int watch(rfbClient *c, double seconds, unsigned stop_after)
{
	if (!first_picture(c))
		return 1;
	printf("ready\n");
	fflush(stdout);
	counts = (struct counts){0};
	unsigned long long before = bytes_received(c);
	if (!pump(c, seconds, stop_after))
		return 1;
	printf("updates %u rects %u pixels %llu bytes %llu\n", counts.messages, counts.rects,
	       counts.pixels, bytes_received(c) - before);
	return 0;
}

static int latency(rfbClient *c, unsigned rounds)
{
	if (!first_picture(c))
		return 1;
	printf("ready\n");
	fflush(stdout);
	char line[256];
	for (unsigned i = 0; i < rounds && fgets(line, sizeof(line), stdin); i++) {
		double start = now_s();
		unsigned before = counts.messages;
		if (!pump(c, 5, before + 1))
			return 1;
		if (counts.messages > before)
			printf("latency-ms %.1f\n", (now_s() - start) * 1000);
		else
			printf("latency-ms none\n");
		fflush(stdout);
		/* The rest of this change (fbcon draws a line in several strokes). */
		if (!pump(c, 0.5, UINT32_MAX))
			return 1;
	}
	return 0;
}

static int drop(rfbClient *c)
{
	/* rfbInitClient asked for the whole picture: leave while it streams in. */
	struct linger reset = {.l_onoff = 1, .l_linger = 0};
	setsockopt(c->sock, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
	close(c->sock);
	c->sock = RFB_INVALID_SOCKET;
	printf("dropped\n");
	return 0;
}

static int garbage(rfbClient *c)
{
	char junk[4096];
	srand((unsigned)time(NULL));
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (char)rand();
	junk[0] = (char)0xee; /* no such message type */
	ssize_t sent = send(c->sock, junk, sizeof(junk), MSG_NOSIGNAL);
	char buf[65536];
	double until = now_s() + 10;
	ssize_t n = 1;
	struct timeval tv = {.tv_sec = 1};
	setsockopt(c->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (n != 0 && now_s() < until) {
		n = recv(c->sock, buf, sizeof(buf), 0);
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			break;
	}
	printf("sent %zd bytes of garbage; the server %s\n", sent,
	       n == 0  ? "closed the connection"
	       : n < 0 ? "reset the connection"
		       : "kept it open");
	return n <= 0 ? 0 : 1;
}

static int huge(rfbClient *c)
{
	if (!pump(c, 30, 1))
		return 1;
	counts = (struct counts){0};
	if (!SendFramebufferUpdateRequest(c, 0, 0, 65535, 65535, FALSE)) {
		fprintf(stderr, "vnc-tool: cannot send the request\n");
		return 1;
	}
	if (!pump(c, 2, UINT32_MAX))
		return 1;
	printf("updates %u rects %u pixels %llu\n", counts.messages, counts.rects, counts.pixels);
	return 0;
}

/* US layout: the characters typed with Shift. */
static bool needs_shift(char c)
{
	return (c >= 'A' && c <= 'Z') || strchr("~!@#$%^&*()_+{}|:\"<>?", c);
}

static bool key(rfbClient *c, uint32_t keysym, bool down)
{
	return SendKeyEvent(c, keysym, down ? TRUE : FALSE);
}

#define XK_SHIFT_L 0xffe1
#define XK_RETURN  0xff0d

static int type(rfbClient *c, const char *text)
{
	bool ok = true;
	for (const char *p = text; *p && ok; p++) {
		bool shift = needs_shift(*p);
		ok = (!shift || key(c, XK_SHIFT_L, true)) && key(c, (unsigned char)*p, true) &&
		     key(c, (unsigned char)*p, false) && (!shift || key(c, XK_SHIFT_L, false));
	}
	ok = ok && key(c, XK_RETURN, true) && key(c, XK_RETURN, false);
	/* Let the server read them before the connection goes. */
	ok = ok && pump(c, 1, UINT32_MAX);
	printf("typed %zu characters and Enter\n", strlen(text));
	return ok ? 0 : 1;
}

static int size(rfbClient *c, double seconds, const char *want)
{
	printf("first %dx%d\n", c->width, c->height);
	fflush(stdout);
	char now[32] = "";
	double until = now_s() + seconds;
	while (now_s() < until) {
		snprintf(now, sizeof(now), "%dx%d", c->width, c->height);
		if (strcmp(now, want) == 0)
			break;
		if (!pump(c, 0.2, UINT32_MAX))
			return 1;
	}
	printf("size %s\n", now);
	return strcmp(now, want) == 0 ? 0 : 1;
}

static void sleep_ms(long ms)
{
	nanosleep(&(struct timespec){.tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000L}, NULL);
}

static int pointer(rfbClient *c, char **events, int n)
{
	for (int i = 0; i < n; i++) {
		int x, y, mask;
		if (sscanf(events[i], "%d,%d,%d", &x, &y, &mask) != 3) {
			fprintf(stderr, "vnc-tool: '%s' is not X,Y,MASK\n", events[i]);
			return 1;
		}
		if (!SendPointerEvent(c, x, y, mask))
			return 1;
		sleep_ms(100);
	}
	if (!pump(c, 1, UINT32_MAX))
		return 1;
	printf("sent %d pointer events\n", n);
	return 0;
}

static int hold(rfbClient *c, const char *keysym, long ms)
{
	uint32_t sym = (uint32_t)strtoul(keysym, NULL, 0);
	if (!key(c, sym, true))
		return 1;
	sleep_ms(ms);
	if (!key(c, sym, false) || !pump(c, 1, UINT32_MAX))
		return 1;
	printf("held 0x%x for %ld ms\n", sym, ms);
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: vnc-tool [--password P] [--encodings E] [--wait SECONDS] SERVER "
			"watch SECONDS [N]|latency N|drop|garbage|huge|type TEXT|size SECONDS WxH|"
			"pointer X,Y,MASK...|hold KEYSYM MS\n");
	return 1;
}

int main(int argc, char **argv)
{
	const char *encodings = "tight zrle hextile copyrect raw";
	double wait = 0;
	int i = 1;
	signal(SIGPIPE, SIG_IGN);
	rfbClientLog = quiet;
	for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
		if (strcmp(argv[i], "--password") == 0)
			password = argv[i + 1];
		else if (strcmp(argv[i], "--encodings") == 0)
			encodings = argv[i + 1];
		else if (strcmp(argv[i], "--wait") == 0)
			wait = atof(argv[i + 1]);
		else
			return usage();
	}
	if (argc - i < 2)
		return usage();
	const char *command = argv[i + 1];
	double give_up = now_s() + wait;
	rfbClient *c = connect_to(argv[i], encodings);
	while (!c && now_s() < give_up) {
		usleep(200000);
		c = connect_to(argv[i], encodings);
	}
	if (!c)
		return 1;
	int rc;
	if (strcmp(command, "watch") == 0 && (argc - i == 3 || argc - i == 4))
		rc = watch(c, atof(argv[i + 2]),
			   argc - i == 4 ? (unsigned)atoi(argv[i + 3]) : UINT32_MAX);
	else if (strcmp(command, "drop") == 0)
		rc = drop(c);
	else if (strcmp(command, "garbage") == 0)
		rc = garbage(c);
	else if (strcmp(command, "huge") == 0)
		rc = huge(c);
	else if (strcmp(command, "latency") == 0 && argc - i == 3)
		rc = latency(c, (unsigned)atoi(argv[i + 2]));
	else if (strcmp(command, "type") == 0 && argc - i == 3)
		rc = type(c, argv[i + 2]);
	else if (strcmp(command, "size") == 0 && argc - i == 4)
		rc = size(c, atof(argv[i + 2]), argv[i + 3]);
	else if (strcmp(command, "pointer") == 0 && argc - i >= 3)
		rc = pointer(c, argv + i + 2, argc - i - 2);
	else if (strcmp(command, "hold") == 0 && argc - i == 4)
		rc = hold(c, argv[i + 2], atol(argv[i + 3]));
	else
		rc = usage();
	rfbClientCleanup(c);
	return rc;
}
