#include "storage/bigarray.h"

#include "common/log.h"
#include "common/xalloc.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define BIG_ARRAY_HUGE ((size_t)2 << 20)

/* Before the array; 16 bytes keep its alignment that of malloc. */
struct big_head {
	size_t mapped; /* length of the mapping, 0 when malloc'd */
	size_t bytes;  /* asked for, head included */
};

static struct big_head *big_head_of(void *ptr)
{
	return (struct big_head *)ptr - 1;
}

static size_t big_round(size_t bytes)
{
	if (bytes > SIZE_MAX - BIG_ARRAY_HUGE)
		fatal("big array of %zu bytes", bytes);
	return (bytes + BIG_ARRAY_HUGE - 1) & ~(BIG_ARRAY_HUGE - 1);
}

static size_t big_bytes(size_t nmemb, size_t size)
{
	if (size != 0 && nmemb > (SIZE_MAX - sizeof(struct big_head)) / size)
		fatal("big array of %zu * %zu bytes", nmemb, size);
	return nmemb * size + sizeof(struct big_head);
}

static void big_advise(void *p, size_t len)
{
	/* only a wish: without huge pages the mapping works the same */
	(void)madvise(p, len, MADV_HUGEPAGE);
}

static struct big_head *big_map(size_t bytes)
{
	size_t len = big_round(bytes);
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		fatal("mmap of %zu bytes: %s", len, strerror(errno));
	big_advise(p, len);
	((struct big_head *)p)->mapped = len;
	((struct big_head *)p)->bytes = bytes;
	return p;
}

static struct big_head *big_remap(struct big_head *h, size_t bytes)
{
	size_t len = big_round(bytes);
	void *p;

	if (len <= h->mapped) {
		h->bytes = bytes;
		return h;
	}
	p = mremap(h, h->mapped, len, MREMAP_MAYMOVE);
	if (p == MAP_FAILED)
		fatal("mremap to %zu bytes: %s", len, strerror(errno));
	big_advise(p, len);
	((struct big_head *)p)->mapped = len;
	((struct big_head *)p)->bytes = bytes;
	return p;
}

void *big_array_realloc(void *ptr, size_t nmemb, size_t size)
{
	size_t bytes = big_bytes(nmemb, size);
	struct big_head *h = ptr == NULL ? NULL : big_head_of(ptr), *n;

	if (h != NULL && h->mapped != 0)
		return big_remap(h, bytes) + 1;
	if (bytes < BIG_ARRAY_MAP_MIN) {
		n = xrealloc(h, bytes);
		n->mapped = 0;
		n->bytes = bytes;
		return n + 1;
	}
	n = big_map(bytes);
	if (h != NULL) {
		memcpy(n + 1, h + 1, (h->bytes < bytes ? h->bytes : bytes) - sizeof(*h));
		free(h);
	}
	return n + 1;
}

void *big_array_zalloc(size_t nmemb, size_t size)
{
	size_t bytes = big_bytes(nmemb, size);
	struct big_head *h;

	if (bytes >= BIG_ARRAY_MAP_MIN)
		return big_map(bytes) + 1; /* a fresh mapping is zero */
	h = xcalloc(1, bytes);
	h->bytes = bytes;
	return h + 1;
}

void big_array_free(void *ptr_to_ptr)
{
	void **pp = ptr_to_ptr;
	struct big_head *h;

	if (*pp == NULL)
		return;
	h = big_head_of(*pp);
	if (h->mapped != 0)
		(void)munmap(h, h->mapped);
	else
		free(h);
	*pp = NULL;
}
