/* Unit tests for server/imap/imap-parser.c: every input is fed at once, byte at a time and in odd
 * chunk sizes, and all feedings must give the same result. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/buf.h"
#include "common/xalloc.h"
#include "server/imap/imap-parser.h"
#include "server/imap/imap-parser-test.h"
#include "server/imap/imap-seqset.h"

#include <stdio.h>
#include <string.h>

static void render_arg(struct buf *out, const struct imap_arg *arg);

static void render_list(struct buf *out, const struct imap_arg *list, unsigned int count)
{
	buf_append_str(out, "(");
	for (unsigned int i = 0; i < count; i++) {
		if (i > 0)
			buf_append_str(out, " ");
		render_arg(out, &list[i]);
	}
	buf_append_str(out, ")");
}

static void render_section(struct buf *out, const struct imap_arg *arg)
{
	buf_printf(out, "%s[%s", arg->str, arg->section);
	if (arg->count > 0) {
		buf_append_str(out, " ");
		render_list(out, arg->list, arg->count);
	}
	buf_append_str(out, "]");
	if (arg->has_partial)
		buf_printf(out, "<%llu.%llu>", (unsigned long long)arg->partial_offset,
		           (unsigned long long)arg->partial_size);
}

/* A debug form: atoms bare, NIL as NIL, strings as "...", literals as {n}data. */
static void render_arg(struct buf *out, const struct imap_arg *arg)
{
	switch (arg->type) {
	case IMAP_ARG_ATOM:
	case IMAP_ARG_NIL:
		buf_append_str(out, arg->str);
		break;
	case IMAP_ARG_STRING:
		buf_printf(out, "\"%s\"", arg->str);
		break;
	case IMAP_ARG_LITERAL:
		buf_printf(out, "%s{%zu%s}", arg->literal8 ? "~" : "", arg->str_len,
		           arg->literal_sync ? "" : "+");
		buf_append(out, arg->str, arg->str_len);
		break;
	case IMAP_ARG_LITERAL_TAKEN:
		buf_printf(out, "%s{%zu%s}<taken>", arg->literal8 ? "~" : "", arg->str_len,
		           arg->literal_sync ? "" : "+");
		break;
	case IMAP_ARG_LIST:
		render_list(out, arg->list, arg->count);
		break;
	case IMAP_ARG_SECTION:
		render_section(out, arg);
		break;
	}
}

struct outcome {
	char *text;      /* "tag name (args)" or "ERROR: msg" */
	size_t consumed; /* octets consumed until the result */
	char *literals;  /* sizes announced by LITERAL results, e.g. "5s 3n " */
	bool fatal;
};

static void outcome_free(struct outcome *o)
{
	xfree(&o->text);
	xfree(&o->literals);
}

static void render_result(struct imap_parser *p, enum imap_parse_result r, struct buf *out)
{
	if (r == IMAP_PARSE_ERROR) {
		buf_printf(out, "ERROR: %s", imap_parser_error(p));
		return;
	}
	if (r != IMAP_PARSE_DONE) {
		buf_append_str(out, "INCOMPLETE");
		return;
	}
	buf_printf(out, "%s %s ", imap_parser_tag(p), imap_parser_name(p));
	render_arg(out, imap_parser_args(p));
}

/* Feeds input in chunks of `chunk` octets (0 = all at once) until DONE or ERROR, accepting every
 * literal. */
static struct outcome parse_chunked(struct imap_parser *p, const char *input, size_t len,
                                    size_t chunk)
{
	struct outcome o = {0};
	struct buf lits, out;
	enum imap_parse_result r = IMAP_PARSE_NEED_MORE;
	size_t pos = 0;

	buf_init(&lits);
	buf_init(&out);
	buf_append_str(&lits, "");
	while (pos < len || r == IMAP_PARSE_LITERAL) {
		size_t n = chunk == 0 || len - pos < chunk ? len - pos : chunk, used;

		r = imap_parser_feed(p, input + pos, n, &used);
		assert_true(used <= n);
		pos += used;
		if (r == IMAP_PARSE_LITERAL) {
			buf_printf(&lits, "%llu%s ",
			           (unsigned long long)imap_parser_literal_size(p),
			           imap_parser_literal_is_sync(p) ? "s" : "n");
			continue;
		}
		if (r != IMAP_PARSE_NEED_MORE)
			break;
		assert_int_equal(used, n);
	}
	render_result(p, r, &out);
	o.text = xstrdup(out.data);
	o.literals = xstrdup(lits.data);
	o.consumed = pos;
	o.fatal = r == IMAP_PARSE_ERROR && imap_parser_error_is_fatal(p);
	buf_free(&lits);
	buf_free(&out);
	return o;
}

