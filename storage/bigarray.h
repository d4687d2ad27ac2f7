/* Arrays of a sync that can grow large (a listing of 100k entries, its sort keys and lists,
 * the view). Page faults are a good part of a first sync of a big maildir: above
 * BIG_ARRAY_MAP_MIN bytes an array gets an anonymous mapping of its own with transparent huge
 * pages asked for (one fault per 2 MiB instead of per 4 KiB where the system grants them) that
 * grows with mremap (pages moved, not copied and faulted in again); smaller ones are malloc'd.
 * Memory from big_array_realloc is only resized and freed by these functions. */
#ifndef TWOFOLD_STORAGE_BIGARRAY_H
#define TWOFOLD_STORAGE_BIGARRAY_H

#include <stddef.h>

#define BIG_ARRAY_MAP_MIN ((size_t)2 << 20)

/* Resizes ptr (NULL or from these functions) to nmemb * size bytes (overflow checked; never
 * NULL). Contents kept up to the smaller size; bytes beyond are undefined. */
void *big_array_realloc(void *ptr, size_t nmemb, size_t size);
/* A new array of zero bytes. */
void *big_array_zalloc(size_t nmemb, size_t size);
/* Frees *ptr_to_ptr and sets it to NULL. */
void big_array_free(void *ptr_to_ptr);

#endif
