/*
 * A kernel log record as the master reads it from /dev/kmsg when a child died of SIGSYS: any
 * bytes, not terminated. Checks that the parse never reads outside them, and that a record it
 * accepts for a pid really carries the audit fields it reported.
 */
#include "server/sandbox.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* True when "key=value" (value as the parse reports it) is in rec[0..len) as a whole token. */
static int has_token(const char *rec, size_t len, const char *token)
{
	size_t tlen = strlen(token);

	for (size_t i = 0; i + tlen <= len; i++)
		if ((i == 0 || rec[i - 1] == ' ') && memcmp(rec + i, token, tlen) == 0 &&
		    (i + tlen == len || rec[i + tlen] == ' ' || rec[i + tlen] == '\n'))
			return 1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *rec = malloc(size > 0 ? size : 1), token[48];
	uint32_t arch;
	int nr;

	memcpy(rec, data, size);
	for (long pid = 0; pid < 3; pid++) {
		long want = pid == 2 ? 8140 : pid;

		if (sandbox_audit_parse(rec, size, want, &arch, &nr) != 1)
			continue;
		snprintf(token, sizeof(token), "syscall=%d", nr);
		if (!has_token(rec, size, token))
			abort();
		snprintf(token, sizeof(token), "pid=%ld", want);
		if (!has_token(rec, size, token))
			abort();
	}
	free(rec);
	return 0;
}
