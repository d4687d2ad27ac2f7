/*
 * Maildir++ folders. The wire name (modified UTF-7, RFC 3501 5.1.3; hierarchy separator '.')
 * "a.b" is the directory ".a.b" beneath the maildir root; "INBOX" in any case is the root
 * itself, and a first level spelled "inbox" in any case is made "INBOX". A name is checked
 * before it becomes a path, so no name reaches outside the maildir: no '/', no empty level
 * (hence no ".." and no leading or trailing '.'), printable ASCII only, valid modified UTF-7,
 * no LIST wildcards.
 * Files in the root: "subscriptions" (one wire name a line, replaced atomically under an
 * flock of the root directory) and "twofold.folders" (marks that the special-use folders were
 * created once, so that a folder the user deletes is not created again).
 */
#include "storage/storage-private.h"
#include "storage/beneath.h"

#include "common/log.h"
#include "common/text.h"
#include "common/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define FOLDER_NAME_MAX   200
#define FOLDER_MARKER     "twofold.folders"
#define FOLDER_SUBS       "subscriptions"
#define FOLDER_SUBS_TMP   "subscriptions.tmp"
#define FOLDER_SUBS_MAX   (256 * 1024)
#define FOLDER_DIR_FLAGS  (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
#define FOLDER_TREE_DEPTH 4

static const struct {
	const char *name;
	unsigned special;
} folder_specials[] = {
    {"Sent", MAILBOX_SPECIAL_SENT},       {"Drafts", MAILBOX_SPECIAL_DRAFTS},
    {"Trash", MAILBOX_SPECIAL_TRASH},     {"Junk", MAILBOX_SPECIAL_JUNK},
    {"Archive", MAILBOX_SPECIAL_ARCHIVE},
};

/* ---- names ---- */

/* One UTF-16 unit of a shift sequence; *high carries a pending high surrogate. */
static bool mutf7_unit(uint32_t u, uint32_t *high)
{
	if (*high != 0) {
		*high = 0;
		return u >= 0xdc00 && u <= 0xdfff;
	}
	if (u >= 0xd800 && u <= 0xdbff) {
		*high = u;
		return true;
	}
	/* ASCII must be written directly (and controls are no names) */
	return u >= 0x80 && !(u >= 0xdc00 && u <= 0xdfff);
}

/* A shift sequence after '&' up to and including '-'. NULL when invalid. */
static const char *mutf7_shift(const char *p)
{
	uint32_t bits = 0, high = 0;
	unsigned nbits = 0, units = 0;
	int v;

	for (; *p != '-'; p++) {
		if ((v = text_base64_value(*p, '+', ',')) < 0)
			return NULL;
		bits = (bits << 6) | (uint32_t)v;
		nbits += 6;
		if (nbits >= 16) {
			nbits -= 16;
			if (!mutf7_unit((bits >> nbits) & 0xffff, &high))
				return NULL;
			units++;
		}
		bits &= (1u << nbits) - 1;
	}
	if (units == 0 || high != 0 || nbits >= 6 || bits != 0)
		return NULL;
	return p + 1;
}

static bool mutf7_valid(const char *p)
{
	while (*p != '\0') {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c > 0x7e)
			return false;
		if (c != '&')
			p++;
		else if (p[1] == '-')
			p += 2;
		else if ((p = mutf7_shift(p + 1)) == NULL)
			return false;
	}
	return true;
}

static bool folder_name_valid(const char *name, const char **error_r)
{
	size_t len = strlen(name);

	if (len == 0 || len > FOLDER_NAME_MAX || name[0] == '.' || name[len - 1] == '.' ||
	    strstr(name, "..") != NULL || strpbrk(name, "/*%") != NULL) {
		*error_r = "invalid mailbox name";
		return false;
	}
	if (!mutf7_valid(name)) {
		*error_r = "mailbox name is not valid modified UTF-7";
		return false;
	}
	return true;
}

static bool folder_is_inbox(const char *name)
{
	return strcasecmp(name, "INBOX") == 0;
}

