/*
 * Streaming MIME structure parser. Input is cut into lines with memchr; only the first
 * LINE_KEEP octets of a body line are kept (enough to recognise a boundary), header lines go to
 * a bounded header buffer. Line ends are counted per line, so sizes, line counts and bare-LF
 * counts of every region come from three counters sampled at region edges.
 */
#include "storage/mime.h"
#include "storage/mime-private.h"

#include "common/xalloc.h"

#include <string.h>
#include <strings.h>

#define LINE_KEEP      256
#define BOUNDARY_MAX   200
#define MAX_RAW_PARAMS 64

const struct mime_limits mime_limits_default = {
    .max_depth = 32,
    .max_parts = 1000,
    .max_header_size = 256 * 1024,
};

struct boundary {
	struct mime_part *part;
	char *str;
	size_t len;
};

struct counters {
	uint64_t offset, lines, bare;
};

struct mime_parser {
	struct mime_limits limits;
	struct mime_part *root, *cur;
	bool in_header;
	unsigned int part_count;
	struct boundary *bounds;
	unsigned int bound_count, bound_alloc;

	struct buf hdr;
	size_t hdr_line_start;
	bool hdr_full; /* max_header_size reached: the rest of this header is not kept */

	struct counters now; /* after the last complete line */
	size_t line_len;     /* octets of the current line so far */
	unsigned char keep[LINE_KEEP];
	unsigned char last2[2];
	unsigned int prev_eol; /* line end length of the previous line */
};

/* Defined in the header-parsing part below. */
static void part_parse_header(struct mime_part *part, const char *hdr, size_t len, bool message);

/* --- tree --- */

static unsigned int part_depth(const struct mime_part *part)
{
	unsigned int depth = 0;

	while ((part = part->parent) != NULL)
		depth++;
	return depth;
}

static struct mime_part *part_new(struct mime_parser *p, struct mime_part *parent)
{
	struct mime_part *part = xcalloc(1, sizeof(*part));
	struct mime_part **tail;

	p->part_count++;
	part->parent = parent;
	if (parent != NULL) {
		for (tail = &parent->children; *tail != NULL; tail = &(*tail)->next)
			;
		*tail = part;
		parent->child_count++;
	}
	return part;
}

static void params_free(struct mime_param **params, unsigned int count)
{
	for (unsigned int i = 0; i < count; i++) {
		xfree(&(*params)[i].name);
		xfree(&(*params)[i].value);
	}
	xfree(params);
}

static void envelope_free(struct mime_envelope **envp)
{
	struct mime_envelope *env = *envp;

	if (env == NULL)
		return;
	xfree(&env->date);
	xfree(&env->subject);
	xfree(&env->from);
	xfree(&env->sender);
	xfree(&env->reply_to);
	xfree(&env->to);
	xfree(&env->cc);
	xfree(&env->bcc);
	xfree(&env->in_reply_to);
	xfree(&env->message_id);
	xfree(envp);
}

/* Recursion is bounded by the parser's max_depth. */
void mime_part_free(struct mime_part **rootp)
{
	struct mime_part *part = *rootp, *child, *next;

	if (part == NULL)
		return;
	for (child = part->children; child != NULL; child = next) {
		next = child->next;
		mime_part_free(&child);
	}
	xfree(&part->type);
	xfree(&part->subtype);
	params_free(&part->params, part->param_count);
	xfree(&part->id);
	xfree(&part->description);
	xfree(&part->encoding);
	xfree(&part->md5);
	xfree(&part->location);
	xfree(&part->disposition);
	params_free(&part->disp_params, part->disp_param_count);
	for (unsigned int i = 0; i < part->language_count; i++)
		xfree(&part->languages[i]);
	xfree(&part->languages);
	envelope_free(&part->envelope);
	xfree(rootp);
}

/* --- regions --- */

static void header_begin(struct mime_parser *p, struct mime_part *part, const struct counters *at)
{
	part->header_offset = at->offset;
	part->header_bare_lf = at->bare; /* start value until the header ends */
	p->cur = part;
	p->in_header = true;
	buf_reset(&p->hdr);
	p->hdr_line_start = 0;
	p->hdr_full = false;
}

static bool part_is_message(const struct mime_part *part)
{
	return part->parent == NULL || part->parent->message_rfc822;
}

