/*
 * Confinement beyond chroot and uid: what a process may still reach if an attacker runs code in
 * it. sandbox_landlock_* (server/sandbox-landlock.c) confines a worker after login to the
 * user's maildir with Landlock. Seccomp filters per process kind belong beside it, as
 * sandbox_seccomp_* in server/sandbox-seccomp.c.
 */
#ifndef TWOFOLD_SANDBOX_H
#define TWOFOLD_SANDBOX_H

/* The Landlock ABI version the kernel offers, 0 when it has none (too old, or disabled at
 * boot). Asked once per process; a forked child inherits the answer. */
int sandbox_landlock_abi(void);

/* In the master at start: says once in the log whether workers will be confined (info) or why
 * not (warning: an old kernel; the storage's RESOLVE_BENEATH opens still hold). */
void sandbox_landlock_report(void);

/* Confines the calling thread, and the threads and processes it starts afterwards (so call it
 * while the process has one thread), to the directory tree beneath dirfd: files and directories
 * there may be read, written, created, renamed, linked and removed; nothing else in the file
 * system can be opened or changed (EACCES), no symlink, device node, FIFO or socket file can be
 * made, nothing executed. Where the kernel has them, it can also neither bind nor connect a TCP
 * port (ABI 4), nor connect to an abstract UNIX socket or signal a process outside the
 * confinement (ABI 6). Sets no_new_privs. Cannot be undone: a second call only narrows.
 * 1 confined, 0 the kernel's Landlock cannot do it (below ABI 2, which a maildir needs for
 * renames between its directories; sandbox_landlock_report said so), -1 error (*error_r):
 * the process must not go on serving as if it were confined. */
int sandbox_landlock_confine(int dirfd, const char **error_r);

#endif
