/*
 * SQLite's process-wide memory settings for a process that keeps a mailbox index open for a
 * long, mostly idle session (a worker: one IMAP or POP3 session at a time, an IMAP IDLE lasting
 * hours). What SQLite otherwise sets aside per connection and keeps until the connection closes
 * is, in such a process, memory every idle session holds. The same goes for the malloc arenas
 * of the threads a sync may start.
 */
#ifndef TWOFOLD_STORAGE_INDEX_MEMORY_H
#define TWOFOLD_STORAGE_INDEX_MEMORY_H

/* Applies the settings. The index calls it before it opens its first database (index.c): it
 * must run before the process first uses SQLite; later calls do nothing. 0 applied (now or
 * before), -1 too late: SQLite was already initialised in this process with its defaults
 * (*error_r says so; SQLite still works). */
int mail_index_memory_setup(const char **error_r);

#endif