static bool type_is(const struct mime_part *part, const char *type, const char *subtype)
{
	return part->type != NULL && strcasecmp(part->type, type) == 0 &&
	       (subtype == NULL ||
	        (part->subtype != NULL && strcasecmp(part->subtype, subtype) == 0));
}

static void part_default_type(struct mime_part *part)
{
	if (part->type != NULL)
		return;
	if (part->parent != NULL && type_is(part->parent, "multipart", "digest")) {
		part->type = xstrdup("message");
		part->subtype = xstrdup("rfc822");
	}
}

static void push_boundary(struct mime_parser *p, struct mime_part *part, const char *str)
{
	size_t len = strlen(str);

	if (len == 0 || len > BOUNDARY_MAX)
		return;
	if (p->bound_count == p->bound_alloc) {
		p->bound_alloc = p->bound_alloc == 0 ? 4 : p->bound_alloc * 2;
		p->bounds = xreallocarray(p->bounds, p->bound_alloc, sizeof(*p->bounds));
	}
	p->bounds[p->bound_count].part = part;
	p->bounds[p->bound_count].str = xstrdup(str);
	p->bounds[p->bound_count++].len = len;
}

static void drop_boundaries(struct mime_parser *p, unsigned int keep)
{
	while (p->bound_count > keep)
		xfree(&p->bounds[--p->bound_count].str);
}

/* Ends the current part's header at `at`; with open_body, starts what its type implies. */
static void header_end(struct mime_parser *p, const struct counters *at, bool open_body)
{
	struct mime_part *part = p->cur;
	const struct mime_param *b;
	bool room;

	part->header_size = at->offset - part->header_offset;
	part->header_bare_lf = at->bare - part->header_bare_lf;
	part->body_offset = at->offset;
	part->body_lines = at->lines; /* start values until the body ends */
	part->body_bare_lf = at->bare;
	p->in_header = false;
	part_parse_header(part, p->hdr.data != NULL ? p->hdr.data : "", p->hdr.len,
	                  part_is_message(part));
	part_default_type(part);
	part->multipart = type_is(part, "multipart", NULL);
	part->message_rfc822 = type_is(part, "message", "rfc822");
	room = part_depth(part) + 1 < p->limits.max_depth;
	if (!open_body || !room)
		return;
	b = mime_param_find(part->params, part->param_count, "boundary");
	if (part->multipart && b != NULL)
		push_boundary(p, part, b->value);
	if (part->message_rfc822 && p->part_count < p->limits.max_parts)
		header_begin(p, part_new(p, part), at);
}

static void body_end(struct mime_part *part, const struct counters *end)
{
	if (end->offset <= part->body_offset) {
		part->body_size = part->body_lines = part->body_bare_lf = 0;
		return;
	}
	part->body_size = end->offset - part->body_offset;
	part->body_lines = end->lines - part->body_lines;
	part->body_bare_lf = end->bare - part->body_bare_lf;
}

/* Closes the current part and its ancestors up to (not including) stop. at: the start of the
 * line that closes them; their bodies end before the previous line's end (RFC 2046). */
static void close_parts(struct mime_parser *p, struct mime_part *stop, const struct counters *at,
                        unsigned int eol)
{
	struct counters end = *at;

	if (eol > 0) {
		end.offset -= eol;
		end.lines--;
		end.bare -= eol == 1;
	}
	for (struct mime_part *q = p->cur; q != stop && q != NULL; q = q->parent) {
		if (q == p->cur && p->in_header)
			header_end(p, at, false);
		body_end(q, &end);
	}
}

/* --- lines --- */

static struct boundary *boundary_find(struct mime_parser *p, const unsigned char *line, size_t len,
                                      bool *close_r)
{
	struct boundary *best = NULL;

	if (len < 2 || line[0] != '-' || line[1] != '-')
		return NULL;
	for (unsigned int i = p->bound_count; i-- > 0;) {
		struct boundary *b = &p->bounds[i];

		if (b->len <= len - 2 && memcmp(line + 2, b->str, b->len) == 0 &&
		    (best == NULL || b->len > best->len))
			best = b;
	}
	if (best != NULL)
		*close_r = len >= best->len + 4 && line[2 + best->len] == '-' &&
		           line[3 + best->len] == '-';
	return best;
}

