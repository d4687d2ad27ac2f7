/*
 * Seccomp allow-lists, one per process kind, written with libseccomp. Each kind loads its list
 * once it is unprivileged and named, before it reads a byte from a peer; a system call that is
 * not on it kills the whole process with SIGSYS (SECCOMP_RET_KILL_PROCESS), which the master
 * logs. Filters stack and cannot be taken off: a worker loads the worker list at start and the
 * narrower logged-in list on top of it after login, so the worker list also holds what a
 * session needs after login (before login the empty chroot answers those file calls).
 *
 * The lists come from what each kind called over the whole integration suite under strace
 * (tests/seccomp/syscalls-by-kind), plus what the C library calls on paths the suite does not
 * take (abort, a log socket that went away, a clock without vDSO). Each group says why.
 */
#include "server/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#define __NR_landlock_add_rule       445
#define __NR_landlock_restrict_self  446
#endif

#if defined(__SANITIZE_ADDRESS__)
#define SECCOMP_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SECCOMP_SANITIZER 1
#endif
#endif

#define SECCOMP_END    (-1)
#define SOCK_TYPE_MASK 0xf /* socket()'s type without SOCK_NONBLOCK and SOCK_CLOEXEC */

/* ---- calls allowed whatever their arguments, in groups ---- */

/* What any process of ours does: end, return from a signal handler, restart a call a signal
 * interrupted, read the clock (the vDSO falls back to the system call on some clock sources),
 * sleep (failure delays), random bytes (TLS, libsodium), locks (glibc, SQLite), its ids and the
 * host name (SQLite, maildir file names), the machine's memory (glibc's qsort sizes its buffer
 * by it: sysinfo), what abort() does besides signalling itself. */
static const int seccomp_base[] = {
    SCMP_SYS(exit),          SCMP_SYS(exit_group),        SCMP_SYS(rt_sigreturn),
    SCMP_SYS(restart_syscall), SCMP_SYS(rt_sigprocmask),  SCMP_SYS(rt_sigaction),
    SCMP_SYS(clock_gettime), SCMP_SYS(clock_getres),      SCMP_SYS(gettimeofday),
    SCMP_SYS(time),          SCMP_SYS(clock_nanosleep),   SCMP_SYS(nanosleep),
    SCMP_SYS(getrandom),     SCMP_SYS(futex),             SCMP_SYS(sched_yield),
    SCMP_SYS(sched_getaffinity), SCMP_SYS(getpid),        SCMP_SYS(gettid),
    SCMP_SYS(getppid),       SCMP_SYS(getuid),            SCMP_SYS(geteuid),
    SCMP_SYS(getgid),        SCMP_SYS(getegid),           SCMP_SYS(uname),
    SCMP_SYS(sysinfo),       SECCOMP_END};

/* Descriptors already open: reading and writing them (the log on stderr, TLS records, IPC,
 * files), waiting on them, closing them. fcntl only with the commands in seccomp_rules_fcntl. */
static const int seccomp_io[] = {
    SCMP_SYS(read),  SCMP_SYS(write), SCMP_SYS(readv),      SCMP_SYS(writev),
    SCMP_SYS(close), SCMP_SYS(lseek), SCMP_SYS(fstat),      SCMP_SYS(newfstatat),
    SCMP_SYS(poll),  SCMP_SYS(ppoll), SECCOMP_END};

/* The event loops of the pre-login worker, auth and key services. */
static const int seccomp_epoll[] = {SCMP_SYS(epoll_create1), SCMP_SYS(epoll_ctl),
                                    SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait), SECCOMP_END};

/* Memory: malloc and its trim, SQLite's shared-memory WAL index, mapped message files, the
 * index's big arrays (mremap), the idle release of buffers and stack (madvise). mmap and
 * mprotect only without PROT_EXEC (seccomp_rules_memory). */
static const int seccomp_memory[] = {SCMP_SYS(brk), SCMP_SYS(munmap), SCMP_SYS(mremap),
                                     SCMP_SYS(madvise), SECCOMP_END};

/* Sockets already open: TLS records, the AF_UNIX IPC with descriptors attached, the peer's
 * credentials (the auth and key services check who connects), timeouts and TCP_NODELAY. */
