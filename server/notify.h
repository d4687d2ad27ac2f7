/*
 * Telling the service manager how the daemon is doing (systemd's sd_notify protocol, for a unit
 * of Type=notify): ready once the services and the first workers can serve, reloading while a
 * SIGHUP is applied, stopping. Nothing happens when the daemon was not started by systemd (no
 * NOTIFY_SOCKET), or when it was built without libsystemd.
 */
#ifndef TWOFOLD_NOTIFY_H
#define TWOFOLD_NOTIFY_H

/* READY=1 with a STATUS= line. */
void notify_ready(const char *status);
/* RELOADING=1 (and the monotonic time systemd 253+ asks for). */
void notify_reloading(void);
/* STOPPING=1. */
void notify_stopping(void);
/* STATUS= alone: what a failing start was about, shown by `systemctl status`. */
void notify_status(const char *status);

#endif