static void on_boundary(struct mime_parser *p, struct boundary *b, bool close,
                        const struct counters *line_start, const struct counters *line_end)
{
	struct mime_part *multi = b->part;
	unsigned int idx = (unsigned int)(b - p->bounds);

	close_parts(p, multi, line_start, p->prev_eol);
	drop_boundaries(p, close ? idx : idx + 1);
	p->cur = multi;
	p->in_header = false;
	if (!close && p->part_count < p->limits.max_parts)
		header_begin(p, part_new(p, multi), line_end);
}

static void line_end(struct mime_parser *p, bool complete)
{
	unsigned int eol = !complete ? 0 : p->line_len >= 2 && p->last2[0] == '\r' ? 2 : 1;
	size_t content = p->line_len - eol;
	struct counters start = p->now, end = p->now;
	struct boundary *b;
	bool close = false;

	end.offset += p->line_len;
	end.lines += complete;
	end.bare += eol == 1;
	b = boundary_find(p, p->keep, content < LINE_KEEP ? content : LINE_KEEP, &close);
	if (b != NULL) {
		if (p->in_header && p->hdr.data != NULL) {
			p->hdr.len = p->hdr_line_start;
			p->hdr.data[p->hdr.len] = '\0';
		}
		on_boundary(p, b, close, &start, &end);
	} else if (p->in_header && content == 0 && complete) {
		header_end(p, &end, true);
	} else if (p->in_header) {
		p->hdr_line_start = p->hdr.len;
	}
	p->now = end;
	p->prev_eol = eol;
	p->line_len = 0;
}

static void line_add(struct mime_parser *p, const unsigned char *data, size_t n)
{
	if (p->line_len < LINE_KEEP) {
		size_t k = LINE_KEEP - p->line_len < n ? LINE_KEEP - p->line_len : n;

		memcpy(p->keep + p->line_len, data, k);
	}
	if (p->in_header && !p->hdr_full) {
		if (p->hdr.len + n <= p->limits.max_header_size)
			buf_append(&p->hdr, data, n);
		else
			p->hdr_full = true;
	}
	if (n >= 2) {
		p->last2[0] = data[n - 2];
		p->last2[1] = data[n - 1];
	} else {
		p->last2[0] = p->last2[1];
		p->last2[1] = data[0];
	}
	p->line_len += n;
}

struct mime_parser *mime_parser_new(const struct mime_limits *limits)
{
	struct mime_parser *p = xcalloc(1, sizeof(*p));

	p->limits = limits != NULL ? *limits : mime_limits_default;
	if (p->limits.max_depth == 0)
		p->limits.max_depth = 1;
	buf_init(&p->hdr);
	p->root = part_new(p, NULL);
	header_begin(p, p->root, &p->now);
	return p;
}

void mime_parser_feed(struct mime_parser *p, const void *data, size_t size)
{
	const unsigned char *d = data;

	while (size > 0) {
		const unsigned char *lf = memchr(d, '\n', size);
		size_t n = lf != NULL ? (size_t)(lf - d) + 1 : size;

		line_add(p, d, n);
		if (lf != NULL)
			line_end(p, true);
		d += n;
		size -= n;
	}
}

struct mime_part *mime_parser_finish(struct mime_parser **parserp)
{
	struct mime_parser *p = *parserp;
	struct mime_part *root = p->root;

	if (p->line_len > 0)
		line_end(p, false);
	close_parts(p, NULL, &p->now, 0);
	drop_boundaries(p, 0);
	xfree(&p->bounds);
	buf_free(&p->hdr);
	xfree(parserp);
	return root;
}

struct mime_part *mime_parse(const void *data, size_t size, const struct mime_limits *limits)
{
	struct mime_parser *p = mime_parser_new(limits);

	mime_parser_feed(p, data, size);
	return mime_parser_finish(&p);
}

const struct mime_part *mime_part_find(const struct mime_part *root, const uint32_t *nums,
                                       unsigned int count)
{
	const struct mime_part *part = root;

	for (unsigned int i = 0; i < count && part != NULL; i++) {
		/* a number below a message/rfc822 part names a part of the enclosed message; the
		 * first number names a part of the message itself, even when that is of type
		 * message/rfc822 (its body, the enclosed message, is then part 1) */
		if (i > 0 && part->message_rfc822)
			part = part->children;
		if (part == NULL)
			break;
		if (part->multipart) {
			part = part->children;
			for (uint32_t n = 1; n < nums[i] && part != NULL; n++)
				part = part->next;
		} else if (nums[i] != 1) {
			part = NULL;
		}
	}
	return part;
}