/* Parses with several chunkings; all must agree. Returns the at-once outcome. */
static struct outcome parse_lim(const char *input, size_t len, const struct imap_parser_limits *lim)
{
	static const size_t chunks[] = {1, 2, 3, 7, 64};
	struct imap_parser *p = imap_parser_new(lim);
	struct outcome whole = parse_chunked(p, input, len, 0);

	imap_parser_free(&p);
	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		struct outcome o;

		p = imap_parser_new(lim);
		o = parse_chunked(p, input, len, chunks[i]);
		imap_parser_free(&p);
		if (strcmp(o.text, whole.text) != 0)
			fail_msg("chunk %zu: '%s' != '%s'", chunks[i], o.text, whole.text);
		assert_string_equal(o.literals, whole.literals);
		assert_int_equal(o.consumed, whole.consumed);
		assert_int_equal(o.fatal, whole.fatal);
		outcome_free(&o);
	}
	return whole;
}

static void check(const char *input, const char *expected)
{
	struct outcome o = parse_lim(input, strlen(input), &imap_parser_limits_default);

	assert_string_equal(o.text, expected);
	outcome_free(&o);
}

static void test_simple(void **state)
{
	check("a1 NOOP\r\n", "a1 NOOP ()");
	check("a1 noop\n", "a1 noop ()");
	check("A.B] CAPABILITY\r\n", "A.B] CAPABILITY ()");
	check("x LOGIN user \"p a\\\"s\\\\s\"\r\n", "x LOGIN (user \"p a\"s\\s\")");
	check("x LIST \"\" *\r\n", "x LIST (\"\" *)");
	check("x LIST \"\" %/foo\r\n", "x LIST (\"\" %/foo)");
	check("x SELECT \"Entw\xc3\xbcrfe\"\r\n", "x SELECT (\"Entw\xc3\xbcrfe\")");
}

static void test_nil_and_lists(void **state)
{
	check("t STORE 1:3,5 +FLAGS.SILENT (\\Seen \\Deleted)\r\n",
	      "t STORE (1:3,5 +FLAGS.SILENT (\\Seen \\Deleted))");
	check("t ID NIL\r\n", "t ID (NIL)");
	check("t ID (\"name\" \"x\" \"version\" nil)\r\n",
	      "t ID ((\"name\" \"x\" \"version\" nil))");
	check("t X () ((a) (b c)) (())\r\n", "t X (() ((a) (b c)) (()))");
	check("t STATUS INBOX (MESSAGES UIDNEXT)\r\n", "t STATUS (INBOX (MESSAGES UIDNEXT))");
}

static void test_nil_type(void **state)
{
	struct imap_parser *p = imap_parser_new(&imap_parser_limits_default);
	const char *in = "t ID nil \"NIL\" NILS\r\n";
	const struct imap_arg *args;
	const char *s;
	size_t used;

	assert_int_equal(imap_parser_feed(p, in, strlen(in), &used), IMAP_PARSE_DONE);
	args = imap_parser_args(p);
	assert_int_equal(args->count, 3);
	assert_int_equal(args->list[0].type, IMAP_ARG_NIL);
	assert_true(imap_arg_get_nstring(&args->list[0], &s));
	assert_null(s);
	assert_true(imap_arg_get_astring(&args->list[0], &s));
	assert_string_equal(s, "nil");
	assert_int_equal(args->list[1].type, IMAP_ARG_STRING);
	assert_true(imap_arg_get_nstring(&args->list[1], &s));
	assert_string_equal(s, "NIL");
	assert_false(imap_arg_get_atom(&args->list[1], &s));
	assert_int_equal(args->list[2].type, IMAP_ARG_ATOM);
	assert_false(imap_arg_get_string(&args->list[2], &s));
	imap_parser_free(&p);
}

static void test_literals(void **state)
{
	const char in[] = "a APPEND INBOX (\\Seen) {12}\r\nhello\r\nworld\r\n";
	const char plus[] = "a LOGIN {4+}\r\nuser {3+}\r\np\0w\r\n";
	const char zero[] = "a X {0}\r\n {0+}\r\n\r\n";
	struct outcome o = parse_lim(in, sizeof(in) - 1, &imap_parser_limits_default);

	assert_string_equal(o.text, "a APPEND (INBOX (\\Seen) {12}hello\r\nworld)");
	assert_string_equal(o.literals, "12s ");
	assert_int_equal(o.consumed, sizeof(in) - 1);
	outcome_free(&o);

	o = parse_lim(plus, sizeof(plus) - 1, &imap_parser_limits_default);
	assert_int_equal(strncmp(o.text, "a LOGIN ({4+}user {3+}p", 23), 0);
	assert_string_equal(o.literals, "4n 3n ");
	outcome_free(&o);

	o = parse_lim(zero, sizeof(zero) - 1, &imap_parser_limits_default);
	assert_string_equal(o.text, "a X ({0} {0+})");
	assert_string_equal(o.literals, "0s 0n ");
	outcome_free(&o);
}

