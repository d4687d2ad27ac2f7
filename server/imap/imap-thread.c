/* THREAD=ORDEREDSUBJECT and THREAD=REFERENCES (RFC 5256 section 3) over a tree of nodes kept
 * in one array; every walk of the tree uses an explicit stack, so a reply chain thousands of
 * messages deep costs no call stack. */
#include "server/imap/imap-thread.h"
#include "server/imap/imap-sort.h"
#include "server/imap/imap-subject.h"

#include "common/buf.h"
#include "common/xalloc.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct tnode {
	const struct imap_thread_msg *msg; /* NULL: a dummy (a message referred to, not here) */
	size_t order;                      /* mailbox order: ties of date */
	struct tnode *parent, *child, *next;
	const char *id; /* msg-id in the id table, [0..id_len) */
	size_t id_len;
	struct tnode *hnext; /* id table chain */
};

struct thread {
	struct tnode **nodes; /* every node, for freeing and for the root set */
	size_t count, cap;
	struct tnode **buckets; /* the id table */
	size_t nbuckets;
	struct tnode root; /* a dummy whose children are the threads */
};

int imap_thread_algorithm_parse(const char *name, enum imap_thread_algorithm *alg_r)
{
	if (strcasecmp(name, "ORDEREDSUBJECT") == 0)
		*alg_r = IMAP_THREAD_ORDEREDSUBJECT;
	else if (strcasecmp(name, "REFERENCES") == 0)
		*alg_r = IMAP_THREAD_REFERENCES;
	else
		return -1;
	return 0;
}

/* ---- nodes and the tree ---- */

static struct tnode *node_new(struct thread *t, const struct imap_thread_msg *msg, size_t order)
{
	struct tnode *n = xcalloc(1, sizeof(*n));

	if (t->count == t->cap) {
		t->cap = t->cap == 0 ? 64 : t->cap * 2;
		t->nodes = xreallocarray(t->nodes, t->cap, sizeof(*t->nodes));
	}
	t->nodes[t->count++] = n;
	n->msg = msg;
	n->order = order;
	return n;
}

static void node_unlink(struct tnode *n)
{
	struct tnode **p;

	if (n->parent == NULL)
		return;
	for (p = &n->parent->child; *p != n; p = &(*p)->next)
		;
	*p = n->next;
	n->parent = n->next = NULL;
}

static void node_link(struct tnode *n, struct tnode *parent)
{
	node_unlink(n);
	n->parent = parent;
	n->next = parent->child;
	parent->child = n;
}

/* True when a is b or one of b's ancestors (linking b above a would make a loop). */
static bool node_above(const struct tnode *a, const struct tnode *b)
{
	if (a->child == NULL) /* most often: a reply chain is built from its top */
		return a == b;
	for (; b != NULL; b = b->parent) {
		if (a == b)
			return true;
	}
	return false;
}

static size_t node_children(const struct tnode *n, struct tnode ***kids_r)
{
	size_t k = 0, i = 0;

	for (const struct tnode *c = n->child; c != NULL; c = c->next)
		k++;
	*kids_r = xcalloc(k + 1, sizeof(**kids_r));
	for (struct tnode *c = n->child; c != NULL; c = c->next)
		(*kids_r)[i++] = c;
	return k;
}

/* Makes kids[0..k) the children of parent, in that order. */
static void node_set_children(struct tnode *parent, struct tnode **kids, size_t k)
{
	parent->child = NULL;
	for (size_t i = k; i-- > 0;) {
		kids[i]->parent = parent;
		kids[i]->next = parent->child;
		parent->child = kids[i];
	}
}

/* A node's message for its date and subject: a dummy stands for its first child. */
static const struct tnode *node_first_msg(const struct tnode *n)
{
	while (n != NULL && n->msg == NULL)
		n = n->child;
	return n;
}

static int node_date_cmp(const void *x, const void *y)
{
	const struct tnode *a = node_first_msg(*(struct tnode *const *)x);
	const struct tnode *b = node_first_msg(*(struct tnode *const *)y);
	time_t da = a != NULL ? a->msg->date : 0, db = b != NULL ? b->msg->date : 0;
	size_t oa = a != NULL ? a->order : 0, ob = b != NULL ? b->order : 0;

	if (da != db)
		return da < db ? -1 : 1;
	return (oa > ob) - (oa < ob);
}

/* Every node in breadth-first order from the root (the root first). */
static struct tnode **thread_levels(struct thread *t, size_t *n_r)
{
	struct tnode **order = xcalloc(t->count + 2, sizeof(*order));
	size_t n = 0;

	order[n++] = &t->root;
	for (size_t i = 0; i < n; i++) {
		for (struct tnode *c = order[i]->child; c != NULL; c = c->next)
			order[n++] = c;
	}
	*n_r = n;
	return order;
}