/* --- RFC 822 / 2045 lexical helpers --- */

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

void mime_skip_cfws(const char **sp, struct buf *comment)
{
	const char *s = *sp;
	unsigned int depth = 0;

	for (; *s != '\0'; s++) {
		if (depth == 0 && is_wsp(*s))
			continue;
		if (depth == 0 && *s != '(')
			break;
		if (*s == '(' && depth++ == 0) {
			if (comment != NULL)
				buf_reset(comment);
			continue;
		}
		if (*s == ')' && --depth == 0)
			continue;
		if (*s == '\\' && s[1] != '\0')
			s++;
		if (comment != NULL)
			buf_append(comment, s, 1);
	}
	*sp = s;
}

static bool is_token_char(char c)
{
	return (unsigned char)c > 0x20 && (unsigned char)c < 0x7f &&
	       strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

static char *read_token(const char **sp)
{
	const char *start = *sp, *s = start;

	while (is_token_char(*s))
		s++;
	*sp = s;
	return s == start ? NULL : xstrndup(start, (size_t)(s - start));
}

void mime_read_quoted(const char **sp, struct buf *out)
{
	const char *s = *sp + 1;

	for (; *s != '\0' && *s != '"'; s++) {
		if (*s == '\\' && s[1] != '\0')
			s++;
		buf_append(out, s, 1);
	}
	*sp = *s == '"' ? s + 1 : s;
}

static char *read_value(const char **sp)
{
	struct buf b;
	char *v;

	if (**sp != '"')
		return read_token(sp);
	buf_init(&b);
	mime_read_quoted(sp, &b);
	v = xstrndup(b.data != NULL ? b.data : "", b.len);
	buf_free(&b);
	return v;
}

void mime_skip_past(const char **sp, char c)
{
	const char *e = strchr(*sp, c);

	*sp = e != NULL ? e + 1 : *sp + strlen(*sp);
}

/* --- parameters (RFC 2045, RFC 2231) --- */

struct param_list {
	struct mime_param *v;
	unsigned int count, alloc;
};

static void param_add(struct param_list *l, char *name, char *value)
{
	if (l->count == l->alloc) {
		l->alloc = l->alloc == 0 ? 4 : l->alloc * 2;
		l->v = xreallocarray(l->v, l->alloc, sizeof(*l->v));
	}
	l->v[l->count].name = name;
	l->v[l->count++].value = value;
}

static void read_raw_params(const char *s, struct param_list *raw)
{
	while (raw->count < MAX_RAW_PARAMS) {
		char *name, *value;

		mime_skip_cfws(&s, NULL);
		if (*s == '\0')
			return;
		if (*s != ';') {
			mime_skip_past(&s, ';');
			continue;
		}
		s++;
		mime_skip_cfws(&s, NULL);
		name = read_token(&s);
		mime_skip_cfws(&s, NULL);
		if (name == NULL || *s != '=') {
			xfree(&name);
			continue;
		}
		s++;
		mime_skip_cfws(&s, NULL);
		value = read_value(&s);
		param_add(raw, name, value != NULL ? value : xstrdup(""));
	}
}

/* RFC 2231 section name: base, and for "base*N[*]" / "base*" the number and extended flag.
 * Returns the base length, or 0 for a plain name. */
static size_t rfc2231_split(const char *name, int *seg_r, bool *ext_r)
{
	const char *star = strchr(name, '*');
	const char *s;
	int n = 0;

	if (star == NULL || star == name)
		return 0;
	s = star + 1;
	*ext_r = false;
	*seg_r = -1;
	if (*s >= '0' && *s <= '9') {
		while (*s >= '0' && *s <= '9' && n < 1000)
			n = n * 10 + (*s++ - '0');
		*seg_r = n;
	}
	if (*s == '*') {
		*ext_r = true;
		s++;
	}
	if (*s != '\0' || (*seg_r < 0 && !*ext_r))
		return 0;
	return (size_t)(star - name);
}

static void pct_encode(struct buf *out, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (is_token_char(*s) && c != '*' && c != '\'' && c != '%')
			buf_append(out, s, 1);
		else
			buf_printf(out, "%%%02X", c);
	}
}