/* RFC 3516 literal8: ~{n} (and ~{n+}); a '~' not before '{' is an atom character. */
static void test_literal8(void **state)
{
	const char nul[] = "a APPEND INBOX ~{5}\r\nh\0l\r\n\r\n";
	struct imap_parser *p = imap_parser_new(&imap_parser_limits_default);
	const struct imap_arg *args;
	const char *s;
	size_t used;
	struct outcome o;

	check("a APPEND INBOX (\\Seen) ~{3}\r\nabc ~{2+}\r\nde\r\n",
	      "a APPEND (INBOX (\\Seen) ~{3}abc ~{2+}de)");
	check("a STORE 1 +FLAGS (~foo ~ a~{1})\r\n", "a STORE (1 +FLAGS (~foo ~ a~{1}))");
	check("a X ~\r\n", "a X (~)");
	check("a X ~~{1}\r\n", "a X (~~{1})");
	check("a X ~{1a}\r\n", "ERROR: Invalid literal size");
	check("a X ~ {1}\r\nb\r\n", "a X (~ {1}b)");
	/* before login no literal of either kind */
	o = parse_lim("a LOGIN ~{3}\r\n", 14, &imap_parser_limits_prelogin);
	assert_string_equal(o.text, "ERROR: Literals are not allowed before login");
	outcome_free(&o);
	/* its octets are kept, NUL and CRLF included; it is not a string */
	assert_int_equal(imap_parser_feed(p, nul, 21, &used), IMAP_PARSE_LITERAL);
	assert_true(imap_parser_literal_is_binary(p));
	assert_int_equal(imap_parser_feed(p, nul + used, sizeof(nul) - 1 - used, &used),
	                 IMAP_PARSE_DONE);
	args = imap_parser_args(p);
	assert_int_equal(args->list[1].type, IMAP_ARG_LITERAL);
	assert_true(args->list[1].literal8);
	assert_int_equal(args->list[1].str_len, 5);
	assert_memory_equal(args->list[1].str, "h\0l\r\n", 5);
	assert_false(imap_arg_get_string(&args->list[1], &s));
	assert_false(imap_arg_get_astring(&args->list[1], &s));
	assert_false(imap_arg_get_nstring(&args->list[1], &s));
	assert_true(imap_arg_get_astring(&args->list[0], &s));
	imap_parser_free(&p);
}

static void test_literal_nul_kept(void **state)
{
	struct imap_parser *p = imap_parser_new(&imap_parser_limits_default);
	const char in[] = "a LOGIN u {3+}\r\np\0w\r\n";
	const struct imap_arg *args;
	size_t used, pos = 0;
	enum imap_parse_result r;

	r = imap_parser_feed(p, in, sizeof(in) - 1, &used);
	assert_int_equal(r, IMAP_PARSE_LITERAL);
	pos += used;
	r = imap_parser_feed(p, in + pos, sizeof(in) - 1 - pos, &used);
	assert_int_equal(r, IMAP_PARSE_DONE);
	args = imap_parser_args(p);
	assert_int_equal(args->list[1].type, IMAP_ARG_LITERAL);
	assert_int_equal(args->list[1].str_len, 3);
	assert_memory_equal(args->list[1].str, "p\0w", 3);
	assert_false(args->list[1].literal_sync);
	imap_parser_free(&p);
}

/* The size of a synchronising literal is known before any of its data is sent, so APPENDLIMIT can
 * be enforced; refusing it leaves the parser ready for the next command. */
static void test_literal_refused_by_caller(void **state)
{
	struct imap_parser *p = imap_parser_new(&imap_parser_limits_default);
	const char *in = "a APPEND INBOX {30000000}\r\n";
	const char *next = "b NOOP\r\n";
	size_t used;

	assert_int_equal(imap_parser_feed(p, in, strlen(in), &used), IMAP_PARSE_LITERAL);
	assert_int_equal(used, strlen(in));
	assert_int_equal(imap_parser_literal_size(p), 30000000);
	assert_true(imap_parser_literal_is_sync(p));
	assert_string_equal(imap_parser_tag(p), "a");
	assert_string_equal(imap_parser_name(p), "APPEND");
	imap_parser_reset(p);
	assert_int_equal(imap_parser_feed(p, next, strlen(next), &used), IMAP_PARSE_DONE);
	assert_string_equal(imap_parser_tag(p), "b");
	imap_parser_free(&p);
}