static const int seccomp_sockets[] = {
    SCMP_SYS(recvfrom),   SCMP_SYS(recvmsg),    SCMP_SYS(sendto),      SCMP_SYS(sendmsg),
    SCMP_SYS(getsockopt), SCMP_SYS(setsockopt), SCMP_SYS(getsockname), SCMP_SYS(getpeername),
    SCMP_SYS(shutdown),   SECCOMP_END};

/* Serving: a worker takes connections from the listeners, a service from its AF_UNIX socket. */
static const int seccomp_accept[] = {SCMP_SYS(accept4), SECCOMP_END};

/* Reaching the auth and key services (AF_UNIX only: seccomp_rules_ipc_client), or the log
 * socket again when the log daemon restarted. */
static const int seccomp_connect[] = {SCMP_SYS(connect), SECCOMP_END};

/* Files beneath a directory: the maildir and its SQLite index (a worker after login), the auth
 * store, its journals and the paths of maildirs (auth). SQLite also looks for a hot journal
 * (access), links and unlinks by path, resolves symlinks in the store's path (readlink) and a
 * relative one against the working directory, gives a new journal the database's mode
 * (fchmod); IDLE's inotify watch is added from the directory (fchdir). */
static const int seccomp_files[] = {
    SCMP_SYS(openat),    SCMP_SYS(openat2),    SCMP_SYS(getdents64), SCMP_SYS(pread64),
    SCMP_SYS(pwrite64),  SCMP_SYS(fsync),      SCMP_SYS(fdatasync),  SCMP_SYS(ftruncate),
    SCMP_SYS(fallocate), SCMP_SYS(faccessat),  SCMP_SYS(faccessat2), SCMP_SYS(access),
    SCMP_SYS(mkdirat),   SCMP_SYS(mkdir),      SCMP_SYS(unlinkat),   SCMP_SYS(unlink),
    SCMP_SYS(renameat),  SCMP_SYS(renameat2),  SCMP_SYS(rename),     SCMP_SYS(linkat),
    SCMP_SYS(link),      SCMP_SYS(flock),      SCMP_SYS(fchdir),     SCMP_SYS(utimensat),
    SCMP_SYS(statx),     SCMP_SYS(readlink),   SCMP_SYS(readlinkat), SCMP_SYS(getcwd),
    SCMP_SYS(fchmod),    SECCOMP_END};

/* IDLE: the mailbox's new/ and cur/ watched with inotify. */
static const int seccomp_inotify[] = {SCMP_SYS(inotify_init1), SCMP_SYS(inotify_add_watch),
                                      SCMP_SYS(inotify_rm_watch), SECCOMP_END};

/* The watch process: its inotify instance (made again if the account's limit stopped it at
 * start) and the watches it adds from inside the directories workers hand it (fchdir) and
 * removes; it opens no file. */
static const int seccomp_watch[] = {SCMP_SYS(inotify_init1), SCMP_SYS(inotify_add_watch),
                                    SCMP_SYS(inotify_rm_watch), SCMP_SYS(fchdir), SECCOMP_END};

/* A worker's threads (the sizes of many new messages measured in parallel): what a thread does
 * to start and end, besides clone (seccomp_rules_threads) and its stack's mmap and mprotect. */
static const int seccomp_threads[] = {SCMP_SYS(set_robust_list), SCMP_SYS(rseq),
                                      SECCOMP_END};

/* The portal: libmicrohttpd's listening thread wakes its connection threads with an eventfd,
 * names each thread it starts (prctl PR_SET_NAME: seccomp_rules_portal), and the main thread
 * waits for SIGTERM with sigwait. */
static const int seccomp_portal[] = {SCMP_SYS(eventfd2), SCMP_SYS(rt_sigtimedwait),
                                     SECCOMP_END};

/* A worker confines itself further after login: Landlock, and the logged-in filter on top
 * (the seccomp() and prctl() calls that takes are in seccomp_rules_stack). Both only narrow. */
static const int seccomp_confine[] = {SCMP_SYS(landlock_create_ruleset),
                                      SCMP_SYS(landlock_add_rule),
                                      SCMP_SYS(landlock_restrict_self), SECCOMP_END};

