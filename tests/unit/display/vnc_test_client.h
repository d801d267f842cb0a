/* A libvncclient client for the tests that talk to gureum's VNC server. libvncclient leaves two
 * allocations to its caller: rfbGetClient's "" server host, which the caller replaces, and the
 * frame buffer its default MallocFrameBuffer makes, which rfbClientCleanup does not free (CI's
 * leak checks catch both). */
#ifndef GUREUM_TESTS_VNC_TEST_CLIENT_H
#define GUREUM_TESTS_VNC_TEST_CLIENT_H

#include <rfb/rfbclient.h>
#include <stdlib.h>
#include <string.h>

/* A client for HOST (a unix socket's path with port 0, or an address) and PORT, not yet
 * connected: set encodings and callbacks, then rfbInitClient. */
static inline rfbClient *vnc_test_client_new(const char *host, int port)
{
	rfbClient *rfb = rfbGetClient(8, 3, 4);
	free(rfb->serverHost); /* rfbGetClient's "" */
	rfb->serverHost = strdup(host);
	rfb->serverPort = port;
	return rfb;
}

/* Closes a client rfbInitClient connected (NULL: nothing). */
static inline void vnc_test_client_free(rfbClient *rfb)
{
	if (!rfb)
		return;
	free(rfb->frameBuffer); /* not rfbClientCleanup's */
	rfbClientCleanup(rfb);
}

#endif