/* Sorts every set of siblings by date, the deepest first so that a dummy's first child is
 * known before the dummy is placed (RFC 5256 step 6; step 4 for the top level). */
static void thread_sort_dates(struct thread *t)
{
	size_t n;
	struct tnode **order = thread_levels(t, &n);

	for (size_t i = n; i-- > 0;) {
		struct tnode **kids;
		size_t k = node_children(order[i], &kids);

		qsort(kids, k, sizeof(*kids), node_date_cmp);
		node_set_children(order[i], kids, k);
		xfree(&kids);
	}
	xfree(&order);
}

/* ---- REFERENCES step 1: the id table and the links ---- */

static size_t id_hash(const char *s, size_t len)
{
	size_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

static struct tnode *id_find(const struct thread *t, const char *id, size_t len)
{
	struct tnode *n = t->buckets[id_hash(id, len) & (t->nbuckets - 1)];

	while (n != NULL && (n->id_len != len || memcmp(n->id, id, len) != 0))
		n = n->hnext;
	return n;
}

static void id_add(struct thread *t, struct tnode *n, const char *id, size_t len)
{
	size_t b = id_hash(id, len) & (t->nbuckets - 1);

	n->id = id;
	n->id_len = len;
	n->hnext = t->buckets[b];
	t->buckets[b] = n;
}

/* The container of a referred msg-id: the message's, or a dummy made for it. */
static struct tnode *id_container(struct thread *t, const char *id, size_t len)
{
	struct tnode *n = id_find(t, id, len);

	if (n == NULL) {
		n = node_new(t, NULL, 0);
		id_add(t, n, id, len);
	}
	return n;
}

/* The message's own container: a dummy made for it by an earlier reference, or new. A second
 * message with a msg-id already taken (or none) gets a container of its own. */
static struct tnode *thread_msg_container(struct thread *t, const struct imap_thread_msg *m,
                                          size_t order)
{
	const char *id = m->keys->text[SORT_TEXT_MESSAGE_ID];
	size_t len = strlen(id);
	struct tnode *n = len > 0 ? id_find(t, id, len) : NULL;

	if (n == NULL || n->msg != NULL) {
		bool unique = len > 0 && n == NULL;

		n = node_new(t, NULL, 0);
		if (unique)
			id_add(t, n, id, len);
	}
	n->msg = m;
	n->order = order;
	return n;
}

static void thread_link_message(struct thread *t, const struct imap_thread_msg *m, size_t order)
{
	struct tnode *self = thread_msg_container(t, m, order), *prev = NULL;
	const char *p = m->keys->text[SORT_TEXT_REFERENCES];

	while (*p != '\0') {
		size_t len = strcspn(p, " ");
		struct tnode *c = len > 0 ? id_container(t, p, len) : NULL;

		/* (A) each reference the child of the one before, unless linked already */
		if (c != NULL && prev != NULL && c->parent == NULL && !node_above(c, prev))
			node_link(c, prev);
		prev = c != NULL ? c : prev;
		p += len + (p[len] == ' ');
	}
	/* (B) the last reference is the parent: it outranks a link made by a truncated list */
	node_unlink(self);
	if (prev != NULL && !node_above(self, prev))
		node_link(self, prev);
}

/* ---- REFERENCES steps 2 and 3: the root set, dummies pruned ---- */

static void thread_root_set(struct thread *t)
{
	for (size_t i = 0; i < t->count; i++) {
		if (t->nodes[i]->parent == NULL)
			node_link(t->nodes[i], &t->root);
	}
}

/* The children of parent with its dummies pruned: a childless dummy goes, another is replaced
 * by its children (looked at in turn), except a top-level one with more than one child. */
static void thread_prune_children(struct thread *t, struct tnode *parent)
{
	struct tnode **kids, **keep;
	size_t k = node_children(parent, &kids), kept = 0, cap = k + 1;

	keep = xcalloc(cap, sizeof(*keep));
	while (k > 0) {
		struct tnode *c = kids[--k]; /* popped last first: pushed back in reverse below */

		if (c->msg != NULL || (parent == &t->root && c->child != NULL && c->child->next != NULL)) {
			keep[kept++] = c;
			continue;
		}
		if (c->child != NULL) {
			struct tnode **grand;
			size_t g = node_children(c, &grand);

			kids = xreallocarray(kids, k + g + 1, sizeof(*kids));
			for (size_t i = 0; i < g; i++) /* c's place: its last child is looked at next */
				kids[k++] = grand[i];
			xfree(&grand);
			cap = cap > kept + k + 1 ? cap : kept + k + 1;
			keep = xreallocarray(keep, cap, sizeof(*keep));
		}
		c->child = NULL;
	}
	for (size_t i = 0; i < kept / 2; i++) { /* back to the children's order */
		struct tnode *x = keep[i];

		keep[i] = keep[kept - 1 - i];
		keep[kept - 1 - i] = x;
	}
	node_set_children(parent, keep, kept);
	xfree(&keep);
	xfree(&kids);
}

/* Pruned from the bottom up: a node's children are decided after their own children are, so a
 * top-level dummy stays only when what is finally below it is two threads or more (deciding
 * from the top kept a dummy whose children were empty dummies pruned later: "()"). */
static void thread_prune(struct thread *t)
{
	struct tnode **order = xcalloc(t->count + 2, sizeof(*order));
	size_t n = 0;

	order[n++] = &t->root;
	for (size_t i = 0; i < n; i++) {
		for (struct tnode *c = order[i]->child; c != NULL; c = c->next)
			order[n++] = c;
	}
	while (n > 0)
		thread_prune_children(t, order[--n]);
	xfree(&order);
}

/* ---- REFERENCES step 5: threads of the same base subject gathered ---- */

struct subject_entry {
	const char *subject;
	struct tnode *node;
	struct subject_entry *next;
};

struct subject_table {
	struct subject_entry **buckets, *entries;
	size_t nbuckets, count;
};

/* The base subject a top-level node goes by ("" for none), and whether it said reply. */
static const char *node_subject(const struct tnode *n, bool *reply_r)
{
	const struct tnode *m = node_first_msg(n);

	*reply_r = m != NULL && m->msg->keys->reply;
	return m != NULL ? m->msg->keys->text[SORT_TEXT_SUBJECT] : "";
}

static size_t subject_hash(const char *s)
{
	size_t h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)(*s >= 'a' && *s <= 'z' ? *s - 32 : *s)) * 16777619u;
	return h;
}