/* APPEND's message: the caller reads the data itself; the parser goes on after it, and only
 * literals it holds count in the command's size. Byte at a time too. */
static void test_literal_taken_by_caller(void **state)
{
	static const char in[] = "a APPEND INBOX (\\Seen) {11}\r\nqz7xv-taken {3+}\r\nabc\r\n";
	static const size_t chunks[] = {1, 5, sizeof(in)};

	for (size_t k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++) {
		struct imap_parser *p = imap_parser_new(&imap_parser_limits_default);
		enum imap_parse_result r = IMAP_PARSE_NEED_MORE;
		unsigned index, literals = 0;
		size_t pos = 0, used;
		struct buf out;

		while (r != IMAP_PARSE_DONE) {
			size_t n =
			    sizeof(in) - 1 - pos < chunks[k] ? sizeof(in) - 1 - pos : chunks[k];

			r = imap_parser_feed(p, in + pos, n, &used);
			pos += used;
			assert_true(r != IMAP_PARSE_ERROR);
			if (r != IMAP_PARSE_LITERAL || literals++ > 0)
				continue;
			assert_true(imap_parser_literal_top_level(p, &index));
			assert_int_equal(index, 2);
			assert_int_equal(imap_parser_command_size(p), 29); /* the line so far */
			assert_int_equal(imap_parser_literal_taken(p), IMAP_PARSE_NEED_MORE);
			pos += 11; /* the message, read by the caller */
		}
		assert_int_equal(literals, 2);
		/* the line without the taken literal's data, and the held literal's */
		assert_int_equal(imap_parser_command_size(p), sizeof(in) - 1 - 11);
		buf_init(&out);
		render_result(p, r, &out);
		assert_string_equal(out.data, "a APPEND (INBOX (\\Seen) {11}<taken> {3+}abc)");
		buf_free(&out);
		imap_parser_free(&p);
	}
}

/* The command's size counts each octet of its line once, a token being read included. */
static void test_command_size(void **state)
{
	struct imap_parser *p = imap_parser_new(&imap_parser_limits_default);
	const char *in = "a NOOP abcdef";
	size_t used;

	assert_int_equal(imap_parser_feed(p, in, strlen(in), &used), IMAP_PARSE_NEED_MORE);
	assert_int_equal(imap_parser_command_size(p), strlen(in));
	imap_parser_free(&p);
}

/* A literal inside a list is not the command's own argument; taking one that is not announced
 * is an error, not a crash. */
static void test_literal_taken_misuse(void **state)
{
	struct imap_parser *p = imap_parser_new(&imap_parser_limits_default);
	const char *in = "a X ({2}\r\n";
	unsigned index;
	size_t used;

	assert_int_equal(imap_parser_literal_taken(p), IMAP_PARSE_ERROR);
	imap_parser_free(&p);
	p = imap_parser_new(&imap_parser_limits_default);
	assert_int_equal(imap_parser_feed(p, in, strlen(in), &used), IMAP_PARSE_LITERAL);
	assert_false(imap_parser_literal_top_level(p, &index));
	assert_int_equal(imap_parser_literal_taken(p), IMAP_PARSE_NEED_MORE);
	assert_int_equal(imap_parser_literal_taken(p), IMAP_PARSE_ERROR);
	assert_string_equal(imap_parser_error(p), "No literal to take");
	imap_parser_free(&p);
}

static void test_sections(void **state)
{
	check("a FETCH 1 (BODY[1.2.HEADER.FIELDS (From To)]<0.100>)\r\n",
	      "a FETCH (1 (BODY[1.2.HEADER.FIELDS (From To)]<0.100>))");
	check("a FETCH 1:* (FLAGS BODY.PEEK[] BODY[TEXT] body[1.mime] BINARY[1.2]<5.10>)\r\n",
	      "a FETCH (1:* (FLAGS BODY.PEEK[] BODY[TEXT] body[1.mime] BINARY[1.2]<5.10>))");
	check("a FETCH 2 BODY.PEEK[HEADER.FIELDS.NOT (\"X-A\" {3}\r\nX-B)]\r\n",
	      "a FETCH (2 BODY.PEEK[HEADER.FIELDS.NOT (\"X-A\" {3}X-B)])");
	check("a FETCH 2 BODY[3.HEADER] BINARY.SIZE[1]\r\n",
	      "a FETCH (2 BODY[3.HEADER] BINARY.SIZE[1])");
	/* '[' is an ordinary atom character elsewhere */
	check("a SELECT foo[bar]\r\n", "a SELECT (foo[bar])");
}

