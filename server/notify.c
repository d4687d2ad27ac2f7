#include "server/notify.h"

#include <stdio.h>
#include <time.h>

#ifdef TWOFOLD_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>

/* The environment is left in place: later states go to the same socket, and the children
 * cannot use it (NotifyAccess=main, the default of Type=notify, drops their messages). */
static void notify_send(const char *msg)
{
	sd_notify(0, msg);
}
#else
static void notify_send(const char *msg)
{
	(void)msg; /* built without libsystemd: a unit of Type=simple is installed instead */
}
#endif

void notify_ready(const char *status)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "READY=1\nSTATUS=%s", status);
	notify_send(msg);
}

void notify_reloading(void)
{
	struct timespec ts;
	char msg[128];

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
	         (unsigned long long)ts.tv_sec * 1000000ULL +
	             (unsigned long long)ts.tv_nsec / 1000);
	notify_send(msg);
}

void notify_stopping(void)
{
	notify_send("STOPPING=1");
}

void notify_status(const char *status)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "STATUS=%s", status);
	notify_send(msg);
}