char *folder_canonical_name(const char *name)
{
	if (strncasecmp(name, "INBOX", 5) == 0 && (name[5] == '\0' || name[5] == '.'))
		return xasprintf("INBOX%s", name + 5);
	return xstrdup(name);
}

char *folder_dir_name(const char *name, const char **error_r)
{
	char *canonical, *dir;

	if (folder_is_inbox(name))
		return xstrdup(".");
	if (!folder_name_valid(name, error_r))
		return NULL;
	canonical = folder_canonical_name(name);
	dir = xasprintf(".%s", canonical);
	xfree(&canonical);
	return dir;
}

static unsigned folder_special(const char *name)
{
	for (size_t i = 0; i < sizeof(folder_specials) / sizeof(folder_specials[0]); i++) {
		if (strcmp(folder_specials[i].name, name) == 0)
			return folder_specials[i].special;
	}
	return MAILBOX_SPECIAL_NONE;
}

static int folder_sys_error(const char *what, const char *name, const char **error_r)
{
	int err = errno;

	log_error("storage: %s %s: %s", what, log_quote(name), strerror(err));
	*error_r = err == ENOSPC || err == EDQUOT ? mail_error_nospace : "mailbox access error";
	return -1;
}

/* ---- directory listing of the root ---- */

struct name_list {
	char **names;
	size_t count, cap;
};

static void name_list_add(struct name_list *l, const char *name)
{
	if (l->count == l->cap) {
		l->cap = l->cap == 0 ? 16 : l->cap * 2;
		l->names = xreallocarray(l->names, l->cap, sizeof(*l->names));
	}
	l->names[l->count++] = xstrdup(name);
}

static bool name_list_has(const struct name_list *l, const char *name)
{
	for (size_t i = 0; i < l->count; i++) {
		if (strcmp(l->names[i], name) == 0)
			return true;
	}
	return false;
}

static void name_list_free(struct name_list *l)
{
	for (size_t i = 0; i < l->count; i++)
		xfree(&l->names[i]);
	xfree(&l->names);
	l->count = l->cap = 0;
}

static bool folder_entry_is_dir(int dirfd, const struct dirent *d)
{
	struct stat st;

	if (d->d_type != DT_UNKNOWN)
		return d->d_type == DT_DIR;
	return beneath_stat(dirfd, d->d_name, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The wire names of all folder directories (not INBOX). */
static int folder_scan(struct mail_storage *st, struct name_list *out, const char **error_r)
{
	DIR *dir = beneath_opendir(st->dirfd, ".");
	const char *ignored;
	struct dirent *d;

	memset(out, 0, sizeof(*out));
	if (dir == NULL)
		return folder_sys_error("opendir", "maildir", error_r);
	while ((d = readdir(dir)) != NULL) {
		const char *name = d->d_name + 1;

		if (d->d_name[0] != '.' || folder_is_inbox(name) ||
		    !folder_name_valid(name, &ignored) || !folder_entry_is_dir(dirfd(dir), d))
			continue;
		name_list_add(out, name);
	}
	closedir(dir);
	return 0;
}

/* ---- subscriptions ---- */

static int subs_read(struct mail_storage *st, struct name_list *out, const char **error_r)
{
	int fd = beneath_open(st->dirfd, FOLDER_SUBS, O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0);
	char *text, *line, *save = NULL;
	ssize_t n;

	memset(out, 0, sizeof(*out));
	if (fd < 0)
		return errno == ENOENT ? 0 : folder_sys_error("open", FOLDER_SUBS, error_r);
	text = xmalloc(FOLDER_SUBS_MAX + 1);
	n = read(fd, text, FOLDER_SUBS_MAX);
	close(fd);
	if (n < 0) {
		xfree(&text);
		return folder_sys_error("read", FOLDER_SUBS, error_r);
	}
	text[n] = '\0';
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] != '\0' && !name_list_has(out, line))
			name_list_add(out, line);
	}
	xfree(&text);
	return 0;
}