static void test_section_fields(void **state)
{
	struct imap_parser *p = imap_parser_new(&imap_parser_limits_default);
	const char *in = "a FETCH 1 BODY.PEEK[4.2.HEADER.FIELDS (From To)]<7.20>\r\n";
	const struct imap_arg *sec;
	size_t used;

	assert_int_equal(imap_parser_feed(p, in, strlen(in), &used), IMAP_PARSE_DONE);
	sec = &imap_parser_args(p)->list[1];
	assert_int_equal(sec->type, IMAP_ARG_SECTION);
	assert_string_equal(sec->str, "BODY.PEEK");
	assert_int_equal(sec->part_count, 2);
	assert_int_equal(sec->parts[0], 4);
	assert_int_equal(sec->parts[1], 2);
	assert_int_equal(sec->text, IMAP_SECTION_HEADER_FIELDS);
	assert_int_equal(sec->count, 2);
	assert_string_equal(sec->list[1].str, "To");
	assert_true(sec->has_partial);
	assert_int_equal(sec->partial_offset, 7);
	assert_int_equal(sec->partial_size, 20);
	imap_parser_free(&p);
}

static void test_section_errors(void **state)
{
	check("a FETCH 1 BODY[0]\r\n", "ERROR: Invalid section");
	check("a FETCH 1 BODY[1.]\r\n", "ERROR: Invalid section");
	check("a FETCH 1 BODY[MIME]\r\n", "ERROR: Invalid section");
	check("a FETCH 1 BODY[HEADER.FIELDS]\r\n", "ERROR: Missing header list");
	check("a FETCH 1 BODY[HEADER.FIELDS ()]\r\n", "ERROR: Empty header list");
	check("a FETCH 1 BODY[HEADER.FIELDS (a (b))]\r\n", "ERROR: Invalid header list");
	check("a FETCH 1 BODY[TEXT (a)]\r\n", "ERROR: Invalid section");
	check("a FETCH 1 BINARY[TEXT]\r\n", "ERROR: Invalid section");
	check("a FETCH 1 BODY[]<0.0>\r\n", "ERROR: Invalid partial");
	check("a FETCH 1 BODY[]<5>\r\n", "ERROR: Invalid partial");
	check("a FETCH 1 BODY[FOO]\r\n", "ERROR: Invalid section");
	check("a FETCH 1 BODY[1.2\r\n", "ERROR: Invalid section");
	check("a FETCH 1 BODY[]x\r\n", "ERROR: Missing space between arguments");
}

static void test_syntax_errors(void **state)
{
	check(" NOOP\r\n", "ERROR: Missing tag");
	check("a\r\n", "ERROR: Missing command name");
	check("a+ NOOP\r\n", "ERROR: Invalid characters in tag");
	check("a NOOP \r\n", "ERROR: Unexpected space at end of line");
	check("a X  b\r\n", "ERROR: Unexpected space");
	check("a X (b\r\n", "ERROR: Missing ')'");
	check("a X b)\r\n", "ERROR: Unexpected ')'");
	check("a X (b))\r\n", "ERROR: Unexpected ')'");
	check("a X \"abc\r\n", "ERROR: Missing '\"'");
	check("a X \"a\\bc\"\r\n", "ERROR: Invalid escape in quoted string");
	check("a X \"a\"\"b\"\r\n", "ERROR: Missing space between arguments");
	check("a X b(c)\r\n", "ERROR: Invalid characters in atom");
	check("a X {12a}\r\n", "ERROR: Invalid literal size");
	check("a X {}\r\n", "ERROR: Invalid literal size");
	check("a X {3}x\r\n", "ERROR: Missing line end after literal size");
	check("a X \x01\r\n", "ERROR: Invalid characters in atom");
	check("a X b\rc\r\n", "ERROR: Missing LF after CR");
	check("a X {99999999999999999999}\r\n", "ERROR: Literal size too large");
}

static void test_empty_lines_ignored(void **state)
{
	check("\r\n\n\r\na NOOP\r\n", "a NOOP ()");
}

static void test_deep_nesting(void **state)
{
	struct buf in;
	struct outcome o;

	buf_init(&in);
	buf_append_str(&in, "a X ");
	for (int i = 0; i < 10000; i++)
		buf_append_str(&in, "(");
	for (int i = 0; i < 10000; i++)
		buf_append_str(&in, ")");
	buf_append_str(&in, "\r\n");
	o = parse_lim(in.data, in.len, &imap_parser_limits_default);
	assert_string_equal(o.text, "ERROR: Too deeply nested lists");
	assert_false(o.fatal);
	outcome_free(&o);

	/* up to the limit is fine */
	buf_reset(&in);
	buf_append_str(&in, "a X ");
	for (unsigned int i = 0; i < imap_parser_limits_default.max_depth; i++)
		buf_append_str(&in, "(");
	buf_append_str(&in, "x");
	for (unsigned int i = 0; i < imap_parser_limits_default.max_depth; i++)
		buf_append_str(&in, ")");
	buf_append_str(&in, "\r\n");
	o = parse_lim(in.data, in.len, &imap_parser_limits_default);
	assert_int_equal(strncmp(o.text, "a X ((((", 8), 0);
	outcome_free(&o);
	buf_free(&in);
}