/* Merges the segments of one RFC 2231 parameter (raw[first] is one of them). */
static void rfc2231_merge(const struct param_list *raw, unsigned int first, size_t base_len,
                          bool *done, struct param_list *out)
{
	const char *base = raw->v[first].name;
	struct buf value;
	bool extended = false;

	buf_init(&value);
	buf_append_str(&value, "");
	for (int want = -1; want < 1000; want++) {
		bool found = false;

		for (unsigned int i = first; i < raw->count && !found; i++) {
			int seg;
			bool ext;

			if (done[i] || rfc2231_split(raw->v[i].name, &seg, &ext) != base_len ||
			    strncasecmp(raw->v[i].name, base, base_len) != 0 || seg != want)
				continue;
			done[i] = found = true;
			if (want <= 0)
				extended = ext;
			if (extended && !ext)
				pct_encode(&value, raw->v[i].value);
			else
				buf_append_str(&value, raw->v[i].value);
		}
		if (!found && want >= 0)
			break;
		if (found && want < 0)
			break; /* "name*" stands alone */
	}
	param_add(out, xasprintf("%.*s%s", (int)base_len, base, extended ? "*" : ""),
	          xstrdup(value.data));
	buf_free(&value);
}

static void parse_params(const char *s, struct mime_param **params_r, unsigned int *count_r)
{
	struct param_list raw = {0}, out = {0};
	bool done[MAX_RAW_PARAMS] = {false};

	read_raw_params(s, &raw);
	for (unsigned int i = 0; i < raw.count; i++) {
		int seg;
		bool ext;
		size_t base_len;

		if (done[i])
			continue;
		base_len = rfc2231_split(raw.v[i].name, &seg, &ext);
		if (base_len == 0) {
			param_add(&out, xstrdup(raw.v[i].name), xstrdup(raw.v[i].value));
			done[i] = true;
		} else {
			rfc2231_merge(&raw, i, base_len, done, &out);
			done[i] = true;
		}
	}
	params_free(&raw.v, raw.count);
	*params_r = out.v;
	*count_r = out.count;
}

const struct mime_param *mime_param_find(const struct mime_param *params, unsigned int count,
                                         const char *name)
{
	for (unsigned int i = 0; i < count; i++) {
		if (strcasecmp(params[i].name, name) == 0)
			return &params[i];
	}
	return NULL;
}

/* --- header fields --- */

static void parse_content_type(struct mime_part *part, const char *s)
{
	char *type, *subtype = NULL;

	mime_skip_cfws(&s, NULL);
	type = read_token(&s);
	mime_skip_cfws(&s, NULL);
	if (type != NULL && *s == '/') {
		s++;
		mime_skip_cfws(&s, NULL);
		subtype = read_token(&s);
	}
	if (subtype == NULL) {
		xfree(&type); /* invalid: the defaults apply */
		return;
	}
	part->type = type;
	part->subtype = subtype;
	parse_params(s, &part->params, &part->param_count);
}

static void parse_disposition(struct mime_part *part, const char *s)
{
	mime_skip_cfws(&s, NULL);
	part->disposition = read_token(&s);
	if (part->disposition != NULL)
		parse_params(s, &part->disp_params, &part->disp_param_count);
}

static void parse_languages(struct mime_part *part, const char *s)
{
	unsigned int alloc = 0;

	while (*s != '\0' && part->language_count < MAX_RAW_PARAMS) {
		char *tag;

		mime_skip_cfws(&s, NULL);
		tag = read_token(&s);
		mime_skip_cfws(&s, NULL);
		if (tag != NULL) {
			if (part->language_count == alloc) {
				alloc = alloc == 0 ? 4 : alloc * 2;
				part->languages =
				    xreallocarray(part->languages, alloc, sizeof(*part->languages));
			}
			part->languages[part->language_count++] = tag;
		}
		if (*s != '\0')
			s++; /* ',' or junk */
	}
}

static void parse_encoding(struct mime_part *part, const char *s)
{
	mime_skip_cfws(&s, NULL);
	part->encoding = read_token(&s);
	mime_skip_cfws(&s, NULL);
	if (*s != '\0')
		xfree(&part->encoding);
}

