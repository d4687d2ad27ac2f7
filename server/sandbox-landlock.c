/*
 * Landlock (Linux 5.13+): a process restricts itself to the file hierarchies it names, and on
 * newer kernels also its TCP ports, abstract UNIX sockets and signals. The kernel interface is
 * written out here (Debian 12's linux/landlock.h stops at ABI 2); its values never change.
 * Rights the kernel does not know are left out of the ruleset, so one binary runs on each ABI.
 */
#include "server/sandbox.h"

#include "common/log.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule       445
#define SYS_landlock_restrict_self  446
#endif

#define LL_CREATE_RULESET_VERSION (1U << 0)
#define LL_RULE_PATH_BENEATH      1

/* File system rights, by the ABI that introduced them. */
#define LL_FS_EXECUTE     (1ULL << 0)
#define LL_FS_WRITE_FILE  (1ULL << 1)
#define LL_FS_READ_FILE   (1ULL << 2)
#define LL_FS_READ_DIR    (1ULL << 3)
#define LL_FS_REMOVE_DIR  (1ULL << 4)
#define LL_FS_REMOVE_FILE (1ULL << 5)
#define LL_FS_MAKE_CHAR   (1ULL << 6)
#define LL_FS_MAKE_DIR    (1ULL << 7)
#define LL_FS_MAKE_REG    (1ULL << 8)
#define LL_FS_MAKE_SOCK   (1ULL << 9)
#define LL_FS_MAKE_FIFO   (1ULL << 10)
#define LL_FS_MAKE_BLOCK  (1ULL << 11)
#define LL_FS_MAKE_SYM    (1ULL << 12)
#define LL_FS_REFER       (1ULL << 13) /* ABI 2 */
#define LL_FS_TRUNCATE    (1ULL << 14) /* ABI 3 */
#define LL_FS_IOCTL_DEV   (1ULL << 15) /* ABI 5 */

#define LL_NET_BIND_TCP    (1ULL << 0) /* ABI 4 */
#define LL_NET_CONNECT_TCP (1ULL << 1)

#define LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0) /* ABI 6 */
#define LL_SCOPE_SIGNAL               (1ULL << 1)

struct ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net; /* ABI 4 */
	uint64_t scoped;             /* ABI 6 */
};

struct ll_path_beneath_attr {
	uint64_t allowed_access;
	int32_t parent_fd;
} __attribute__((packed));

/* What a maildir needs: no execute, no special files, no symlinks (a link out of the tree is
 * what the confinement is there to prevent, and maildirs have no use for new ones). */
#define SANDBOX_MAILDIR_ACCESS                                                                     \
	(LL_FS_WRITE_FILE | LL_FS_READ_FILE | LL_FS_READ_DIR | LL_FS_REMOVE_DIR |                  \
	 LL_FS_REMOVE_FILE | LL_FS_MAKE_DIR | LL_FS_MAKE_REG | LL_FS_REFER | LL_FS_TRUNCATE)

static int sandbox_landlock_abi_cached = -1;

int sandbox_landlock_abi(void)
{
	long abi;

	if (sandbox_landlock_abi_cached >= 0)
		return sandbox_landlock_abi_cached;
	abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);
	sandbox_landlock_abi_cached = abi > 0 ? (int)abi : 0;
	return sandbox_landlock_abi_cached;
}

void sandbox_landlock_report(void)
{
	int abi = sandbox_landlock_abi();

	if (abi >= 2)
		log_info("sandbox: Landlock ABI %d: each worker is confined to its user's maildir "
		         "after login",
		         abi);
	else if (abi == 1)
		log_warn("sandbox: Landlock ABI 1 cannot allow renames between a maildir's "
		         "directories: workers are not confined by Landlock after login");
	else
		log_warn(
		    "sandbox: the kernel has no Landlock: workers are not confined by Landlock "
		    "after login (the storage still opens only beneath the maildir)");
}

/* The rights this kernel knows, of those the ruleset handles. */
static void sandbox_landlock_attr(int abi, struct ll_ruleset_attr *attr)
{
	memset(attr, 0, sizeof(*attr));
	attr->handled_access_fs = (LL_FS_MAKE_SYM << 1) - 1; /* ABI 1: bits 0..12 */
	if (abi >= 2)
		attr->handled_access_fs |= LL_FS_REFER;
	if (abi >= 3)
		attr->handled_access_fs |= LL_FS_TRUNCATE;
	if (abi >= 5)
		attr->handled_access_fs |= LL_FS_IOCTL_DEV;
	/* handled with no rule: every TCP bind and connect is refused */
	if (abi >= 4)
		attr->handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
	if (abi >= 6)
		attr->scoped = LL_SCOPE_ABSTRACT_UNIX_SOCKET | LL_SCOPE_SIGNAL;
}

static int sandbox_landlock_fail(const char *what, int fd, const char **error_r)
{
	static char buf[128];
	int err = errno;

	if (fd >= 0)
		close(fd);
	snprintf(buf, sizeof(buf), "landlock: %s: %s", what, strerror(err));
	*error_r = buf;
	return -1;
}

int sandbox_landlock_confine(int dirfd, const char **error_r)
{
	int abi = sandbox_landlock_abi();
	struct ll_ruleset_attr attr;
	struct ll_path_beneath_attr beneath;
	int fd;

	if (abi < 2)
		return 0;
	sandbox_landlock_attr(abi, &attr);
	fd = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
	if (fd < 0)
		return sandbox_landlock_fail("create_ruleset", -1, error_r);
	beneath.allowed_access = SANDBOX_MAILDIR_ACCESS & attr.handled_access_fs;
	beneath.parent_fd = dirfd;
	if (syscall(SYS_landlock_add_rule, fd, LL_RULE_PATH_BENEATH, &beneath, 0) < 0)
		return sandbox_landlock_fail("add_rule", fd, error_r);
	/* without it an unprivileged process may not restrict itself */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return sandbox_landlock_fail("no_new_privs", fd, error_r);
	if (syscall(SYS_landlock_restrict_self, fd, 0) < 0)
		return sandbox_landlock_fail("restrict_self", fd, error_r);
	close(fd);
	return 1;
}