static void test_max_args(void **state)
{
	struct imap_parser_limits lim = imap_parser_limits_default;
	struct outcome o;

	lim.max_args = 3;
	o = parse_lim("a X 1 2 3\r\n", 11, &lim);
	assert_string_equal(o.text, "a X (1 2 3)");
	outcome_free(&o);
	/* a list counts as one argument besides its elements */
	o = parse_lim("a X 1 (2)\r\n", 11, &lim);
	assert_string_equal(o.text, "a X (1 (2))");
	outcome_free(&o);
	o = parse_lim("a X 1 (2 3)\r\n", 13, &lim);
	assert_string_equal(o.text, "ERROR: Too many arguments");
	outcome_free(&o);
}

static void test_prelogin_limits(void **state)
{
	const struct imap_parser_limits *pre = &imap_parser_limits_prelogin;
	const char *sync = "a LOGIN {5}\r\n";
	const char *nonsync = "a LOGIN {5+}\r\nuser\r\n";
	struct outcome o = parse_lim(sync, strlen(sync), pre);
	struct buf in;

	/* refused after its header, before any data: the client waits for "+" */
	assert_string_equal(o.text, "ERROR: Literals are not allowed before login");
	assert_string_equal(o.literals, "");
	assert_int_equal(o.consumed, strlen(sync));
	assert_false(o.fatal);
	outcome_free(&o);

	o = parse_lim(nonsync, strlen(nonsync), pre);
	assert_string_equal(o.text, "ERROR: Literals are not allowed before login");
	assert_true(o.fatal);
	outcome_free(&o);

	buf_init(&in);
	buf_append_str(&in, "a LOGIN ");
	for (int i = 0; i < 9000; i++)
		buf_append_str(&in, "x");
	buf_append_str(&in, " y\r\n");
	o = parse_lim(in.data, in.len, pre);
	assert_string_equal(o.text, "ERROR: Line too long");
	assert_true(o.fatal);
	assert_int_equal(o.consumed, 8193);
	outcome_free(&o);
	buf_free(&in);
}

static void test_literal_limit(void **state)
{
	struct imap_parser_limits lim = imap_parser_limits_default;
	struct outcome o;

	lim.max_literal = 10;
	o = parse_lim("a X {10}\r\n0123456789\r\n", 22, &lim);
	assert_string_equal(o.text, "a X ({10}0123456789)");
	outcome_free(&o);
	o = parse_lim("a X {11}\r\n", 10, &lim);
	assert_string_equal(o.text, "ERROR: Literal too large");
	assert_false(o.fatal);
	outcome_free(&o);
}

static void test_set_limits_after_login(void **state)
{
	struct imap_parser *p = imap_parser_new(&imap_parser_limits_prelogin);
	const char *in = "a LOGIN u p\r\nb APPEND INBOX {2}\r\n";
	size_t used, pos = 0;

	assert_int_equal(imap_parser_feed(p, in, strlen(in), &used), IMAP_PARSE_DONE);
	pos += used;
	imap_parser_set_limits(p, &imap_parser_limits_default);
	assert_int_equal(imap_parser_feed(p, in + pos, strlen(in) - pos, &used),
	                 IMAP_PARSE_LITERAL);
	imap_parser_free(&p);
}

static void test_pipelining_and_recovery(void **state)
{
	struct imap_parser *p = imap_parser_new(&imap_parser_limits_default);
	const char *in = "a NOOP\r\nb X (\"unterminated\r\nc X (1 2\r\nd CHECK\r\n";
	size_t len = strlen(in), pos = 0, used;

	assert_int_equal(imap_parser_feed(p, in, len, &used), IMAP_PARSE_DONE);
	assert_int_equal(used, 8);
	pos += used;
	assert_int_equal(imap_parser_feed(p, in + pos, len - pos, &used), IMAP_PARSE_ERROR);
	assert_string_equal(imap_parser_tag(p), "b");
	assert_false(imap_parser_error_is_fatal(p));
	pos += used;
	/* the rest of b's line is skipped, then c fails at its line end */
	assert_int_equal(imap_parser_feed(p, in + pos, len - pos, &used), IMAP_PARSE_ERROR);
	assert_string_equal(imap_parser_tag(p), "c");
	assert_string_equal(imap_parser_error(p), "Missing ')'");
	pos += used;
	assert_int_equal(imap_parser_feed(p, in + pos, len - pos, &used), IMAP_PARSE_DONE);
	assert_string_equal(imap_parser_tag(p), "d");
	assert_int_equal(pos + used, len);
	imap_parser_free(&p);
}

