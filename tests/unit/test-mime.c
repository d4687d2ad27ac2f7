/* The MIME parser (storage/mime*.c) and its IMAP rendering (server/imap/imap-bodystructure.c,
 * imap-envelope.c): structure, exact offsets/sizes/line counts, BODYSTRUCTURE and
 * ENVELOPE strings (Dovecot's conventions: lower-case defaults, CRLF sizes), RFC 2231, RFC 2047,
 * limits, and byte-at-a-time feeding. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/buf.h"
#include "common/xalloc.h"
#include "server/imap/imap-bodystructure.h"
#include "server/imap/imap-envelope.h"
#include "server/imap/imap-reply.h"
#include "storage/mime-decode.h"
#include "storage/mime.h"

#include <string.h>

static const char nested_msg[] = "From: Alice <alice@example.org>\n"
                                 "To: bob@example.net\n"
                                 "Subject: nested\n"
                                 "Date: Mon, 1 Jan 2024 10:00:00 +0000\n"
                                 "Message-ID: <m1@example.org>\n"
                                 "MIME-Version: 1.0\n"
                                 "Content-Type: multipart/mixed; boundary=\"outer\"\n"
                                 "\n"
                                 "preamble\n"
                                 "--outer\n"
                                 "Content-Type: text/plain; charset=utf-8\n"
                                 "Content-Transfer-Encoding: quoted-printable\n"
                                 "\n"
                                 "hello\n"
                                 "world\n"
                                 "\n"
                                 "--outer\n"
                                 "Content-Type: message/rfc822\n"
                                 "Content-Disposition: attachment; filename=\"fwd.eml\"\n"
                                 "\n"
                                 "From: carol@example.com\n"
                                 "Subject: inner\n"
                                 "Content-Type: multipart/alternative; boundary=inner\n"
                                 "\n"
                                 "--inner\n"
                                 "Content-Type: text/plain\n"
                                 "\n"
                                 "plain\n"
                                 "--inner\n"
                                 "Content-Type: text/html; charset=\"us-ascii\"\n"
                                 "\n"
                                 "<b>html</b>\n"
                                 "--inner--\n"
                                 "--outer\n"
                                 "Content-Type: application/octet-stream; name=data.bin\n"
                                 "Content-Transfer-Encoding: base64\n"
                                 "\n"
                                 "AAEC\n"
                                 "--outer--\n"
                                 "epilogue\n";

static const char nested_bodystructure[] =
    "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 14 2 NIL NIL NIL "
    "NIL)"
    "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 218 "
    "(NIL \"inner\" ((NIL NIL \"carol\" \"example.com\")) ((NIL NIL \"carol\" \"example.com\")) "
    "((NIL NIL \"carol\" \"example.com\")) NIL NIL NIL NIL NIL) "
    "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0 NIL NIL NIL NIL)"
    "(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 11 0 NIL NIL NIL NIL) "
    "\"alternative\" (\"boundary\" \"inner\") NIL NIL NIL) 12 "
    "NIL (\"attachment\" (\"filename\" \"fwd.eml\")) NIL NIL)"
    "(\"application\" \"octet-stream\" (\"name\" \"data.bin\") NIL NIL \"base64\" 4 "
    "NIL NIL NIL NIL) "
    "\"mixed\" (\"boundary\" \"outer\") NIL NIL NIL)";

static const char nested_body[] =
    "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 12 2)"
    "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 206 "
    "(NIL \"inner\" ((NIL NIL \"carol\" \"example.com\")) ((NIL NIL \"carol\" \"example.com\")) "
    "((NIL NIL \"carol\" \"example.com\")) NIL NIL NIL NIL NIL) "
    "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0)"
    "(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 11 0) "
    "\"alternative\") 12)"
    "(\"application\" \"octet-stream\" (\"name\" \"data.bin\") NIL NIL \"base64\" 4) "
    "\"mixed\")";

static char *render(const struct mime_part *part, enum imap_bodystructure_flags flags)
{
	struct buf b;
	char *s;

	buf_init(&b);
	imap_bodystructure_append(&b, part, flags);
	s = xstrdup(b.data);
	buf_free(&b);
	return s;
}

static char *render_env(const struct mime_envelope *env)
{
	struct buf b;
	char *s;

	buf_init(&b);
	imap_envelope_append(&b, env);
	s = xstrndup(b.data, b.len);
	buf_free(&b);
	return s;
}

static void assert_render(const struct mime_part *part, enum imap_bodystructure_flags flags,
                          const char *expected)
{
	char *s = render(part, flags);

	assert_string_equal(s, expected);
	xfree(&s);
}

static struct mime_part *parse_str(const char *msg)
{
	return mime_parse(msg, strlen(msg), NULL);
}

/* Octets of a region as a string, for comparing with what the section should serve. */
static char *slice(const char *msg, uint64_t off, uint64_t size)
{
	return xstrndup(msg + off, (size_t)size);
}