static struct subject_entry *subject_find(struct subject_table *st, const char *subject,
                                          bool add)
{
	size_t b = subject_hash(subject) & (st->nbuckets - 1);
	struct subject_entry *e = st->buckets[b];

	while (e != NULL && imap_subject_cmp(e->subject, subject) != 0)
		e = e->next;
	if (e == NULL && add) {
		e = &st->entries[st->count++];
		*e = (struct subject_entry){.subject = subject, .next = st->buckets[b]};
		st->buckets[b] = e;
	}
	return e;
}

/* (B) one thread per subject in the table: a dummy before a message, and a message that is
 * not a reply before one that is. */
static void subject_table_fill(struct thread *t, struct subject_table *st)
{
	for (struct tnode *r = t->root.child; r != NULL; r = r->next) {
		bool reply, old_reply;
		const char *subject = node_subject(r, &reply);
		struct subject_entry *e;

		if (*subject == '\0')
			continue;
		e = subject_find(st, subject, true);
		if (e->node == NULL) {
			e->node = r;
			continue;
		}
		(void)node_subject(e->node, &old_reply);
		if (e->node->msg != NULL && (r->msg == NULL || (old_reply && !reply)))
			e->node = r;
	}
}

/* (C) each other thread of a subject merged into the table's. */
static void subject_merge(struct thread *t, struct tnode *r, struct subject_entry *e)
{
	struct tnode *kept = e->node, *d;
	bool reply, kept_reply;

	(void)node_subject(r, &reply);
	(void)node_subject(kept, &kept_reply);
	if (kept->msg == NULL && r->msg == NULL) {
		while (r->child != NULL)
			node_link(r->child, kept);
		node_unlink(r);
	} else if (kept->msg == NULL || (reply && !kept_reply)) {
		node_link(r, kept);
	} else {
		/* a new dummy in the kept thread's place, both below it */
		d = node_new(t, NULL, 0);
		node_link(d, &t->root);
		node_link(kept, d);
		node_link(r, d);
		e->node = d;
	}
}

static void thread_gather_subjects(struct thread *t)
{
	struct subject_table st = {.count = 0};
	size_t roots = 0;
	struct tnode **top;

	for (struct tnode *r = t->root.child; r != NULL; r = r->next)
		roots++;
	for (st.nbuckets = 16; st.nbuckets < 2 * roots; st.nbuckets *= 2)
		;
	st.buckets = xcalloc(st.nbuckets, sizeof(*st.buckets));
	st.entries = xcalloc(roots + 1, sizeof(*st.entries));
	subject_table_fill(t, &st);
	roots = node_children(&t->root, &top); /* the list changes while merging */
	for (size_t i = 0; i < roots; i++) {
		bool reply;
		const char *subject = node_subject(top[i], &reply);
		struct subject_entry *e = *subject != '\0' ? subject_find(&st, subject, false) : NULL;

		if (e != NULL && e->node != top[i])
			subject_merge(t, top[i], e);
	}
	xfree(&top);
	xfree(&st.buckets);
	xfree(&st.entries);
}