#ifdef SECCOMP_SANITIZER
/* ASan+UBSan builds only (tests): the sanitizer runtime makes the older calls (open, getdents)
 * to read /proc/self when it reports or looks for leaks; LeakSanitizer at exit starts a tracer
 * (seccomp_rules_sanitizer) that stops the threads with ptrace and waits for them on an
 * alternate signal stack. */
static const int seccomp_sanitizer[] = {SCMP_SYS(sigaltstack), SCMP_SYS(ptrace),
                                        SCMP_SYS(wait4), SCMP_SYS(getdents), SECCOMP_END};
#endif

/* ---- calls allowed with some arguments only ---- */

struct seccomp_arg_rule {
	int nr;
	uint32_t action;
	unsigned count; /* of cmp */
	struct scmp_arg_cmp cmp[2];
};

#define SECCOMP_ARG(n, o, a)        {.arg = (n), .op = (o), .datum_a = (a)}
#define SECCOMP_ARG_MASK(n, m, v)   {.arg = (n), .op = SCMP_CMP_MASKED_EQ, .datum_a = (m), .datum_b = (v)}
#define SECCOMP_RULES_END           {.nr = SECCOMP_END}

/* No executable memory after start: shellcode cannot be mapped or made executable. */
static const struct seccomp_arg_rule seccomp_rules_memory[] = {
    {SCMP_SYS(mmap), SCMP_ACT_ALLOW, 1, {SECCOMP_ARG_MASK(2, PROT_EXEC, 0)}},
    {SCMP_SYS(mprotect), SCMP_ACT_ALLOW, 1, {SECCOMP_ARG_MASK(2, PROT_EXEC, 0)}},
    /* getrlimit (the stack's bound, for the idle release): reading, never setting */
    {SCMP_SYS(prlimit64), SCMP_ACT_ALLOW, 2, {SECCOMP_ARG(0, SCMP_CMP_EQ, 0),
                                              SECCOMP_ARG(2, SCMP_CMP_EQ, 0)}},
    SECCOMP_RULES_END};

/* What the code and SQLite do with fcntl: flags, close-on-exec, duplicates, POSIX locks. Not
 * F_SETOWN/F_SETSIG (a signal to another process), leases or pipe sizes. */
static const struct seccomp_arg_rule seccomp_rules_fcntl[] = {
    {SCMP_SYS(fcntl), SCMP_ACT_ALLOW, 1, {SECCOMP_ARG(1, SCMP_CMP_EQ, F_GETFD)}},
    {SCMP_SYS(fcntl), SCMP_ACT_ALLOW, 1, {SECCOMP_ARG(1, SCMP_CMP_EQ, F_SETFD)}},
    {SCMP_SYS(fcntl), SCMP_ACT_ALLOW, 1, {SECCOMP_ARG(1, SCMP_CMP_EQ, F_GETFL)}},
    {SCMP_SYS(fcntl), SCMP_ACT_ALLOW, 1, {SECCOMP_ARG(1, SCMP_CMP_EQ, F_SETFL)}},
    {SCMP_SYS(fcntl), SCMP_ACT_ALLOW, 1, {SECCOMP_ARG(1, SCMP_CMP_EQ, F_DUPFD_CLOEXEC)}},
    {SCMP_SYS(fcntl), SCMP_ACT_ALLOW, 1, {SECCOMP_ARG(1, SCMP_CMP_EQ, F_GETLK)}},
    {SCMP_SYS(fcntl), SCMP_ACT_ALLOW, 1, {SECCOMP_ARG(1, SCMP_CMP_EQ, F_SETLK)}},
    {SCMP_SYS(fcntl), SCMP_ACT_ALLOW, 1, {SECCOMP_ARG(1, SCMP_CMP_EQ, F_SETLKW)}},
    SECCOMP_RULES_END};

/* A worker asks the auth and key services over AF_UNIX SOCK_SEQPACKET (an auth process the
 * notice process, the portal both auth and key); glibc's syslog()
 * reconnects its AF_UNIX SOCK_DGRAM socket when the log daemon went away. Nothing else: no
 * TCP, no UDP, no netlink. */
