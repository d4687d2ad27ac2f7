/* The `sqlite` auth store: logins held for the user's approval (auth/approval.h). */
#include "auth/store-sqlite-private.h"
#include "common/xalloc.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define APPROVAL_COLUMNS                                                                           \
	"id, user_id, proto, ip, client_id, created, expires, state, decided, preapprove"

static void approval_text(sqlite3_stmt *stmt, int col, char *out, size_t size)
{
	const unsigned char *t = sqlite3_column_text(stmt, col);

	snprintf(out, size, "%s", t != NULL ? (const char *)t : "");
}

static void approval_from_row(sqlite3_stmt *stmt, struct auth_approval *a)
{
	memset(a, 0, sizeof(*a));
	a->id = sqlite3_column_int64(stmt, 0);
	a->user_id = sqlite3_column_int64(stmt, 1);
	approval_text(stmt, 2, a->proto, sizeof(a->proto));
	approval_text(stmt, 3, a->ip, sizeof(a->ip));
	approval_text(stmt, 4, a->client_id, sizeof(a->client_id));
	a->created = sqlite3_column_int64(stmt, 5);
	a->expires = sqlite3_column_int64(stmt, 6);
	a->state = (enum auth_approval_state)sqlite3_column_int(stmt, 7);
	a->decided = sqlite3_column_int64(stmt, 8);
	a->preapprove = (unsigned)sqlite3_column_int(stmt, 9);
}

static int approval_recent(struct sqlite_store *s, int64_t user_id, time_t since, unsigned *count_r,
                           const char **error_r)
{
	sqlite3_stmt *stmt;
	int rc;

	*count_r = 0;
	if (store_prepare(s, "SELECT count(*) FROM approvals WHERE user_id = ? AND created >= ?",
	                  &stmt, error_r) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, user_id);
	sqlite3_bind_int64(stmt, 2, since);
	rc = store_step(s, stmt);
	if (rc == SQLITE_ROW)
		*count_r = (unsigned)sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	return rc == SQLITE_ROW ? 0 : store_fail(s, "count approvals", error_r);
}

/* One statement: two auth processes cannot both open a request for the same user. */
int sqlite_approval_open(struct auth_store *store, const struct auth_approval *a, time_t since,
                         unsigned max, int64_t *id_r, unsigned *recent_r, const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;
	int rc;

	*id_r = 0;
	if (store_prepare(s,
	                  "INSERT INTO approvals (user_id, proto, ip, client_id, created, expires) "
	                  "SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE NOT EXISTS (SELECT 1 FROM approvals "
	                  "WHERE user_id = ?1 AND state = 0 AND expires > ?5) AND (SELECT count(*) "
	                  "FROM approvals WHERE user_id = ?1 AND created >= ?7) < ?8",
	                  &stmt, error_r) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, a->user_id);
	bind_text(stmt, 2, a->proto);
	bind_text(stmt, 3, a->ip);
	bind_text(stmt, 4, a->client_id);
	sqlite3_bind_int64(stmt, 5, a->created);
	sqlite3_bind_int64(stmt, 6, a->expires);
	sqlite3_bind_int64(stmt, 7, since);
	sqlite3_bind_int64(stmt, 8, max);
	rc = store_run(s, stmt, error_r);
	if (rc < 0)
		return -1;
	if (rc == 1)
		*id_r = sqlite3_last_insert_rowid(s->db);
	if (approval_recent(s, a->user_id, since, recent_r, error_r) < 0)
		return -1;
	return rc == 1;
}

int sqlite_approval_get(struct auth_store *store, int64_t id, struct auth_approval *a_r,
                        const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;
	int rc;

	memset(a_r, 0, sizeof(*a_r));
	if (store_prepare(s, "SELECT " APPROVAL_COLUMNS " FROM approvals WHERE id = ?", &stmt,
	                  error_r) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, id);
	rc = store_step(s, stmt);
	if (rc == SQLITE_ROW)
		approval_from_row(stmt, a_r);
	sqlite3_finalize(stmt);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : store_fail(s, "read approval", error_r);
}

int sqlite_approval_list(struct auth_store *store, int64_t user_id, time_t now,
                         void (*cb)(const struct auth_approval *, void *), void *ctx,
                         const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;
	int rc;

	if (store_prepare(s,
	                  "SELECT " APPROVAL_COLUMNS " FROM approvals WHERE user_id = ? AND "
	                  "state = 0 AND expires > ? ORDER BY id",
	                  &stmt, error_r) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, user_id);
	sqlite3_bind_int64(stmt, 2, now);
	while ((rc = store_step(s, stmt)) == SQLITE_ROW) {
		struct auth_approval a;

		approval_from_row(stmt, &a);
		cb(&a, ctx);
	}
	sqlite3_finalize(stmt);
	return rc == SQLITE_DONE ? 1 : store_fail(s, "list approvals", error_r);
}

int sqlite_approval_decide(struct auth_store *store, int64_t user_id, int64_t id,
                           enum auth_approval_state state, unsigned preapprove, time_t now,
                           const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;
	int rc;

	if (store_prepare(s,
	                  "UPDATE approvals SET state = ?1, preapprove = ?2, decided = ?3 "
	                  "WHERE id = ?4 AND user_id = ?5 AND state = 0 AND expires > ?3",
	                  &stmt, error_r) < 0)
		return -1;
	sqlite3_bind_int(stmt, 1, (int)state);
	sqlite3_bind_int64(stmt, 2, preapprove);
	sqlite3_bind_int64(stmt, 3, now);
	sqlite3_bind_int64(stmt, 4, id);
	sqlite3_bind_int64(stmt, 5, user_id);
	rc = store_run(s, stmt, error_r);
	return rc < 0 ? -1 : rc == 1;
}