/* ---- ORDEREDSUBJECT ---- */

static int subject_date_cmp(const void *x, const void *y)
{
	const struct tnode *a = *(struct tnode *const *)x, *b = *(struct tnode *const *)y;
	int r = imap_subject_cmp(a->msg->keys->text[SORT_TEXT_SUBJECT],
	                         b->msg->keys->text[SORT_TEXT_SUBJECT]);

	return r != 0 ? r : node_date_cmp(x, y);
}

/* Messages sorted by base subject and date; each run of one subject is a thread whose first
 * message is the parent of all the others. */
static void thread_ordered_subject(struct thread *t, const struct imap_thread_msg *msgs,
                                   size_t count)
{
	struct tnode **byname = xcalloc(count + 1, sizeof(*byname));

	for (size_t i = 0; i < count; i++)
		byname[i] = node_new(t, &msgs[i], i);
	qsort(byname, count, sizeof(*byname), subject_date_cmp);
	for (size_t i = 0, first = 0; i < count; i++) {
		if (i == 0 || imap_subject_cmp(byname[first]->msg->keys->text[SORT_TEXT_SUBJECT],
		                               byname[i]->msg->keys->text[SORT_TEXT_SUBJECT]) != 0) {
			first = i;
			node_link(byname[i], &t->root);
		} else {
			node_link(byname[i], byname[first]);
		}
	}
	xfree(&byname);
}

/* ---- the response ---- */

/* What is left to write: a node, or (node NULL) a closing or opening parenthesis. */
struct render_item {
	const struct tnode *node;
	char mark;
};

static void render_push(struct render_item **stack, size_t *n, size_t *cap,
                        const struct tnode *node, char mark)
{
	if (*n == *cap) {
		*cap = *cap == 0 ? 64 : *cap * 2;
		*stack = xreallocarray(*stack, *cap, sizeof(**stack));
	}
	(*stack)[(*n)++] = (struct render_item){.node = node, .mark = mark};
}

/* Pushes a list of siblings so that they come out in order, each in parentheses. */
static void render_push_siblings(struct render_item **stack, size_t *n, size_t *cap,
                                 const struct tnode *first)
{
	size_t k = 0, at;

	for (const struct tnode *c = first; c != NULL; c = c->next)
		k++;
	at = *n;
	for (size_t i = 0; i < 3 * k; i++)
		render_push(stack, n, cap, NULL, 0);
	for (const struct tnode *c = first; c != NULL; c = c->next) {
		size_t slot = at + 3 * --k; /* the first child on top */

		(*stack)[slot] = (struct render_item){.mark = ')'};
		(*stack)[slot + 1] = (struct render_item){.node = c};
		(*stack)[slot + 2] = (struct render_item){.mark = '('};
	}
}

/* A node: its number; one child follows after a space, several each in parentheses. */
static void thread_render_tree(const struct thread *t, struct buf *out)
{
	struct render_item *stack = NULL;
	size_t n = 0, cap = 0;

	render_push_siblings(&stack, &n, &cap, t->root.child);
	while (n > 0) {
		struct render_item it = stack[--n];
		const struct tnode *node = it.node;

		if (node == NULL) {
			buf_append(out, &it.mark, 1);
			continue;
		}
		if (node->msg != NULL)
			buf_printf(out, "%u", node->msg->number);
		if (node->child == NULL)
			continue;
		if (node->msg != NULL)
			buf_append(out, " ", 1);
		if (node->child->next == NULL)
			render_push(&stack, &n, &cap, node->child, 0);
		else
			render_push_siblings(&stack, &n, &cap, node->child);
	}
	xfree(&stack);
}

void imap_thread_render(enum imap_thread_algorithm alg, const struct imap_thread_msg *msgs,
                        size_t count, struct buf *out)
{
	struct thread t = {.count = 0};

	if (alg == IMAP_THREAD_ORDEREDSUBJECT) {
		thread_ordered_subject(&t, msgs, count);
	} else {
		for (t.nbuckets = 16; t.nbuckets < 4 * count; t.nbuckets *= 2)
			;
		t.buckets = xcalloc(t.nbuckets, sizeof(*t.buckets));
		for (size_t i = 0; i < count; i++)
			thread_link_message(&t, &msgs[i], i);
		thread_root_set(&t);
		thread_prune(&t);
		thread_sort_dates(&t);
		thread_gather_subjects(&t);
	}
	thread_sort_dates(&t);
	thread_render_tree(&t, out);
	for (size_t i = 0; i < t.count; i++)
		free(t.nodes[i]);
	xfree(&t.nodes);
	xfree(&t.buckets);
}