static void test_seqset(void **state)
{
	struct imap_seq_range *r = NULL;
	unsigned int n;
	const char *error;

	assert_int_equal(imap_seqset_parse("1,3:5,9:*,*,7:2,4294967295", &r, &n, &error), 1);
	assert_int_equal(n, 6);
	assert_int_equal(r[0].lo, 1);
	assert_int_equal(r[0].hi, 1);
	assert_int_equal(r[1].lo, 3);
	assert_int_equal(r[1].hi, 5);
	assert_int_equal(r[2].lo, 9);
	assert_int_equal(r[2].hi, IMAP_SEQ_STAR);
	assert_int_equal(r[3].lo, IMAP_SEQ_STAR);
	assert_int_equal(r[4].lo, 2);
	assert_int_equal(r[4].hi, 7);
	assert_int_equal(r[5].hi, 4294967295u);
	assert_true(imap_seqset_contains(r, n, 4, 100));
	assert_false(imap_seqset_contains(r, n, 8, 100));
	assert_true(imap_seqset_contains(r, n, 100, 100));
	xfree(&r);

	/* the largest number is a number, never '*' */
	assert_int_equal(imap_seqset_parse("4294967295", &r, &n, &error), 1);
	assert_true(r[0].lo != IMAP_SEQ_STAR && r[0].hi != IMAP_SEQ_STAR);
	assert_false(imap_seqset_contains(r, n, 7, 7));
	assert_true(imap_seqset_contains(r, n, 4294967295u, 7));
	xfree(&r);
	assert_int_equal(imap_seqset_parse("10:4294967295", &r, &n, &error), 1);
	assert_false(imap_seqset_contains(r, n, 7, 7));
	assert_true(imap_seqset_contains(r, n, 10, 7));
	xfree(&r);
	assert_int_equal(imap_seqset_parse("10:*", &r, &n, &error), 1);
	assert_true(imap_seqset_contains(r, n, 7, 7)); /* n:* always holds the last */
	xfree(&r);

	assert_int_equal(imap_seqset_parse("*:3", &r, &n, &error), 1);
	assert_false(imap_seqset_contains(r, n, 2, 10));
	assert_true(imap_seqset_contains(r, n, 10, 10));
	assert_true(imap_seqset_contains(r, n, 3, 2)); /* '*' = 2 makes 2:3 */
	assert_true(imap_seqset_contains(r, n, 2, 2));
	assert_false(imap_seqset_contains(r, n, 4, 2));
	xfree(&r);

	static const char *const bad[] = {"",    "0", "1,",         "1:",   ",1", "1::2", "$",
	                                  "1:0", "a", "4294967296", "1,,2", " 1", "1 ",   "01"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = NULL;
		if (imap_seqset_parse(bad[i], &r, &n, &error) != -1)
			fail_msg("accepted '%s'", bad[i]);
		assert_string_equal(error, "Invalid sequence set");
		assert_null(r);
	}
}

#define SECRET_PW "s3cretPW-long-enough-to-grow-the-token-buffer-0123456789abcdefghijklmnopq"

/* Feeds in one go or byte at a time; returns the last result. */
static enum imap_parse_result feed_all(struct imap_parser *p, const char *in, bool bytewise)
{
	size_t len = strlen(in), pos = 0, used;
	enum imap_parse_result r = IMAP_PARSE_NEED_MORE;

	while (pos < len) {
		r = imap_parser_feed(p, in + pos, bytewise ? 1 : len - pos, &used);
		pos += used;
		if (r == IMAP_PARSE_ERROR)
			break;
	}
	return r;
}

/* No run of the secret's bytes (minus the first, which a reset may overwrite) stays behind. */
static void assert_not_held(const struct imap_parser *p, const char *secret)
{
	assert_false(imap_parser_holds(p, secret, strlen(secret)));
	assert_false(imap_parser_holds(p, secret + 1, strlen(secret) - 1));
	assert_false(imap_parser_holds(p, secret + strlen(secret) - 8, 8));
}

static void test_prelogin_reset_wipes_password(void **state)
{
	static const char *const lines[] = {
	    "a LOGIN alice \"" SECRET_PW "\"\r\n",
	    "a LOGIN alice " SECRET_PW "\r\n",
	    "a LOGIN \"alice\" (" SECRET_PW ")\r\n",
	};

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		for (int bytewise = 0; bytewise <= 1; bytewise++) {
			struct imap_parser *p = imap_parser_new(&imap_parser_limits_prelogin);

			assert_int_equal(feed_all(p, lines[i], bytewise), IMAP_PARSE_DONE);
			assert_true(imap_parser_holds(p, SECRET_PW, strlen(SECRET_PW)));
			imap_parser_reset(p);
			assert_not_held(p, SECRET_PW);
			imap_parser_free(&p);
		}
}

