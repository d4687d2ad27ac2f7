/*
 * Which system call a seccomp filter refused, for the master's line about a child killed by
 * SIGSYS. The kernel names the call only in its audit record (type=1326, AUDIT_SECCOMP); with
 * no audit daemon to take it, the record goes to the kernel log, which the master (root) reads
 * from /dev/kmsg when a child has died of SIGSYS. Nothing is kept open: a child never inherits
 * a descriptor of the kernel log.
 */
#include "server/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define AUDIT_RECORD_MAX 8192 /* /dev/kmsg returns one record per read, at most this long */
#define AUDIT_WAIT_STEPS 20   /* the kernel's audit thread logs the record a little later: */
#define AUDIT_WAIT_STEP  10   /* ... so look again this many ms apart, this many times */

/* The value of the space-separated token "key=VALUE" in msg[0..len), or NULL; *vlen_r its
 * length. A token cannot be forged through comm= or exe=: the kernel writes those quoted
 * without spaces, or in hex when they hold a space, quote or control byte. */
static const char *sandbox_audit_field(const char *msg, size_t len, const char *key,
                                       size_t *vlen_r)
{
	size_t klen = strlen(key), i = 0;

	while (i < len) {
		size_t end = i;

		while (end < len && msg[end] != ' ')
			end++;
		if (end - i > klen && memcmp(msg + i, key, klen) == 0 && msg[i + klen] == '=') {
			*vlen_r = end - i - klen - 1;
			return msg + i + klen + 1;
		}
		i = end + 1;
	}
	return NULL;
}

/* A number as the kernel prints it: base 10 or 16, no sign, no prefix, no leading zero, at most
 * 19 digits (16 in hex). -1 if it is not one. */
static int sandbox_audit_number(const char *s, size_t len, int base, unsigned long long *v_r)
{
	unsigned long long v = 0;

	if (len == 0 || len > (base == 16 ? 16 : 19) || (len > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		int d = c >= '0' && c <= '9'   ? c - '0'
		        : base == 16 && c >= 'a' && c <= 'f' ? c - 'a' + 10
		                                               : -1;

		if (d < 0)
			return -1;
		v = v * (unsigned)base + (unsigned)d;
	}
	*v_r = v;
	return 0;
}

static int sandbox_audit_get(const char *msg, size_t len, const char *key, int base,
                             unsigned long long *v_r)
{
	size_t vlen;
	const char *v = sandbox_audit_field(msg, len, key, &vlen);

	return v != NULL ? sandbox_audit_number(v, vlen, base, v_r) : -1;
}

int sandbox_audit_parse(const char *rec, size_t len, long pid, uint32_t *arch_r, int *nr_r)
{
	const char *msg = memchr(rec, ';', len), *nl;
	unsigned long long type, rpid, arch, nr;
	size_t mlen;

	if (msg == NULL)
		return 0;
	msg++;
	mlen = len - (size_t)(msg - rec);
	nl = memchr(msg, '\n', mlen); /* continuation lines (" KEY=VALUE") are not the message */
	if (nl != NULL)
		mlen = (size_t)(nl - msg);
	if (mlen < 7 || memcmp(msg, "audit: ", 7) != 0)
		return 0;
	if (sandbox_audit_get(msg, mlen, "type", 10, &type) < 0 || type != 1326 ||
	    sandbox_audit_get(msg, mlen, "pid", 10, &rpid) < 0 || rpid != (unsigned long long)pid ||
	    sandbox_audit_get(msg, mlen, "arch", 16, &arch) < 0 || arch > UINT32_MAX ||
	    sandbox_audit_get(msg, mlen, "syscall", 10, &nr) < 0 || nr > INT32_MAX)
		return 0;
	*arch_r = (uint32_t)arch;
	*nr_r = (int)nr;
	return 1;
}

/* Reads what the kernel log holds from fd's position on; 1 when a record of pid was among it. */
static int sandbox_audit_scan(int fd, pid_t pid, uint32_t *arch_r, int *nr_r)
{
	char *rec = malloc(AUDIT_RECORD_MAX);
	int found = 0;
	ssize_t n;

	if (rec == NULL)
		return 0;
	/* EPIPE: records were overwritten before we read them; the next read goes on after them */
	while ((n = read(fd, rec, AUDIT_RECORD_MAX)) > 0 || (n < 0 && errno == EPIPE))
		if (n > 0 && sandbox_audit_parse(rec, (size_t)n, (long)pid, arch_r, nr_r) > 0)
			found = 1;
	free(rec);
	return found;
}

int sandbox_audit_find(pid_t pid, char *buf, size_t size)
{
	struct timespec step = {.tv_sec = 0, .tv_nsec = AUDIT_WAIT_STEP * 1000000L};
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	uint32_t arch = 0;
	int nr = -1, found = 0;
	char *name;

	if (fd < 0)
		return 0;
	for (int i = 0; i < AUDIT_WAIT_STEPS && !found; i++) {
		if (i > 0)
			nanosleep(&step, NULL);
		found = sandbox_audit_scan(fd, pid, &arch, &nr);
	}
	close(fd);
	if (!found)
		return 0;
	name = seccomp_syscall_resolve_num_arch(arch, nr);
	snprintf(buf, size, "%s (%d)", name != NULL ? name : "unknown", nr);
	free(name);
	return 1;
}