static void assert_slice(const char *msg, uint64_t off, uint64_t size, const char *expected)
{
	char *s = slice(msg, off, size);

	assert_string_equal(s, expected);
	xfree(&s);
}

static void test_simple_crlf(void **state)
{
	const char *msg = "Subject: hi\r\nFrom: a@b.c\r\n\r\nline one\r\nline two\r\n";
	struct mime_part *root = parse_str(msg);

	assert_int_equal(root->header_offset, 0);
	assert_int_equal(root->header_size, 28);
	assert_int_equal(root->body_offset, 28);
	assert_int_equal(root->body_size, 20);
	assert_int_equal(root->body_lines, 2);
	assert_int_equal(root->body_bare_lf, 0);
	assert_render(
	    root, IMAP_BODYSTRUCTURE_EXTENDED | IMAP_BODYSTRUCTURE_CRLF,
	    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 20 2 NIL NIL "
	    "NIL NIL)");
	assert_render(root, 0,
	              "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 20 2)");
	mime_part_free(&root);
	assert_null(root);
}

static void test_nested_bodystructure(void **state)
{
	struct mime_part *root = parse_str(nested_msg);

	assert_render(root, IMAP_BODYSTRUCTURE_EXTENDED | IMAP_BODYSTRUCTURE_CRLF,
	              nested_bodystructure);
	/* BODY, with raw (LF) sizes */
	assert_render(root, 0, nested_body);
	assert_int_equal(root->body_offset, 201);
	assert_int_equal(root->body_size, 533);
	assert_int_equal(root->body_lines, 32);
	assert_int_equal(root->header_bare_lf, 8);
	assert_int_equal(
	    root->body_size + root->body_bare_lf + root->header_size + root->header_bare_lf, 774);
	mime_part_free(&root);
}

static void test_nested_sections(void **state)
{
	const char *m = nested_msg;
	struct mime_part *root = parse_str(m);
	const struct mime_part *p;
	static const uint32_t n1[] = {1}, n2[] = {2}, n21[] = {2, 1}, n22[] = {2, 2}, n3[] = {3},
	                      n4[] = {4}, n23[] = {2, 3}, n11[] = {1, 1}, n12[] = {1, 2};

	p = mime_part_find(root, n1, 1);
	assert_non_null(p);
	assert_slice(m, p->body_offset, p->body_size, "hello\nworld\n");
	assert_slice(m, p->header_offset, p->header_size,
	             "Content-Type: text/plain; charset=utf-8\n"
	             "Content-Transfer-Encoding: quoted-printable\n\n");
	/* a non-multipart part is its own part 1 */
	assert_ptr_equal(mime_part_find(root, n11, 2), p);
	assert_null(mime_part_find(root, n12, 2));

	p = mime_part_find(root, n2, 1);
	assert_true(p->message_rfc822);
	assert_int_equal(p->body_lines, 12);
	/* [2.HEADER] and [2.TEXT] are the embedded message's header and body */
	assert_slice(m, p->children->header_offset, p->children->header_size,
	             "From: carol@example.com\nSubject: inner\n"
	             "Content-Type: multipart/alternative; boundary=inner\n\n");
	assert_int_equal(p->children->body_offset + p->children->body_size,
	                 p->body_offset + p->body_size);

	p = mime_part_find(root, n21, 2);
	assert_slice(m, p->body_offset, p->body_size, "plain");
	assert_slice(m, p->header_offset, p->header_size, "Content-Type: text/plain\n\n");
	p = mime_part_find(root, n22, 2);
	assert_slice(m, p->body_offset, p->body_size, "<b>html</b>");
	assert_null(mime_part_find(root, n23, 2));
	p = mime_part_find(root, n3, 1);
	assert_slice(m, p->body_offset, p->body_size, "AAEC");
	assert_null(mime_part_find(root, n4, 1));
	assert_ptr_equal(mime_part_find(root, NULL, 0), root);
	mime_part_free(&root);
}

/* A message whose top-level type is message/rfc822 (RFC 3501 6.4.5): its body is part 1 (the
 * enclosed message, header and all), and the enclosed message's parts are 1.1, 1.2, ... */