static void test_prelogin_authenticate_ir_wiped(void **state)
{
	/* base64 of "\0alice\0" SECRET_PW is what sits in the parser: any long run of it */
	const char *ir = "AGFsaWNlAHMzY3JldFBXLWxvbmctZW5vdWdoLXRvLWdyb3c=";
	char line[256];
	struct imap_parser *p = imap_parser_new(&imap_parser_limits_prelogin);

	snprintf(line, sizeof(line), "x AUTHENTICATE PLAIN %s\r\n", ir);
	assert_int_equal(feed_all(p, line, true), IMAP_PARSE_DONE);
	assert_true(imap_parser_holds(p, ir, strlen(ir)));
	imap_parser_reset(p);
	assert_not_held(p, ir);
	imap_parser_free(&p);
}

/* imap_parser_wipe: right after the command, before any reset; the tag stays for the reply. */
static void test_wipe_after_command(void **state)
{
	struct imap_parser *p = imap_parser_new(&imap_parser_limits_prelogin);
	const struct imap_arg *args;

	assert_int_equal(feed_all(p, "t1 LOGIN alice \"" SECRET_PW "\"\r\n", false),
	                 IMAP_PARSE_DONE);
	args = imap_parser_args(p);
	assert_int_equal(args->count, 2);
	imap_parser_wipe(p);
	assert_not_held(p, SECRET_PW);
	assert_false(imap_parser_holds(p, "alice", 5));
	assert_string_equal(imap_parser_tag(p), "t1");
	assert_int_equal(args->list[1].str_len, strlen(SECRET_PW));
	assert_int_equal(args->list[1].str[0], '\0');
	imap_parser_free(&p);
}

/* A LOGIN that fails to parse (a quoted password cut by the line end) leaves nothing either. */
static void test_prelogin_error_wipes_token(void **state)
{
	struct imap_parser *p = imap_parser_new(&imap_parser_limits_prelogin);

	assert_int_equal(feed_all(p, "a LOGIN alice \"" SECRET_PW "\r\n", true), IMAP_PARSE_ERROR);
	assert_not_held(p, SECRET_PW);
	imap_parser_reset(p);
	assert_not_held(p, SECRET_PW);
	imap_parser_free(&p);
}

/* The first command after login still gets the wipe of the login's token buffer. */
static void test_login_then_normal_mode(void **state)
{
	struct imap_parser *p = imap_parser_new(&imap_parser_limits_prelogin);

	assert_int_equal(feed_all(p, "a LOGIN alice " SECRET_PW "\r\n", false), IMAP_PARSE_DONE);
	imap_parser_set_limits(p, &imap_parser_limits_default);
	assert_int_equal(feed_all(p, "b SELECT INBOX\r\n", false), IMAP_PARSE_DONE);
	assert_not_held(p, SECRET_PW);
	assert_true(imap_parser_holds(p, "INBOX", 5));
	imap_parser_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_simple),
	    cmocka_unit_test(test_nil_and_lists),
	    cmocka_unit_test(test_nil_type),
	    cmocka_unit_test(test_literals),
	    cmocka_unit_test(test_literal_nul_kept),
	    cmocka_unit_test(test_literal8),
	    cmocka_unit_test(test_literal_refused_by_caller),
	    cmocka_unit_test(test_literal_taken_by_caller),
	    cmocka_unit_test(test_literal_taken_misuse),
	    cmocka_unit_test(test_command_size),
	    cmocka_unit_test(test_sections),
	    cmocka_unit_test(test_section_fields),
	    cmocka_unit_test(test_section_errors),
	    cmocka_unit_test(test_syntax_errors),
	    cmocka_unit_test(test_empty_lines_ignored),
	    cmocka_unit_test(test_deep_nesting),
	    cmocka_unit_test(test_max_args),
	    cmocka_unit_test(test_prelogin_limits),
	    cmocka_unit_test(test_literal_limit),
	    cmocka_unit_test(test_set_limits_after_login),
	    cmocka_unit_test(test_pipelining_and_recovery),
	    cmocka_unit_test(test_seqset),
	    cmocka_unit_test(test_prelogin_reset_wipes_password),
	    cmocka_unit_test(test_prelogin_authenticate_ir_wiped),
	    cmocka_unit_test(test_wipe_after_command),
	    cmocka_unit_test(test_prelogin_error_wipes_token),
	    cmocka_unit_test(test_login_then_normal_mode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
