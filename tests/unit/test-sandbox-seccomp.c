/* The seccomp allow-lists, what goes through: each kind's real filter (sandbox_seccomp_load, as
 * the daemon loads it) in a forked child making the calls that kind makes (test-seccomp-fixture.h).
 * What kills is test-sandbox-seccomp-kills.c's. Under valgrind (which does not run seccomp
 * filters) the children are not run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/unit/test-seccomp-fixture.h"

#include "storage/mime-decode.h"

#include <errno.h>
#include <iconv.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>

static void expect_allowed(struct fixture *f, enum test_kind k, void (*fn)(struct fixture *f))
{
	char msg[512];
	int status = run_child(f, k, fn, msg, sizeof(msg));

	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("%s: %s%s", test_kind_names[k], msg,
		         WIFSIGNALED(status) ? (WTERMSIG(status) == SIGSYS
		                                    ? "killed by SIGSYS: a needed call is forbidden"
		                                    : "killed by a signal")
		                             : "");
}

/* ---- what each kind does ---- */

/* Every kind: the clock, sleeping, random bytes, memory without PROT_EXEC, descriptors it
 * has, signals to itself, reading limits, the host name. */
static void do_common(struct fixture *f)
{
	struct timespec ts = {.tv_nsec = 1000000};
	struct rlimit rl;
	struct utsname u;
	unsigned char rnd[16], c = 'x';
	size_t big = 4u << 20;
	char *p;

	CHECK(syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts) == 0);
	ts.tv_sec = 0;
	ts.tv_nsec = 1000000;
	CHECK(nanosleep(&ts, NULL) == 0);
	CHECK(getrandom(rnd, sizeof(rnd), 0) == sizeof(rnd));
	p = mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(p != MAP_FAILED);
	memset(p, 1, big);
	CHECK(madvise(p, big, MADV_DONTNEED) == 0);
	p = mremap(p, big, 2 * big, MREMAP_MAYMOVE);
	CHECK(p != MAP_FAILED);
	CHECK(mprotect(p, 4096, PROT_READ) == 0);
	CHECK(munmap(p, 2 * big) == 0);
	free(malloc(1u << 20)); /* glibc maps it */
	CHECK(write(f->pipe[1], &c, 1) == 1 && read(f->pipe[0], &c, 1) == 1);
	CHECK(fcntl(f->pipe[0], F_GETFL) >= 0 && fcntl(f->pipe[0], F_SETFD, FD_CLOEXEC) == 0);
	CHECK(kill(getpid(), 0) == 0);
	CHECK(syscall(SYS_tgkill, getpid(), gettid(), 0) == 0);
	CHECK(getrlimit(RLIMIT_STACK, &rl) == 0);
	CHECK(uname(&u) == 0);
	CHECK(sysconf(_SC_PHYS_PAGES) > 0); /* glibc's qsort of a big array asks */
	CHECK(getppid() > 0 && geteuid() == geteuid());
}

/* A maildir's or the store's files beneath a directory. */
static void do_files(struct fixture *f)
{
	struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_len = 1};
	char buf[8], ents[4096];
	int fd = openat(f->dirfd, "a", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	CHECK(fd >= 0);
	CHECK(pwrite(fd, "abc", 3, 0) == 3 && pread(fd, buf, 3, 0) == 3);
	CHECK(fsync(fd) == 0 && fdatasync(fd) == 0 && ftruncate(fd, 2) == 0);
	CHECK(fchmod(fd, 0640) == 0); /* SQLite: a journal gets its database's mode */
	CHECK(fcntl(fd, F_SETLK, &lk) == 0 && flock(fd, LOCK_EX) == 0);
	close(fd);
	CHECK(mkdirat(f->dirfd, "d", 0700) == 0);
	CHECK(renameat(f->dirfd, "a", f->dirfd, "d/b") == 0);
	CHECK(linkat(f->dirfd, "d/b", f->dirfd, "c", 0) == 0);
	CHECK(faccessat(f->dirfd, "c", F_OK, 0) == 0);
	CHECK(unlinkat(f->dirfd, "c", 0) == 0 && unlinkat(f->dirfd, "d/b", 0) == 0);
	CHECK(unlinkat(f->dirfd, "d", AT_REMOVEDIR) == 0);
	fd = openat(f->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(fd >= 0 && syscall(SYS_getdents64, fd, ents, sizeof(ents)) >= 0);
	close(fd);
}

/* IDLE's inotify watch, and the threads that measure new messages. */
static void do_session_extras(struct fixture *f)
{
	pthread_t t;
	void *ret = NULL;
	int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

	CHECK(in >= 0 && fchdir(f->dirfd) == 0);
	CHECK(inotify_add_watch(in, ".", IN_CREATE | IN_ONLYDIR) >= 0);
	close(in);
	CHECK(pthread_create(&t, NULL, thread_main, f) == 0);
	CHECK(pthread_join(t, &ret) == 0 && ret == f);
}

/* The IPC: messages with descriptors attached over a SEQPACKET pair. */
static void do_ipc(struct fixture *f)
{
	char data = 'q', cbuf[CMSG_SPACE(sizeof(int))] = {0}, got;
	struct iovec iov = {.iov_base = &data, .iov_len = 1};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &f->dirfd, sizeof(int));
	CHECK(sendmsg(f->pair[0], &mh, MSG_NOSIGNAL) == 1);
	iov.iov_base = &got;
	CHECK(recvmsg(f->pair[1], &mh, MSG_CMSG_CLOEXEC) == 1 && got == 'q');
	cm = CMSG_FIRSTHDR(&mh);
	CHECK(cm != NULL && cm->cmsg_type == SCM_RIGHTS);
	memcpy(&data, CMSG_DATA(cm), 1);
	close(*(int *)CMSG_DATA(cm));
}