static void set_once(char **field, const char *value)
{
	if (*field == NULL)
		*field = xstrdup(value);
}

static char **envelope_field(struct mime_envelope *env, const char *name)
{
	static const struct {
		const char *name;
		size_t offset;
	} fields[] = {
	    {"date", offsetof(struct mime_envelope, date)},
	    {"subject", offsetof(struct mime_envelope, subject)},
	    {"from", offsetof(struct mime_envelope, from)},
	    {"sender", offsetof(struct mime_envelope, sender)},
	    {"reply-to", offsetof(struct mime_envelope, reply_to)},
	    {"to", offsetof(struct mime_envelope, to)},
	    {"cc", offsetof(struct mime_envelope, cc)},
	    {"bcc", offsetof(struct mime_envelope, bcc)},
	    {"in-reply-to", offsetof(struct mime_envelope, in_reply_to)},
	    {"message-id", offsetof(struct mime_envelope, message_id)},
	};

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (strcasecmp(name, fields[i].name) == 0)
			return (char **)((char *)env + fields[i].offset);
	}
	return NULL;
}

static void header_field(struct mime_part *part, const char *name, const char *value)
{
	char **env;

	if (strncasecmp(name, "content-", 8) == 0) {
		const char *n = name + 8;

		if (strcasecmp(n, "type") == 0 && part->type == NULL)
			parse_content_type(part, value);
		else if (strcasecmp(n, "transfer-encoding") == 0 && part->encoding == NULL)
			parse_encoding(part, value);
		else if (strcasecmp(n, "disposition") == 0 && part->disposition == NULL)
			parse_disposition(part, value);
		else if (strcasecmp(n, "language") == 0 && part->languages == NULL)
			parse_languages(part, value);
		else if (strcasecmp(n, "id") == 0)
			set_once(&part->id, value);
		else if (strcasecmp(n, "description") == 0)
			set_once(&part->description, value);
		else if (strcasecmp(n, "md5") == 0)
			set_once(&part->md5, value);
		else if (strcasecmp(n, "location") == 0)
			set_once(&part->location, value);
		return;
	}
	if (part->envelope != NULL && (env = envelope_field(part->envelope, name)) != NULL)
		set_once(env, value);
}

/* Emits the field collected in name/value (unfolded), trimmed of outer whitespace. */
static void field_flush(struct mime_part *part, struct buf *name, struct buf *value)
{
	const char *v = value->data != NULL ? value->data : "";
	size_t len = value->len;

	if (name->len > 0) {
		while (len > 0 && is_wsp(v[len - 1]))
			len--;
		while (len > 0 && is_wsp(*v)) {
			v++;
			len--;
		}
		{
			char *tmp = xstrndup(v, len);

			header_field(part, name->data, tmp);
			xfree(&tmp);
		}
	}
	buf_reset(name);
	buf_reset(value);
}

static void field_start(struct buf *name, struct buf *value, const char *line, size_t len)
{
	const char *colon = memchr(line, ':', len);
	size_t nlen;

	if (colon == NULL)
		return;
	nlen = (size_t)(colon - line);
	while (nlen > 0 && (line[nlen - 1] == ' ' || line[nlen - 1] == '\t'))
		nlen--;
	if (nlen == 0 || memchr(line, ' ', nlen) != NULL || memchr(line, '\0', nlen) != NULL)
		return;
	buf_append(name, line, nlen);
	buf_append(value, colon + 1, len - (size_t)(colon - line) - 1);
}

static void part_parse_header(struct mime_part *part, const char *hdr, size_t len, bool message)
{
	struct buf name, value;
	size_t pos = 0;

	if (message)
		part->envelope = xcalloc(1, sizeof(*part->envelope));
	buf_init(&name);
	buf_init(&value);
	while (pos < len) {
		const char *line = hdr + pos, *lf = memchr(line, '\n', len - pos);
		size_t n = lf != NULL ? (size_t)(lf - line) : len - pos;

		pos += n + (lf != NULL);
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (n > 0 && (line[0] == ' ' || line[0] == '\t')) {
			if (name.len > 0)
				buf_append(&value, line, n);
			continue;
		}
		field_flush(part, &name, &value);
		field_start(&name, &value, line, n);
	}
	field_flush(part, &name, &value);
	buf_free(&name);
	buf_free(&value);
}