static void test_top_level_message_rfc822_sections(void **state)
{
	static const char m[] = "Subject: outer\n"
	                        "Content-Type: message/rfc822\n"
	                        "\n"
	                        "Subject: inner\n"
	                        "Content-Type: multipart/mixed; boundary=b\n"
	                        "\n"
	                        "--b\n"
	                        "\n"
	                        "one\n"
	                        "--b\n"
	                        "Content-Type: message/rfc822\n"
	                        "\n"
	                        "Subject: deepest\n"
	                        "\n"
	                        "two\n"
	                        "--b--\n";
	static const uint32_t n1[] = {1}, n11[] = {1, 1}, n12[] = {1, 2}, n121[] = {1, 2, 1},
	                      n13[] = {1, 3}, n2[] = {2};
	struct mime_part *root = parse_str(m);
	const struct mime_part *p;

	(void)state;
	p = mime_part_find(root, n1, 1);
	assert_ptr_equal(p, root);
	assert_true(p->message_rfc822);
	/* BODY[1] is the enclosed message; [1.HEADER] / [1.TEXT] its header and body */
	assert_slice(m, p->body_offset, p->body_size,
	             "Subject: inner\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\none\n"
	             "--b\nContent-Type: message/rfc822\n\nSubject: deepest\n\ntwo\n--b--\n");
	assert_slice(m, p->children->header_offset, p->children->header_size,
	             "Subject: inner\nContent-Type: multipart/mixed; boundary=b\n\n");
	p = mime_part_find(root, n11, 2);
	assert_non_null(p);
	assert_slice(m, p->body_offset, p->body_size, "one");
	p = mime_part_find(root, n12, 2);
	assert_true(p->message_rfc822);
	assert_slice(m, p->body_offset, p->body_size, "Subject: deepest\n\ntwo");
	p = mime_part_find(root, n121, 3);
	assert_non_null(p);
	assert_slice(m, p->body_offset, p->body_size, "two");
	assert_null(mime_part_find(root, n13, 2));
	assert_null(mime_part_find(root, n2, 1));
	mime_part_free(&root);
}

static void assert_same_tree(const struct mime_part *a, const struct mime_part *b)
{
	assert_int_equal(a->header_offset, b->header_offset);
	assert_int_equal(a->header_size, b->header_size);
	assert_int_equal(a->header_bare_lf, b->header_bare_lf);
	assert_int_equal(a->body_offset, b->body_offset);
	assert_int_equal(a->body_size, b->body_size);
	assert_int_equal(a->body_lines, b->body_lines);
	assert_int_equal(a->body_bare_lf, b->body_bare_lf);
	assert_int_equal(a->child_count, b->child_count);
	for (a = a->children, b = b->children; a != NULL; a = a->next, b = b->next)
		assert_same_tree(a, b);
}

static void test_chunked_feeding(void **state)
{
	static const size_t chunks[] = {1, 2, 3, 5, 64};
	struct mime_part *whole = parse_str(nested_msg);
	char *expected = render(whole, IMAP_BODYSTRUCTURE_EXTENDED);

	for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
		struct mime_parser *p = mime_parser_new(NULL);
		struct mime_part *root;
		char *got;
		size_t len = strlen(nested_msg);

		for (size_t pos = 0; pos < len; pos += chunks[c])
			mime_parser_feed(p, nested_msg + pos,
			                 len - pos < chunks[c] ? len - pos : chunks[c]);
		root = mime_parser_finish(&p);
		assert_null(p);
		got = render(root, IMAP_BODYSTRUCTURE_EXTENDED);
		assert_string_equal(got, expected);
		assert_same_tree(root, whole);
		xfree(&got);
		mime_part_free(&root);
	}
	xfree(&expected);
	mime_part_free(&whole);
}

static void test_crlf_boundaries(void **state)
{
	const char *m = "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	                "--b\r\n\r\nfirst\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsecond"
	                "\r\n--b--\r\n";
	struct mime_part *root = parse_str(m);

	assert_int_equal(root->child_count, 2);
	assert_slice(m, root->children->body_offset, root->children->body_size, "first\r\n");
	assert_int_equal(root->children->body_lines, 1);
	assert_int_equal(root->children->header_size, 2);
	assert_slice(m, root->children->next->body_offset, root->children->next->body_size,
	             "second");
	assert_render(
	    root, IMAP_BODYSTRUCTURE_EXTENDED | IMAP_BODYSTRUCTURE_CRLF,
	    "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 7 1 NIL NIL "
	    "NIL NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 0 "
	    "NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"b\") NIL NIL NIL)");
	mime_part_free(&root);
}