/* Serving: an event loop, taking connections, checking a peer. */
static void do_serve(struct fixture *f)
{
	struct epoll_event ev = {.events = EPOLLIN};
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int ep = epoll_create1(EPOLL_CLOEXEC);

	CHECK(ep >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, f->listener, &ev) == 0);
	CHECK(epoll_wait(ep, &ev, 1, 0) == 0);
	close(ep);
	CHECK(accept4(f->listener, NULL, NULL, SOCK_CLOEXEC) < 0 && errno == EAGAIN);
	CHECK(getsockopt(f->pair[0], SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0);
}

/* A worker before login reaches the auth and key services. */
static void do_connect(struct fixture *f)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX, .sun_path = "\0twofold-test-nobody"};
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0);
	CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno == ECONNREFUSED);
	close(fd);
}

static void do_worker(struct fixture *f)
{
	do_common(f);
	do_ipc(f);
	do_serve(f);
	do_connect(f);
	do_files(f);
	do_session_extras(f);
}

static void do_session(struct fixture *f)
{
	do_common(f);
	do_ipc(f);
	do_files(f);
	do_session_extras(f);
	/* glibc's syslog() reconnecting: refused, not fatal */
	CHECK(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0) < 0 && errno == EACCES);
}

static void do_auth(struct fixture *f)
{
	int fd;

	do_common(f);
	do_ipc(f);
	do_serve(f);
	do_files(f);
	do_connect(f); /* a held login's notice to the notice process */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0); /* syslog() reconnecting */
	CHECK(fd >= 0);
	close(fd);
	/* it leaves with exit(), as the auth service does: the exit handlers, and in ASan builds
	 * LeakSanitizer's look at the whole process, run under the filter */
	exit(0);
}

/* Sign requests: the event loop, peers' credentials, random bytes (ECDSA); it leaves with
 * _exit() as the key process does. */
static void do_key(struct fixture *f)
{
	do_common(f);
	do_ipc(f);
	do_serve(f);
	/* glibc's syslog() reconnecting: refused, not fatal */
	CHECK(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0) < 0 && errno == EACCES);
}

static void *portal_thread_main(void *arg)
{
	struct fixture *f = arg;
	struct pollfd p = {.fd = f->pipe[0], .events = POLLIN};

	/* libmicrohttpd names its threads; a connection thread waits in poll */
	if (pthread_setname_np(pthread_self(), "MHD-connection") != 0 || poll(&p, 1, 0) != 0)
		return NULL;
	return arg;
}

/* libmicrohttpd's threads, woken by an eventfd; connections taken from the listener; requests
 * to the auth service and sign requests to the key process over AF_UNIX; SIGTERM taken by
 * sigwait. The zone file glibc looks for is refused, not fatal. */
static void do_portal(struct fixture *f)
{
	struct timespec zero = {0};
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	sigset_t set;
	pthread_t t;
	void *ret = NULL;
	int efd;

	do_common(f);
	do_ipc(f);
	do_connect(f);
	CHECK(accept4(f->listener, NULL, NULL, SOCK_CLOEXEC) < 0 && errno == EAGAIN);
	CHECK(getsockname(f->listener, (struct sockaddr *)&ss, &len) == 0);
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	CHECK(efd >= 0 && eventfd_write(efd, 1) == 0);
	close(efd);
	CHECK(pthread_create(&t, NULL, portal_thread_main, f) == 0);
	CHECK(pthread_join(t, &ret) == 0 && ret == f);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	CHECK(sigprocmask(SIG_BLOCK, &set, NULL) == 0);
	CHECK(sigtimedwait(&set, NULL, &zero) < 0 && errno == EAGAIN);
	CHECK(openat(AT_FDCWD, "/etc/localtime", O_RDONLY | O_CLOEXEC) < 0 && errno == EACCES);
}