static const struct seccomp_arg_rule seccomp_rules_ipc_client[] = {
    {SCMP_SYS(socket), SCMP_ACT_ALLOW, 2, {SECCOMP_ARG(0, SCMP_CMP_EQ, AF_UNIX),
                                           SECCOMP_ARG_MASK(1, SOCK_TYPE_MASK, SOCK_SEQPACKET)}},
    {SCMP_SYS(socket), SCMP_ACT_ALLOW, 2, {SECCOMP_ARG(0, SCMP_CMP_EQ, AF_UNIX),
                                           SECCOMP_ARG_MASK(1, SOCK_TYPE_MASK, SOCK_DGRAM)}},
    SECCOMP_RULES_END};

/* Chrooted kinds that connect nowhere (a worker after login, the key process): glibc's
 * syslog() opens a new socket for each line while the log daemon is away, which the chroot
 * could not reach anyway; it fails (EACCES) instead of killing the process over a log line. */
static const struct seccomp_arg_rule seccomp_rules_syslog_refused[] = {
    {SCMP_SYS(socket), SCMP_ACT_ERRNO(EACCES), 2,
     {SECCOMP_ARG(0, SCMP_CMP_EQ, AF_UNIX), SECCOMP_ARG_MASK(1, SOCK_TYPE_MASK, SOCK_DGRAM)}},
    SECCOMP_RULES_END};

/* pthread_create: a thread sharing everything, never a new process or namespace. glibc tries
 * clone3 first, whose flags sit in memory a filter cannot read: ENOSYS makes it use clone. */
#define SECCOMP_CLONE_CHECKED                                                                      \
	(CLONE_THREAD | CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_VFORK |          \
	 CLONE_PARENT | CLONE_PTRACE | CLONE_UNTRACED | CLONE_NEWNS | CLONE_NEWCGROUP |            \
	 CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_IO |    \
	 CLONE_PIDFD)
#define SECCOMP_CLONE_THREAD                                                                       \
	(CLONE_THREAD | CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND)

static const struct seccomp_arg_rule seccomp_rules_threads[] = {
    {SCMP_SYS(clone), SCMP_ACT_ALLOW, 1,
     {SECCOMP_ARG_MASK(0, SECCOMP_CLONE_CHECKED, SECCOMP_CLONE_THREAD)}},
    {SCMP_SYS(clone3), SCMP_ACT_ERRNO(ENOSYS), 0, {}},
    SECCOMP_RULES_END};

/* Loading the logged-in filter on top: libseccomp sets no_new_privs again (as Landlock does)
 * and installs it with seccomp(SECCOMP_SET_MODE_FILTER). */
static const struct seccomp_arg_rule seccomp_rules_stack[] = {
    {SCMP_SYS(prctl), SCMP_ACT_ALLOW, 1, {SECCOMP_ARG(0, SCMP_CMP_EQ, PR_SET_NO_NEW_PRIVS)}},
    {SCMP_SYS(seccomp), SCMP_ACT_ALLOW, 1,
     {SECCOMP_ARG(0, SCMP_CMP_EQ, SECCOMP_SET_MODE_FILTER)}},
    SECCOMP_RULES_END};

/* The portal's threads name themselves; its pages need no file: the one glibc opens (the
 * zone file, for the log's and pages' times) is refused and glibc uses UTC, as in the chroot. */
static const struct seccomp_arg_rule seccomp_rules_portal[] = {
    {SCMP_SYS(prctl), SCMP_ACT_ALLOW, 1, {SECCOMP_ARG(0, SCMP_CMP_EQ, PR_SET_NAME)}},
    {SCMP_SYS(openat), SCMP_ACT_ERRNO(EACCES), 0, {}},
    SECCOMP_RULES_END};

#ifdef SECCOMP_SANITIZER
/* LeakSanitizer's tracer: a process sharing the memory, untraced; the process lets it ptrace
 * it (dumpable for the while, PR_SET_PTRACER) and the tracer dies with it. */