static void test_extension_fields(void **state)
{
	const char *m = "Content-Type: Text/X-Mine; charset=us-ascii; foo=\"quo\\\"ted\"\n"
	                "Content-ID: <id@x>\n"
	                "Content-Description: a description\n"
	                "Content-MD5: Q2hlY2s=\n"
	                "Content-Disposition: inline; size=5\n"
	                "Content-Language: en, de (German)\n"
	                "Content-Location: http://example.com/a\n"
	                "Content-Transfer-Encoding: 8bit\n"
	                "\n"
	                "body\n";
	struct mime_part *root = parse_str(m);

	assert_render(root, IMAP_BODYSTRUCTURE_EXTENDED,
	              "(\"Text\" \"X-Mine\" (\"charset\" \"us-ascii\" \"foo\" \"quo\\\"ted\") "
	              "\"<id@x>\" \"a description\" \"8bit\" 5 1 \"Q2hlY2s=\" "
	              "(\"inline\" (\"size\" \"5\")) (\"en\" \"de\") \"http://example.com/a\")");
	mime_part_free(&root);
}

static void test_defaults_and_oddities(void **state)
{
	struct mime_part *root;

	/* invalid encoding and content-type fall back to the defaults; folded parameters */
	root = parse_str("Content-Type: garbage\nContent-Transfer-Encoding: ?bad\n\nx");
	assert_render(root, 0,
	              "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0)");
	mime_part_free(&root);

	root = parse_str("Content-Type: multipart/mixed; boundary=\"foo\n bar\"\n\n--foo bar\n\n"
	                 "x\n--foo bar--\n");
	assert_render(
	    root, IMAP_BODYSTRUCTURE_EXTENDED,
	    "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0 NIL NIL "
	    "NIL NIL) \"mixed\" (\"boundary\" \"foo bar\") NIL NIL NIL)");
	mime_part_free(&root);

	/* a multipart without boundary or without parts still gives valid IMAP */
	root = parse_str("Content-Type: multipart/mixed\n\nnothing here\n");
	assert_render(root, 0,
	              "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) "
	              "\"mixed\")");
	mime_part_free(&root);

	/* multipart/digest parts default to message/rfc822 */
	root = parse_str("Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: s\n\nb\n"
	                 "--d--\n");
	assert_render(root, 0,
	              "((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 13 (NIL \"s\" NIL NIL NIL NIL "
	              "NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
	              "\"7bit\" 1 0) 2) \"digest\")");
	mime_part_free(&root);

	/* no header at all, no line end at all */
	root = parse_str("");
	assert_int_equal(root->body_size, 0);
	assert_render(root, 0,
	              "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)");
	mime_part_free(&root);
	root = parse_str("Subject: only a header");
	assert_int_equal(root->header_size, 22);
	assert_int_equal(root->body_offset, 22);
	assert_string_equal(root->envelope->subject, "only a header");
	mime_part_free(&root);
}

static void test_rfc2231(void **state)
{
	const char *m = "Content-Type: application/pdf; title*0=\"Long \"; title*1=\"name\";\n"
	                " name*0*=utf-8''%E2%82%AC; name*1=\" rates.pdf\"; plain=\"x\"\n"
	                "Content-Disposition: attachment; filename*=iso-8859-1'de'%E4rger.pdf\n"
	                "\n"
	                "%PDF\n";
	struct mime_part *root = parse_str(m);
	const struct mime_param *prm;
	struct buf b;

	assert_render(root, IMAP_BODYSTRUCTURE_EXTENDED,
	              "(\"application\" \"pdf\" (\"title\" \"Long name\" \"name*\" "
	              "\"utf-8''%E2%82%AC%20rates.pdf\" \"plain\" \"x\") NIL NIL \"7bit\" 5 NIL "
	              "(\"attachment\" (\"filename*\" \"iso-8859-1'de'%E4rger.pdf\")) NIL NIL)");
	buf_init(&b);
	prm = mime_param_find(root->params, root->param_count, "name*");
	assert_non_null(prm);
	mime_decode_param(prm, &b);
	assert_string_equal(b.data, "\xe2\x82\xac rates.pdf");
	buf_reset(&b);
	prm = mime_param_find(root->disp_params, root->disp_param_count, "filename*");
	mime_decode_param(prm, &b);
	assert_string_equal(b.data, "\xc3\xa4rger.pdf");
	buf_reset(&b);
	prm = mime_param_find(root->params, root->param_count, "title");
	mime_decode_param(prm, &b);
	assert_string_equal(b.data, "Long name");
	buf_free(&b);
	mime_part_free(&root);
}