/* An auth process's request on its socket with a maildir's fd: the INBOX's files and index,
 * the storage's threads; syslog() reconnecting is refused, not fatal. */
static void do_notice(struct fixture *f)
{
	struct pollfd p = {.fd = f->listener, .events = POLLIN};
	pthread_t t;
	void *ret = NULL;

	do_common(f);
	do_ipc(f);
	CHECK(poll(&p, 1, 0) == 0);
	CHECK(accept4(f->listener, NULL, NULL, SOCK_CLOEXEC) < 0 && errno == EAGAIN);
	do_files(f);
	CHECK(pthread_create(&t, NULL, thread_main, f) == 0);
	CHECK(pthread_join(t, &ret) == 0 && ret == f);
	CHECK(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0) < 0 && errno == EACCES);
}

/* The watch process: workers' requests with a mailbox directory's fd on its socket, its
 * inotify instance, the watches added from inside the directory (fchdir there and back) and
 * removed; syslog() reconnecting is refused, not fatal. */
static void do_watch(struct fixture *f)
{
	int in, wd;

	do_common(f);
	do_ipc(f);
	do_serve(f);
	in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	CHECK(in >= 0 && fchdir(f->dirfd) == 0);
	wd = inotify_add_watch(in, ".", IN_CREATE | IN_ONLYDIR | IN_DONT_FOLLOW);
	CHECK(wd >= 0 && inotify_rm_watch(in, wd) == 0 && fchdir(f->dirfd) == 0);
	close(in);
	CHECK(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0) < 0 && errno == EACCES);
}

static void test_worker_allowed(void **state)
{
	skip_under_valgrind();
	expect_allowed(*state, T_WORKER, do_worker);
}

static void test_session_allowed(void **state)
{
	skip_under_valgrind();
	expect_allowed(*state, T_SESSION, do_session);
}

static void test_auth_allowed(void **state)
{
	skip_under_valgrind();
	expect_allowed(*state, T_AUTH, do_auth);
}

static void test_key_allowed(void **state)
{
	skip_under_valgrind();
	expect_allowed(*state, T_KEY, do_key);
}

static void test_portal_allowed(void **state)
{
	skip_under_valgrind();
	expect_allowed(*state, T_PORTAL, do_portal);
}

static void test_notice_allowed(void **state)
{
	skip_under_valgrind();
	expect_allowed(*state, T_NOTICE, do_notice);
}

static void test_watch_allowed(void **state)
{
	skip_under_valgrind();
	expect_allowed(*state, T_WATCH, do_watch);
}

/* A charset conversion after login: iconv's module was loaded before the fork (as the master
 * does for its workers), since mapping it then would need PROT_EXEC. */
static void do_iconv(struct fixture *f)
{
	char in[] = "\xe8", out[8], *ip = in, *op = out;
	size_t ilen = 1, olen = sizeof(out);
	iconv_t cd = iconv_open("UTF-8", "ISO-8859-2");

	CHECK(cd != (iconv_t)-1);
	CHECK(iconv(cd, &ip, &ilen, &op, &olen) == 0 && memcmp(out, "\xc4\x8d", 2) == 0);
	iconv_close(cd);
}

static void test_preloaded_charsets_after_login(void **state)
{
	skip_under_valgrind();
	mime_charsets_preload();
	expect_allowed(*state, T_SESSION, do_iconv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_worker_allowed, test_seccomp_setup,
	                                    test_seccomp_teardown),
	    cmocka_unit_test_setup_teardown(test_session_allowed, test_seccomp_setup,
	                                    test_seccomp_teardown),
	    cmocka_unit_test_setup_teardown(test_auth_allowed, test_seccomp_setup,
	                                    test_seccomp_teardown),
	    cmocka_unit_test_setup_teardown(test_key_allowed, test_seccomp_setup,
	                                    test_seccomp_teardown),
	    cmocka_unit_test_setup_teardown(test_portal_allowed, test_seccomp_setup,
	                                    test_seccomp_teardown),
	    cmocka_unit_test_setup_teardown(test_notice_allowed, test_seccomp_setup,
	                                    test_seccomp_teardown),
	    cmocka_unit_test_setup_teardown(test_watch_allowed, test_seccomp_setup,
	                                    test_seccomp_teardown),
	    cmocka_unit_test_setup_teardown(test_preloaded_charsets_after_login, test_seccomp_setup,
	                                    test_seccomp_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