static int subs_write(struct mail_storage *st, const struct name_list *subs, const char **error_r)
{
	int fd = beneath_open(st->dirfd, FOLDER_SUBS_TMP,
	                      O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	FILE *fp = fd >= 0 ? fdopen(fd, "w") : NULL;

	if (fp == NULL) {
		if (fd >= 0)
			close(fd);
		return folder_sys_error("create", FOLDER_SUBS_TMP, error_r);
	}
	for (size_t i = 0; i < subs->count; i++)
		fprintf(fp, "%s\n", subs->names[i]);
	if (fflush(fp) != 0 || fsync(fileno(fp)) < 0 || fclose(fp) != 0) {
		(void)beneath_unlink(st->dirfd, FOLDER_SUBS_TMP, 0);
		return folder_sys_error("write", FOLDER_SUBS_TMP, error_r);
	}
	if (beneath_rename(st->dirfd, FOLDER_SUBS_TMP, st->dirfd, FOLDER_SUBS, 0) < 0)
		return folder_sys_error("rename", FOLDER_SUBS_TMP, error_r);
	return 0;
}

/* Read-modify-write of the subscriptions under an flock of the root directory. */
static int subs_update(struct mail_storage *st, const char *name, bool subscribe,
                       const char **error_r)
{
	int lockfd = beneath_open(st->dirfd, ".", FOLDER_DIR_FLAGS, 0);
	struct name_list subs, out = {0};
	int ret;

	if (lockfd < 0 || flock(lockfd, LOCK_EX) < 0) {
		if (lockfd >= 0)
			close(lockfd);
		return folder_sys_error("lock", "maildir", error_r);
	}
	ret = subs_read(st, &subs, error_r);
	if (ret == 0) {
		for (size_t i = 0; i < subs.count; i++) {
			if (strcmp(subs.names[i], name) != 0)
				name_list_add(&out, subs.names[i]);
		}
		if (subscribe)
			name_list_add(&out, name);
		ret = subs_write(st, &out, error_r);
	}
	name_list_free(&subs);
	name_list_free(&out);
	close(lockfd);
	return ret;
}

int mailbox_subscribe(struct mail_storage *st, const char *name, bool subscribe,
                      const char **error_r)
{
	char *canonical;
	int ret;

	if (!folder_is_inbox(name) && !folder_name_valid(name, error_r))
		return -1;
	canonical = folder_canonical_name(name);
	ret = subs_update(st, canonical, subscribe, error_r);
	xfree(&canonical);
	return ret;
}

/* ---- create ---- */

static int folder_make(struct mail_storage *st, const char *dir, const char **error_r)
{
	int fd, ret;

	if (beneath_mkdir(st->dirfd, dir, 0700) < 0) {
		if (errno == EEXIST) {
			*error_r = mail_error_exists;
			return -1;
		}
		return folder_sys_error("mkdir", dir, error_r);
	}
	if ((fd = beneath_open(st->dirfd, dir, FOLDER_DIR_FLAGS, 0)) < 0)
		return folder_sys_error("open", dir, error_r);
	ret = maildir_create_subdirs(fd, error_r);
	if (ret == 0) {
		/* Maildir++: marks a folder for tools such as maildrop */
		int mfd = beneath_open(fd, "maildirfolder",
		                       O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

		if (mfd >= 0)
			close(mfd);
	}
	close(fd);
	return ret;
}

int mailbox_create(struct mail_storage *st, const char *name, const char **error_r)
{
	char *trimmed = xstrdup(name), *dir;
	size_t len = strlen(trimmed);
	int ret = -1;

	if (len > 1 && trimmed[len - 1] == '.')
		trimmed[len - 1] = '\0'; /* "a." asks for a folder that will have children */
	if (folder_is_inbox(trimmed))
		*error_r = mail_error_exists;
	else if ((dir = folder_dir_name(trimmed, error_r)) != NULL) {
		ret = folder_make(st, dir, error_r);
		xfree(&dir);
	}
	xfree(&trimmed);
	return ret;
}

int folder_create_defaults(struct mail_storage *st, const char **error_r)
{
	struct name_list existing;
	const char *ignored;
	int fd;

	if (beneath_access(st->dirfd, FOLDER_MARKER, F_OK) == 0)
		return 0;
	if (folder_scan(st, &existing, error_r) < 0)
		return -1;
	if (existing.count == 0) {
		for (size_t i = 0; i < sizeof(folder_specials) / sizeof(folder_specials[0]); i++) {
			const char *name = folder_specials[i].name;

			if (mailbox_create(st, name, &ignored) == 0)
				(void)subs_update(st, name, true, &ignored);
		}
	}
	name_list_free(&existing);
	fd = beneath_open(st->dirfd, FOLDER_MARKER, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	                  0600);
	if (fd < 0)
		return folder_sys_error("create", FOLDER_MARKER, error_r);
	close(fd);
	return 0;
}

/* ---- delete ---- */

/* Removes a directory tree beneath parentfd without following symlinks. */
static int folder_remove_tree(int parentfd, const char *name, int depth)
{
	DIR *dir = beneath_opendir(parentfd, name);
	struct dirent *d;
	int fd;

	if (dir == NULL)
		return -1;
	fd = dirfd(dir);
	for (int pass = 0; pass < 3; pass++) {
		rewinddir(dir);
		while ((d = readdir(dir)) != NULL) {
			if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
				continue;
			if (beneath_unlink(fd, d->d_name, 0) < 0 && errno == EISDIR &&
			    depth < FOLDER_TREE_DEPTH)
				(void)folder_remove_tree(fd, d->d_name, depth + 1);
		}
		if (beneath_unlink(parentfd, name, AT_REMOVEDIR) == 0) {
			closedir(dir);
			return 0;
		}
	}
	closedir(dir);
	return -1;
}

int mailbox_delete(struct mail_storage *st, const char *name, const char **error_r)
{
	static unsigned counter;
	char *dir, *trash;
	int ret = 0;

	if (folder_is_inbox(name)) {
		*error_r = "cannot delete INBOX";
		return -1;
	}
	if ((dir = folder_dir_name(name, error_r)) == NULL)
		return -1;
	/* out of sight first (an invalid name), then removed */
	trash = xasprintf("..deleted.%ld.%u", (long)getpid(), ++counter);
	if (beneath_rename(st->dirfd, dir, st->dirfd, trash, RENAME_NOREPLACE) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			*error_r = mail_error_no_mailbox;
		else
			folder_sys_error("rename", dir, error_r);
		ret = -1;
	} else if (folder_remove_tree(st->dirfd, trash, 0) < 0) {
		log_warn("storage: could not remove all of deleted folder %s: %s", trash,
		         strerror(errno));
	}
	xfree(&dir);
	xfree(&trash);
	return ret;
}

/* ---- rename ---- */

static bool folder_exists(struct mail_storage *st, const char *dir)
{
	struct stat sb;

	return beneath_stat(st->dirfd, dir, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* Moves every message of INBOX into the new folder (RFC 3501: INBOX stays, empty). */
static int folder_rename_inbox(struct mail_storage *st, const char *new_name, const char **error_r)
{
	struct mailbox *src = NULL, *dst = NULL;
	uint32_t uid;
	int ret = -1;

	if (mailbox_create(st, new_name, error_r) < 0)
		return -1;
	if (mailbox_open(st, "INBOX", &src, error_r) <= 0 ||
	    mailbox_open(st, new_name, &dst, error_r) <= 0)
		goto out;
	ret = 0;
	for (size_t i = 0; i < mailbox_count(src) && ret == 0; i++) {
		if (!mailbox_msg_gone(src, i) && mailbox_move(src, i, dst, &uid, error_r) < 0 &&
		    !mailbox_msg_gone(src, i))
			ret = -1;
	}
out:
	mailbox_close(&src);
	mailbox_close(&dst);
	return ret;
}

/* The folder and its children ".old.*" become ".new" and ".new.*". */
static int folder_rename_tree(struct mail_storage *st, const char *old_name, const char *new_name,
                              const char **error_r)
{
	struct name_list all;
	size_t old_len = strlen(old_name);
	int ret = 0;

	if (folder_scan(st, &all, error_r) < 0)
		return -1;
	for (size_t i = 0; i < all.count && ret == 0; i++) {
		const char *name = all.names[i];
		char *from, *to;

		if (strncmp(name, old_name, old_len) != 0 ||
		    (name[old_len] != '\0' && name[old_len] != '.'))
			continue;
		from = xasprintf(".%s", name);
		to = xasprintf(".%s%s", new_name, name + old_len);
		if (strlen(to) > FOLDER_NAME_MAX + 1) {
			*error_r = "mailbox name too long";
			ret = -1;
		} else if (beneath_rename(st->dirfd, from, st->dirfd, to, RENAME_NOREPLACE) < 0) {
			if (errno == EEXIST)
				*error_r = mail_error_exists;
			else
				folder_sys_error("rename", from, error_r);
			ret = -1;
		}
		xfree(&from);
		xfree(&to);
	}
	name_list_free(&all);
	return ret;
}

int mailbox_rename(struct mail_storage *st, const char *old_name, const char *new_name,
                   const char **error_r)
{
	char *old_dir = NULL, *new_dir = NULL, *old_c = NULL, *new_c = NULL;
	int ret = -1;

	if (folder_is_inbox(new_name)) {
		*error_r = mail_error_exists;
		return -1;
	}
	if ((new_dir = folder_dir_name(new_name, error_r)) == NULL)
		return -1;
	if (folder_is_inbox(old_name)) {
		ret = folder_exists(st, new_dir) ? (*error_r = mail_error_exists, -1)
		                                 : folder_rename_inbox(st, new_name, error_r);
		xfree(&new_dir);
		return ret;
	}
	if ((old_dir = folder_dir_name(old_name, error_r)) == NULL)
		goto out;
	old_c = folder_canonical_name(old_name);
	new_c = folder_canonical_name(new_name);
	if (!folder_exists(st, old_dir))
		*error_r = mail_error_no_mailbox;
	else if (folder_exists(st, new_dir))
		*error_r = mail_error_exists;
	else if (strncmp(new_c, old_c, strlen(old_c)) == 0 && new_c[strlen(old_c)] == '.')
		*error_r = "cannot rename a mailbox into itself";
	else
		ret = folder_rename_tree(st, old_c, new_c, error_r);
out:
	xfree(&old_dir);
	xfree(&new_dir);
	xfree(&old_c);
	xfree(&new_c);
	return ret;
}

/* ---- list ---- */

enum list_kind { LIST_EXISTS, LIST_IMPLIED, LIST_SUBSCRIBED_ONLY };

struct list_entry {
	char *name;
	enum list_kind kind;
	bool subscribed;
};

struct list {
	struct list_entry *e;
	size_t count, cap;
};

static struct list_entry *list_find(struct list *l, const char *name)
{
	for (size_t i = 0; i < l->count; i++) {
		if (strcmp(l->e[i].name, name) == 0)
			return &l->e[i];
	}
	return NULL;
}

static struct list_entry *list_add(struct list *l, const char *name, enum list_kind kind)
{
	struct list_entry *e = list_find(l, name);

	if (e != NULL)
		return e;
	if (l->count == l->cap) {
		l->cap = l->cap == 0 ? 16 : l->cap * 2;
		l->e = xreallocarray(l->e, l->cap, sizeof(*l->e));
	}
	e = &l->e[l->count++];
	*e = (struct list_entry){.name = xstrdup(name), .kind = kind};
	return e;
}

static void list_add_parents(struct list *l, const char *name)
{
	char *copy = xstrdup(name);

	for (char *dot = strrchr(copy, '.'); dot != NULL; dot = strrchr(copy, '.')) {
		*dot = '\0';
		if (!folder_is_inbox(copy))
			list_add(l, copy, LIST_IMPLIED);
	}
	xfree(&copy);
}

static int list_cmp(const void *a, const void *b)
{
	const struct list_entry *x = a, *y = b;
	bool xi = strcmp(x->name, "INBOX") == 0, yi = strcmp(y->name, "INBOX") == 0;

	if (xi != yi)
		return xi ? -1 : 1;
	return strcmp(x->name, y->name);
}

static bool list_has_children(const struct list *l, const struct list_entry *parent)
{
	size_t len = strlen(parent->name);

	for (size_t i = 0; i < l->count; i++) {
		const struct list_entry *e = &l->e[i];

		if (e->kind != LIST_SUBSCRIBED_ONLY && strncmp(e->name, parent->name, len) == 0 &&
		    e->name[len] == '.')
			return true;
	}
	return false;
}

static int list_build(struct mail_storage *st, struct list *l, const char **error_r)
{
	struct name_list dirs, subs;

	if (folder_scan(st, &dirs, error_r) < 0)
		return -1;
	if (subs_read(st, &subs, error_r) < 0) {
		name_list_free(&dirs);
		return -1;
	}
	list_add(l, "INBOX", LIST_EXISTS);
	for (size_t i = 0; i < dirs.count; i++)
		list_add(l, dirs.names[i], LIST_EXISTS)->kind = LIST_EXISTS;
	for (size_t i = 0; i < dirs.count; i++)
		list_add_parents(l, dirs.names[i]);
	for (size_t i = 0; i < subs.count; i++)
		list_add(l, subs.names[i], LIST_SUBSCRIBED_ONLY)->subscribed = true;
	name_list_free(&dirs);
	name_list_free(&subs);
	qsort(l->e, l->count, sizeof(*l->e), list_cmp);
	return 0;
}

int mail_storage_list(struct mail_storage *st, void (*cb)(const struct mailbox_info *, void *),
                      void *ctx, const char **error_r)
{
	struct list l = {0};
	int ret = list_build(st, &l, error_r);

	for (size_t i = 0; i < l.count && ret == 0; i++) {
		const struct list_entry *e = &l.e[i];
		struct mailbox_info info = {
		    .name = e->name,
		    .special = e->kind == LIST_EXISTS ? folder_special(e->name) : 0,
		    .subscribed = e->subscribed,
		    .has_children = list_has_children(&l, e),
		    .nonexistent = e->kind != LIST_EXISTS,
		};

		cb(&info, ctx);
	}
	for (size_t i = 0; i < l.count; i++)
		xfree(&l.e[i].name);
	xfree(&l.e);
	return ret;
}

/* ---- status ---- */

int mailbox_get_status(struct mail_storage *st, const char *name, bool with_size,
                       struct mailbox_status *status_r, const char **error_r)
{
	struct mailbox *box = NULL;
	int ret = mailbox_open_internal(st, name, false, &box, error_r);

	if (ret <= 0)
		return ret;
	if (with_size && mailbox_measure_all(box, error_r) < 0) {
		mailbox_close(&box);
		return -1;
	}
	memset(status_r, 0, sizeof(*status_r));
	for (size_t i = 0; i < box->count; i++) {
		const struct mail *m = &box->msgs[i].mail;

		if (box->msgs[i].gone)
			continue;
		status_r->messages++;
		status_r->recent += (m->flags & MAIL_RECENT) != 0;
		status_r->unseen += (m->flags & MAIL_SEEN) == 0;
		status_r->deleted += (m->flags & MAIL_DELETED) != 0;
		if (with_size && box->msgs[i].measured)
			status_r->size += box->msgs[i].sizes.crlf_size;
	}
	status_r->uidnext = box->uidnext;
	status_r->uidvalidity = mailbox_uidvalidity(box);
	status_r->highestmodseq = mailbox_highest_modseq(box);
	mailbox_close(&box);
	return 1;
}