static void assert_envelope(const char *msg, const char *expected)
{
	struct mime_part *root = parse_str(msg);
	char *s = render_env(root->envelope);

	assert_string_equal(s, expected);
	xfree(&s);
	mime_part_free(&root);
}

static void test_envelope_basic(void **state)
{
	assert_envelope("Message-ID: <msg@id>\n"
	                "In-Reply-To: <reply@to.id>\n"
	                "Date: Thu, 15 Feb 2007 01:02:03 +0200\n"
	                "Subject: subject header\n"
	                "From: From Real <fromuser@fromdomain.org>\n"
	                "To: To Real <touser@todomain.org>\n"
	                "Cc: Cc Real <ccuser@ccdomain.org>\n"
	                "Bcc: Bcc Real <bccuser@bccdomain.org>\n"
	                "Sender: Sender Real <senderuser@senderdomain.org>\n"
	                "Reply-To: ReplyTo Real <replytouser@replytodomain.org>\n"
	                "\n"
	                "body\n",
	                "(\"Thu, 15 Feb 2007 01:02:03 +0200\" \"subject header\" "
	                "((\"From Real\" NIL \"fromuser\" \"fromdomain.org\")) "
	                "((\"Sender Real\" NIL \"senderuser\" \"senderdomain.org\")) "
	                "((\"ReplyTo Real\" NIL \"replytouser\" \"replytodomain.org\")) "
	                "((\"To Real\" NIL \"touser\" \"todomain.org\")) "
	                "((\"Cc Real\" NIL \"ccuser\" \"ccdomain.org\")) "
	                "((\"Bcc Real\" NIL \"bccuser\" \"bccdomain.org\")) "
	                "\"<reply@to.id>\" \"<msg@id>\")");
	/* Sender and Reply-To default to From, also when empty */
	assert_envelope("From: user@domain (Real Name)\nSender: \nReply-To:\n\nbody\n",
	                "(NIL NIL ((\"Real Name\" NIL \"user\" \"domain\")) "
	                "((\"Real Name\" NIL \"user\" \"domain\")) "
	                "((\"Real Name\" NIL \"user\" \"domain\")) NIL NIL NIL NIL NIL)");
	assert_envelope("\nbody\n", "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
}

static void test_envelope_odd_addresses(void **state)
{
	/* groups, an empty group with a comment, a route, a quoted name with specials */
	assert_envelope(
	    "From: <@route:user@domain>\n"
	    "To: group: g1@d1.org, g2@d2.org;, group2: g3@d3.org;\n"
	    "Cc: group:;, group2: (foo) ;\n"
	    "Bcc: \"Doe, \\\"JJ\\\" John\" <john.doe@example.com>, undisclosed\n"
	    "\n",
	    "(NIL NIL ((NIL \"@route\" \"user\" \"domain\")) "
	    "((NIL \"@route\" \"user\" \"domain\")) "
	    "((NIL \"@route\" \"user\" \"domain\")) "
	    "((NIL NIL \"group\" NIL)(NIL NIL \"g1\" \"d1.org\")(NIL NIL \"g2\" \"d2.org\")"
	    "(NIL NIL NIL NIL)(NIL NIL \"group2\" NIL)(NIL NIL \"g3\" \"d3.org\")"
	    "(NIL NIL NIL NIL)) "
	    "((NIL NIL \"group\" NIL)(NIL NIL NIL NIL)(NIL NIL \"group2\" NIL)"
	    "(NIL NIL NIL NIL)) "
	    "((\"Doe, \\\"JJ\\\" John\" NIL \"john.doe\" \"example.com\")"
	    "(NIL NIL \"undisclosed\" \"MISSING_DOMAIN\")) NIL NIL)");
	/* a quoted local part, a domain literal, a name in an encoded-word kept raw */
	assert_envelope("From: \"a b\"@[127.0.0.1], =?utf-8?q?J=C3=B6rg?= <j@x.de>\n\n",
	                "(NIL NIL ((NIL NIL \"a b\" \"[127.0.0.1]\")"
	                "(\"=?utf-8?q?J=C3=B6rg?=\" NIL \"j\" \"x.de\")) "
	                "((NIL NIL \"a b\" \"[127.0.0.1]\")(\"=?utf-8?q?J=C3=B6rg?=\" NIL \"j\" "
	                "\"x.de\")) "
	                "((NIL NIL \"a b\" \"[127.0.0.1]\")(\"=?utf-8?q?J=C3=B6rg?=\" NIL \"j\" "
	                "\"x.de\")) NIL NIL NIL NIL NIL)");
}

/* fuzz-mime regression: an empty quoted string ("") as the first word left the phrase buffer
 * unallocated and the local part was copied from NULL + 0 (UBSan pointer-overflow) */
static void test_envelope_empty_quoted(void **state)
{
	assert_envelope("From: \"\"@x\n\n",
	                "(NIL NIL ((NIL NIL \"MISSING_MAILBOX\" \"x\")) "
	                "((NIL NIL \"MISSING_MAILBOX\" \"x\")) "
	                "((NIL NIL \"MISSING_MAILBOX\" \"x\")) NIL NIL NIL NIL NIL)");
	assert_envelope("From: \"\" <a@b>, \"\"\"q\"@d\n\n",
	                "(NIL NIL ((NIL NIL \"a\" \"b\")(NIL NIL \"q\" \"d\")) "
	                "((NIL NIL \"a\" \"b\")(NIL NIL \"q\" \"d\")) "
	                "((NIL NIL \"a\" \"b\")(NIL NIL \"q\" \"d\")) NIL NIL NIL NIL NIL)");
}

/* An address list is rendered up to 1000 addresses: a 200 KB "@@@@" or group-flood header
 * would otherwise make an ENVELOPE of tens of MB. */
static void test_envelope_address_flood(void **state)
{
	static const char *const floods[] = {"@", "a@b,", "g:a,", "g:;"};

	for (size_t f = 0; f < sizeof(floods) / sizeof(floods[0]); f++) {
		struct buf msg;
		struct mime_part *root;
		char *env;
		size_t opens = 0, closes = 0, tuples = 0;

		buf_init(&msg);
		buf_append_str(&msg, "From: ");
		while (msg.len < 200 * 1024)
			buf_append_str(&msg, floods[f]);
		buf_append_str(&msg, "\nTo: <a@b>\n\nbody\n");
		root = parse_str(msg.data);
		env = render_env(root->envelope);
		for (const char *p = env; *p != '\0'; p++) {
			opens += *p == '(';
			closes += *p == ')';
			tuples += p[0] == '(' && p[1] != '(';
		}
		assert_int_equal(opens, closes);
		/* From, Sender and Reply-To (both from From) and To: at most 3 * 1001 + 1 tuples */
		assert_true(tuples <= 3 * 1001 + 1 + 1);
		assert_true(strlen(env) < 3 * 1001 * 64);
		assert_non_null(strstr(env, "((NIL NIL \"a\" \"b\")) NIL NIL NIL NIL)"));
		xfree(&env);
		mime_part_free(&root);
		buf_free(&msg);
	}
}

static void test_envelope_quoting(void **state)
{
	/* quotes and backslashes are escaped; 8-bit text is sent as a literal; folding is undone */
	assert_envelope("Subject: say \"hi\" \\o/\n\n",
	                "(NIL \"say \\\"hi\\\" \\\\o/\" NIL NIL NIL NIL NIL NIL NIL NIL)");
	assert_envelope("Subject: caf\xc3\xa9\n\n",
	                "(NIL {5}\r\ncaf\xc3\xa9 NIL NIL NIL NIL NIL NIL NIL NIL)");
	assert_envelope("Subject: a long\n  folded\tsubject \n\n",
	                "(NIL \"a long  folded\tsubject\" NIL NIL NIL NIL NIL NIL NIL NIL)");
	assert_envelope("Subject: first\nsubject: second\n\n",
	                "(NIL \"first\" NIL NIL NIL NIL NIL NIL NIL NIL)");
}

static void test_nstring(void **state)
{
	struct buf b;

	buf_init(&b);
	imap_append_nstring(&b, NULL);
	imap_append_nstring(&b, "");
	imap_append_nstring(&b, "a\"b\\c");
	imap_append_nstring(&b, "two\r\nlines");
	assert_string_equal(b.data, "NIL\"\"\"a\\\"b\\\\c\"{10}\r\ntwo\r\nlines");
	buf_free(&b);
}

static void assert_decoded(const char *in, const char *expected)
{
	struct buf b;

	buf_init(&b);
	mime_decode_words(in, &b);
	assert_string_equal(b.data, expected);
	buf_free(&b);
}

static void test_encoded_words(void **state)
{
	assert_decoded("=?UTF-8?Q?caf=C3=A9_au_lait?=", "caf\xc3\xa9 au lait");
	assert_decoded("=?ISO-8859-1?B?SvZyZw==?= M\xc3\xbcller", "J\xc3\xb6rg M\xc3\xbcller");
	/* whitespace between encoded-words goes, around plain text it stays */
	assert_decoded("=?utf-8?q?a?= =?utf-8?q?b?=  c =?utf-8?q?d?=", "ab  c d");
	assert_decoded("=?utf-8*en?Q?x?=", "x");
	/* not encoded-words: left alone */
	assert_decoded("=?utf-8?x?abc?=", "=?utf-8?x?abc?=");
	assert_decoded("=?no-such-charset?q?abc?=", "=?no-such-charset?q?abc?=");
	assert_decoded("a =?utf-8?q?b c?= d", "a =?utf-8?q?b c?= d");
	assert_decoded("=?utf-8?q?unterminated", "=?utf-8?q?unterminated");
	assert_decoded("plain text", "plain text");
	assert_decoded("", "");
}

static void assert_body(const char *in, const char *encoding, const char *charset,
                        const char *expected)
{
	struct buf b;

	buf_init(&b);
	mime_decode_body(in, strlen(in), encoding, charset, &b);
	buf_append_str(&b, "");
	assert_string_equal(b.data, expected);
	buf_free(&b);
}

/* The one decoder of SEARCH and of display: transfer encodings and charsets of a body. */
static void test_decode_body(void **state)
{
	assert_body("SGVs\nbG8=", "base64", NULL, "Hello");
	/* parts encoded apart and joined: a pad ends its group */
	assert_body("QQ==QkM=", "BASE64", NULL, "ABC");
	assert_body("a=3Db=\r\nc=\nd =x", "quoted-printable", "us-ascii", "a=bcd =x");
	assert_body("a_b", "quoted-printable", NULL, "a_b"); /* '_' is a space in words only */
	assert_body("caf\xe9", NULL, "iso-8859-1", "caf\xc3\xa9");
	/* a byte the charset lacks is dropped for SEARCH; in a word it shows as U+FFFD */
	assert_body("a\xff"
	            "b",
	            "7bit", "iso-2022-jp", "ab");
	assert_decoded("=?iso-2022-jp?B?Yf9i?=", "a\xef\xbf\xbd"
	                                         "b");
	assert_body("x\xfe", NULL, "no-such-charset", "x\xfe");
}

/* in decoded in chunks of every size from 1 to its length equals in decoded at once. */
static void assert_stream(const char *in, enum mime_cte cte, const char *expected, size_t want)
{
	size_t len = strlen(in);
	char *out = xmalloc(len + 3);

	for (size_t chunk = 1; chunk <= len; chunk++) {
		struct mime_decoder dec;
		size_t n = 0;

		mime_decoder_init(&dec, cte);
		for (size_t pos = 0; pos < len; pos += chunk) {
			size_t take = len - pos < chunk ? len - pos : chunk;

			n += mime_decoder_feed(&dec, in + pos, take, out + n);
			assert_true(n <= pos + take + 2);
		}
		n += mime_decoder_finish(&dec, out + n);
		if (n != want || memcmp(out, expected, n) != 0)
			fail_msg("chunk %zu of '%s': %zu octets", chunk, in, n);
	}
	xfree(&out);
}

/* BINARY decodes parts too big to hold in pieces: the same octets, wherever the pieces end. */
#define STREAM(in, cte, expected) assert_stream(in, cte, expected, sizeof(expected) - 1)

static void test_decoder_streams(void **state)
{
	STREAM("SGVs\nbG8=", MIME_CTE_BASE64, "Hello");
	STREAM("QQ==QkM=", MIME_CTE_BASE64, "ABC");
	STREAM("AGJp\r\nbgB0YWls", MIME_CTE_BASE64, "\0bin\0tail");
	STREAM("a=3Db=\r\nc=\nd =x", MIME_CTE_QP, "a=bcd =x");
	STREAM("=C3=BC=\r\n=0A=", MIME_CTE_QP, "\xc3\xbc\n=");
	STREAM("=4", MIME_CTE_QP, "=4");
	STREAM("==41=\rx", MIME_CTE_QP, "=Ax");
	STREAM("=4g=\r", MIME_CTE_QP, "=4g=\r");
	STREAM("line\nend", MIME_CTE_BINARY, "line\nend");
	assert_int_equal(mime_cte_parse(NULL), MIME_CTE_TEXT);
	assert_int_equal(mime_cte_parse("8BIT"), MIME_CTE_TEXT);
	assert_int_equal(mime_cte_parse("Binary"), MIME_CTE_BINARY);
	assert_int_equal(mime_cte_parse("Quoted-Printable"), MIME_CTE_QP);
	assert_int_equal(mime_cte_parse("x-uuencode"), MIME_CTE_UNKNOWN);
	assert_int_equal(mime_cte_parse("base64x"), MIME_CTE_UNKNOWN);
}

static void test_depth_limit(void **state)
{
	struct buf m;
	struct mime_part *root, *p;
	unsigned int depth = 0;
	char *s;

	buf_init(&m);
	for (int i = 0; i < 5000; i++)
		buf_printf(&m, "Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n", i, i);
	buf_append_str(&m, "\ninnermost\n");
	root = mime_parse(m.data, m.len, NULL);
	for (p = root; p->children != NULL; p = p->children)
		depth++;
	assert_true(depth < mime_limits_default.max_depth);
	assert_true(depth > 10);
	assert_int_equal(root->body_offset + root->body_size, m.len);
	s = render(root, IMAP_BODYSTRUCTURE_EXTENDED);
	assert_true(strlen(s) > 0);
	xfree(&s);
	mime_part_free(&root);

	/* message/rfc822 nesting is bounded too */
	buf_reset(&m);
	for (int i = 0; i < 5000; i++)
		buf_append_str(&m, "Content-Type: message/rfc822\n\n");
	root = mime_parse(m.data, m.len, NULL);
	depth = 0;
	for (p = root; p->children != NULL; p = p->children)
		depth++;
	assert_true(depth < mime_limits_default.max_depth);
	mime_part_free(&root);
	buf_free(&m);
}

static void test_part_limit(void **state)
{
	struct mime_limits lim = mime_limits_default;
	struct buf m;
	struct mime_part *root;

	lim.max_parts = 10;
	buf_init(&m);
	buf_append_str(&m, "Content-Type: multipart/mixed; boundary=x\n\n");
	for (int i = 0; i < 100; i++)
		buf_append_str(&m, "--x\n\npart\n");
	buf_append_str(&m, "--x--\n");
	root = mime_parse(m.data, m.len, &lim);
	assert_int_equal(root->child_count, 9);
	assert_int_equal(root->body_offset + root->body_size, m.len);
	mime_part_free(&root);
	buf_free(&m);
}

static void test_header_limit(void **state)
{
	struct mime_limits lim = mime_limits_default;
	struct buf m;
	struct mime_part *root;

	lim.max_header_size = 100;
	buf_init(&m);
	buf_append_str(&m, "Subject: kept\n");
	for (int i = 0; i < 100; i++)
		buf_append_str(&m, "X-Filler: 0123456789\n");
	buf_append_str(&m, "From: dropped@x\n\nbody\n");
	root = mime_parse(m.data, m.len, &lim);
	assert_string_equal(root->envelope->subject, "kept");
	assert_null(root->envelope->from);
	assert_int_equal(root->body_size, 5);
	assert_int_equal(root->header_size, m.len - 5);
	mime_part_free(&root);
	buf_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_simple_crlf),
	    cmocka_unit_test(test_nested_bodystructure),
	    cmocka_unit_test(test_nested_sections),
	    cmocka_unit_test(test_top_level_message_rfc822_sections),
	    cmocka_unit_test(test_chunked_feeding),
	    cmocka_unit_test(test_crlf_boundaries),
	    cmocka_unit_test(test_extension_fields),
	    cmocka_unit_test(test_defaults_and_oddities),
	    cmocka_unit_test(test_rfc2231),
	    cmocka_unit_test(test_envelope_basic),
	    cmocka_unit_test(test_envelope_odd_addresses),
	    cmocka_unit_test(test_envelope_empty_quoted),
	    cmocka_unit_test(test_envelope_address_flood),
	    cmocka_unit_test(test_envelope_quoting),
	    cmocka_unit_test(test_nstring),
	    cmocka_unit_test(test_encoded_words),
	    cmocka_unit_test(test_decoder_streams),
	    cmocka_unit_test(test_decode_body),
	    cmocka_unit_test(test_depth_limit),
	    cmocka_unit_test(test_part_limit),
	    cmocka_unit_test(test_header_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