static const struct seccomp_arg_rule seccomp_rules_sanitizer[] = {
    {SCMP_SYS(clone), SCMP_ACT_ALLOW, 1,
     {SECCOMP_ARG_MASK(0, SECCOMP_CLONE_CHECKED, CLONE_VM | CLONE_FS | CLONE_FILES |
                                                     CLONE_UNTRACED)}},
    {SCMP_SYS(prctl), SCMP_ACT_ALLOW, 1, {SECCOMP_ARG(0, SCMP_CMP_EQ, PR_GET_DUMPABLE)}},
    {SCMP_SYS(prctl), SCMP_ACT_ALLOW, 1, {SECCOMP_ARG(0, SCMP_CMP_EQ, PR_SET_DUMPABLE)}},
    {SCMP_SYS(prctl), SCMP_ACT_ALLOW, 1, {SECCOMP_ARG(0, SCMP_CMP_EQ, PR_SET_PTRACER)}},
    {SCMP_SYS(prctl), SCMP_ACT_ALLOW, 1, {SECCOMP_ARG(0, SCMP_CMP_EQ, PR_SET_PDEATHSIG)}},
    /* reading /proc/self/maps and the like */
    {SCMP_SYS(open), SCMP_ACT_ALLOW, 1, {SECCOMP_ARG_MASK(1, O_ACCMODE | O_CREAT, O_RDONLY)}},
    /* a report asks whether stderr is a terminal (colours) before each line */
    {SCMP_SYS(ioctl), SCMP_ACT_ALLOW, 1, {SECCOMP_ARG(1, SCMP_CMP_EQ, TCGETS)}},
    SECCOMP_RULES_END};
#endif

/* ---- the kinds ---- */

#define SECCOMP_GROUPS_MAX 12
#define SECCOMP_RULES_MAX  6

struct seccomp_kind {
	const char *name;
	const int *groups[SECCOMP_GROUPS_MAX];                    /* NULL-terminated */
	const struct seccomp_arg_rule *rules[SECCOMP_RULES_MAX]; /* NULL-terminated */
};

static const struct seccomp_kind seccomp_kinds[SANDBOX_KINDS] = {
    /* TLS handshakes (signed by the key process), the protocols before login, asking the auth
     * service; and, for the filter stacked at login, everything a session does */
    [SANDBOX_WORKER] = {"worker",
                        {seccomp_base, seccomp_io, seccomp_epoll, seccomp_memory,
                         seccomp_sockets, seccomp_accept, seccomp_connect, seccomp_files,
                         seccomp_inotify, seccomp_threads, seccomp_confine},
                        {seccomp_rules_memory, seccomp_rules_fcntl, seccomp_rules_ipc_client,
                         seccomp_rules_threads, seccomp_rules_stack}},
    /* one user's session beneath the maildir: no new connection, no socket, no listener */
    [SANDBOX_WORKER_SESSION] = {"worker after login",
                                {seccomp_base, seccomp_io, seccomp_memory, seccomp_sockets,
                                 seccomp_files, seccomp_inotify, seccomp_threads},
                                {seccomp_rules_memory, seccomp_rules_fcntl,
                                 seccomp_rules_syslog_refused, seccomp_rules_threads}},
    /* workers' requests over AF_UNIX, the store (SQLite), Argon2id (one thread), maildir paths,
     * a held login's notice handed to the notice process */
    [SANDBOX_AUTH] = {"auth",
                      {seccomp_base, seccomp_io, seccomp_epoll, seccomp_memory, seccomp_sockets,
                       seccomp_accept, seccomp_connect, seccomp_files},
                      {seccomp_rules_memory, seccomp_rules_fcntl, seccomp_rules_ipc_client}},
    /* sign requests of workers over AF_UNIX with the key it holds; chrooted, no files */
    [SANDBOX_KEY] = {"key",
                     {seccomp_base, seccomp_io, seccomp_epoll, seccomp_memory, seccomp_sockets,
                      seccomp_accept},
                     {seccomp_rules_memory, seccomp_rules_fcntl, seccomp_rules_syslog_refused}},
    /* HTTPS in a thread per connection (signed by the key process), the auth service asked
     * over AF_UNIX; chrooted, no files, no listener of its own, no process */
    [SANDBOX_PORTAL] = {"portal",
                        {seccomp_base, seccomp_io, seccomp_memory, seccomp_sockets,
                         seccomp_accept, seccomp_connect, seccomp_threads, seccomp_portal},
                        {seccomp_rules_memory, seccomp_rules_fcntl, seccomp_rules_ipc_client,
                         seccomp_rules_threads, seccomp_rules_portal}},
    /* requests of the auth processes on its AF_UNIX socket, each with a maildir's fd: a notice
     * saved into that INBOX or taken out (the storage, SQLite index, its threads); chrooted,
     * reaching nothing */
    [SANDBOX_NOTICE] = {"notice",
                        {seccomp_base, seccomp_io, seccomp_memory, seccomp_sockets,
                         seccomp_accept, seccomp_files, seccomp_threads},
                        {seccomp_rules_memory, seccomp_rules_fcntl, seccomp_rules_syslog_refused,
                         seccomp_rules_threads}},
    /* the workers' requests on its AF_UNIX socket, each with a mailbox directory's fd, one
     * inotify instance and wake-ups back; chrooted, no files, reaching nothing */
    [SANDBOX_WATCH] = {"watch",
                       {seccomp_base, seccomp_io, seccomp_epoll, seccomp_memory,
                        seccomp_sockets, seccomp_accept, seccomp_watch},
                       {seccomp_rules_memory, seccomp_rules_fcntl,
                        seccomp_rules_syslog_refused}},
};

