/* FETCH ENVELOPE: the envelope structure of a message or of an embedded message/rfc822 part. */
#ifndef TWOFOLD_IMAP_ENVELOPE_H
#define TWOFOLD_IMAP_ENVELOPE_H

struct buf;
struct mime_envelope;

/* Appends the value of a FETCH ENVELOPE item, parentheses included; env NULL: every field
 * NIL. Sender and Reply-To fall back to From when absent or empty (RFC 3501). */
void imap_envelope_append(struct buf *out, const struct mime_envelope *env);

#endif
