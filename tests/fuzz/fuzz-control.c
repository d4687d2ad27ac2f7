/*
 * The master's control request reader (server/control.c) fed arbitrary bytes on a socket, as a
 * local client could send them: it answers with whole lines, ending in one "OK\tN" or being
 * one "ERR\t..." line. The pool is empty, so a kick signals nobody.
 */
#include "server/control.h"
#include "server/master-pool.h"
#include "server/scoreboard.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check(const char *answer, size_t len)
{
	const char *last;

	if (len == 0 || answer[len - 1] != '\n' || memchr(answer, '\0', len) != NULL)
		abort();
	last = len >= 2 ? memrchr(answer, '\n', len - 1) : NULL;
	last = last != NULL ? last + 1 : answer;
	if (strncmp(last, "OK\t", 3) != 0 && strncmp(last, "ERR\t", 4) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct scoreboard sb;
	static struct master_pool pool;
	static char answer[65536];
	ssize_t n, got = 0;
	int sv[2];

	if (sb.slots == NULL) {
		if (scoreboard_init(&sb, 4) < 0)
			abort();
		master_pool_init(&pool, 4);
	}
	if (size > 4096 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return 0;
	if (size > 0 && write(sv[0], data, size) != (ssize_t)size)
		abort();
	shutdown(sv[0], SHUT_WR);
	control_handle(sv[1], &sb, &pool);
	close(sv[1]);
	while ((n = read(sv[0], answer + got, sizeof(answer) - (size_t)got)) > 0)
		got += n;
	close(sv[0]);
	fuzz_check(answer, (size_t)got);
	return 0;
}