static int seccomp_fail(const char *what, int rc, const char **error_r)
{
	static char buf[160];

	snprintf(buf, sizeof(buf), "seccomp: %s: %s", what, strerror(rc < 0 ? -rc : EINVAL));
	*error_r = buf;
	return -1;
}

static int seccomp_add_group(scmp_filter_ctx ctx, const int *calls)
{
	for (; *calls != SECCOMP_END; calls++) {
		int rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, *calls, 0);

		if (rc < 0)
			return rc;
	}
	return 0;
}

static int seccomp_add_rules(scmp_filter_ctx ctx, const struct seccomp_arg_rule *r)
{
	for (; r->nr != SECCOMP_END; r++) {
		int rc = seccomp_rule_add_array(ctx, r->action, r->nr, r->count, r->cmp);

		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Signals only to itself: abort() and raise(); never to another worker or service. */
static int seccomp_add_signal_self(scmp_filter_ctx ctx)
{
	const struct scmp_arg_cmp self[] = {
	    SECCOMP_ARG(0, SCMP_CMP_EQ, (scmp_datum_t)getpid())};
	int rc = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1, self);

	if (rc == 0)
		rc = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1, self);
	return rc;
}

static int seccomp_add_kind(scmp_filter_ctx ctx, const struct seccomp_kind *k)
{
	int rc = seccomp_add_signal_self(ctx);

	for (size_t i = 0; rc == 0 && k->groups[i] != NULL; i++)
		rc = seccomp_add_group(ctx, k->groups[i]);
	for (size_t i = 0; rc == 0 && k->rules[i] != NULL; i++)
		rc = seccomp_add_rules(ctx, k->rules[i]);
#ifdef SECCOMP_SANITIZER
	if (rc == 0)
		rc = seccomp_add_group(ctx, seccomp_sanitizer);
	if (rc == 0)
		rc = seccomp_add_rules(ctx, seccomp_rules_sanitizer);
#endif
	return rc;
}

/* A filter that kills the process on any other call, on any other architecture too (the
 * 32-bit entry points of an x86-64 kernel), checked in a binary tree of calls. */
static int seccomp_attrs(scmp_filter_ctx ctx)
{
	int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);

	if (rc == 0)
		rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	return rc;
}

const char *sandbox_seccomp_name(enum sandbox_kind kind)
{
	return seccomp_kinds[kind].name;
}

int sandbox_seccomp_load(enum sandbox_kind kind, const char **error_r)
{
	scmp_filter_ctx ctx;
	int rc;

	/* what the filter is not there for: a setuid program run from here gains nothing */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return seccomp_fail("no_new_privs", -errno, error_r);
	ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (ctx == NULL)
		return seccomp_fail("init", -ENOMEM, error_r);
	rc = seccomp_attrs(ctx);
	if (rc == 0)
		rc = seccomp_add_kind(ctx, &seccomp_kinds[kind]);
	if (rc < 0) {
		seccomp_release(ctx);
		return seccomp_fail("building the filter", rc, error_r);
	}
	rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc < 0)
		return seccomp_fail("loading the filter", rc, error_r);
	return 0;
}
