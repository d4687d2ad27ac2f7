#include "common/xalloc.h"
#include "common/log.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *check(void *p)
{
	if (p == NULL)
		fatal("out of memory");
	return p;
}

void *xmalloc(size_t size)
{
	return check(malloc(size == 0 ? 1 : size));
}

void *xcalloc(size_t nmemb, size_t size)
{
	return check(calloc(nmemb == 0 ? 1 : nmemb, size == 0 ? 1 : size));
}

void *xrealloc(void *ptr, size_t size)
{
	return check(realloc(ptr, size == 0 ? 1 : size));
}

void *xreallocarray(void *ptr, size_t nmemb, size_t size)
{
	if (size != 0 && nmemb > (size_t)-1 / size)
		fatal("allocation size overflow");
	return xrealloc(ptr, nmemb * size);
}

char *xstrdup(const char *s)
{
	return check(strdup(s));
}

/* s need not be NUL-terminated within n bytes (a token in a read buffer): memchr looks no
 * further than n, where strndup may be checked as reading a whole C string. */
char *xstrndup(const char *s, size_t n)
{
	const char *nul = memchr(s, '\0', n);
	size_t len = nul != NULL ? (size_t)(nul - s) : n;
	char *p = xmalloc(len + 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatal("out of memory");
	return s;
}

void xfree(void *ptr_to_ptr)
{
	void **pp = ptr_to_ptr;

	free(*pp);
	*pp = NULL;
}

void xfree_secret(void *ptr, size_t len)
{
	if (ptr == NULL)
		return;
	sodium_memzero(ptr, len);
	free(ptr);
}

void xfree_secret_str(char **s)
{
	if (*s == NULL)
		return;
	xfree_secret(*s, strlen(*s));
	*s = NULL;
}
