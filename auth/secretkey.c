#include "auth/secretkey.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECRETKEY_CONTEXT "twofold1"

enum secretkey_subkey {
	SUBKEY_SEAL = 1,
	SUBKEY_APPPASS,
	SUBKEY_RECOVERY,
	SUBKEY_GRACE,
	SUBKEY_WEBAUTHN,
};

static char secretkey_error[512];

static int secretkey_fail(const char **error_r, const char *path, const char *what)
{
	snprintf(secretkey_error, sizeof(secretkey_error), "key file %s: %s", path, what);
	*error_r = secretkey_error;
	return -1;
}

/* Writes a new key to a temporary file and links it into place: other processes starting at
 * the same moment see either no key or a complete one, never a partial file. */
static int secretkey_create(const char *path, const char **error_r)
{
	unsigned char key[SECRETKEY_LEN];
	char tmp[4096];
	ssize_t n;
	int fd, rc;

	if (access(path, F_OK) == 0)
		return 0;
	if (snprintf(tmp, sizeof(tmp), "%s.new.%ld", path, (long)getpid()) >= (int)sizeof(tmp))
		return secretkey_fail(error_r, path, "path too long");
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return secretkey_fail(error_r, path, strerror(errno));
	randombytes_buf(key, sizeof(key));
	n = write(fd, key, sizeof(key));
	sodium_memzero(key, sizeof(key));
	rc = n == (ssize_t)sizeof(key) && fsync(fd) == 0 ? 0 : -1;
	close(fd);
	if (rc == 0 && link(tmp, path) < 0 && errno != EEXIST)
		rc = -1;
	unlink(tmp);
	return rc == 0 ? 0 : secretkey_fail(error_r, path, "cannot create the key");
}

static int secretkey_check(int fd, const char *path, const char **error_r)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return secretkey_fail(error_r, path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return secretkey_fail(error_r, path, "not a regular file");
	if ((st.st_mode & 077) != 0) {
		snprintf(secretkey_error, sizeof(secretkey_error),
		         "key file %s is accessible by group or others (mode %04o): "
		         "refusing to use it, chmod 600 it",
		         path, (unsigned)(st.st_mode & 07777));
		*error_r = secretkey_error;
		return -1;
	}
	if (st.st_size != SECRETKEY_LEN)
		return secretkey_fail(error_r, path, "wrong size (expected 32 bytes)");
	return 0;
}

int secretkey_read_fd(int fd, unsigned char key[SECRETKEY_LEN])
{
	size_t got = 0;

	while (got < SECRETKEY_LEN) {
		ssize_t n = read(fd, key + got, SECRETKEY_LEN - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* truncated under us or an I/O error: leave no part of the key behind */
			sodium_memzero(key, SECRETKEY_LEN);
			return -1;
		}
		got += (size_t)n;
	}
	return 0;
}

static int secretkey_read(const char *path, unsigned char key[SECRETKEY_LEN], const char **error_r)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	int r;

	if (fd < 0)
		return secretkey_fail(error_r, path, strerror(errno));
	if (secretkey_check(fd, path, error_r) < 0) {
		close(fd);
		return -1;
	}
	r = secretkey_read_fd(fd, key);
	close(fd);
	if (r < 0)
		return secretkey_fail(error_r, path, "short read");
	return 0;
}

int secretkey_load(const char *path, struct secret_keys *keys_r, const char **error_r)
{
	unsigned char key[SECRETKEY_LEN];

	memset(keys_r, 0, sizeof(*keys_r));
	if (secretkey_create(path, error_r) < 0 || secretkey_read(path, key, error_r) < 0) {
		sodium_memzero(key, sizeof(key));
		return -1;
	}
	crypto_kdf_derive_from_key(keys_r->seal, sizeof(keys_r->seal), SUBKEY_SEAL,
	                           SECRETKEY_CONTEXT, key);
	crypto_kdf_derive_from_key(keys_r->apppass, sizeof(keys_r->apppass), SUBKEY_APPPASS,
	                           SECRETKEY_CONTEXT, key);
	crypto_kdf_derive_from_key(keys_r->recovery, sizeof(keys_r->recovery), SUBKEY_RECOVERY,
	                           SECRETKEY_CONTEXT, key);
	crypto_kdf_derive_from_key(keys_r->grace, sizeof(keys_r->grace), SUBKEY_GRACE,
	                           SECRETKEY_CONTEXT, key);
	crypto_kdf_derive_from_key(keys_r->webauthn, sizeof(keys_r->webauthn), SUBKEY_WEBAUTHN,
	                           SECRETKEY_CONTEXT, key);
	sodium_memzero(key, sizeof(key));
	return 0;
}

void secretkey_wipe(struct secret_keys *keys)
{
	sodium_memzero(keys, sizeof(*keys));
}
