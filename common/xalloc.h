/* Allocation that never returns NULL: failure is fatal. */
#ifndef TWOFOLD_XALLOC_H
#define TWOFOLD_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
/* realloc for an array, checking nmemb * size for overflow. */
void *xreallocarray(void *ptr, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Frees *ptr and sets it to NULL. */
void xfree(void *ptr_to_ptr);
/* Wipes len bytes (sodium_memzero), then frees. For secrets. */
void xfree_secret(void *ptr, size_t len);
/* Wipes a NUL-terminated string, frees it and sets *s to NULL. */
void xfree_secret_str(char **s);

#endif
