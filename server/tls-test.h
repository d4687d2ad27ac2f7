/* What the TLS tests look at beyond the TLS API: no production code uses this. */
#ifndef TWOFOLD_SERVER_TLS_TEST_H
#define TWOFOLD_SERVER_TLS_TEST_H

struct tls_conn;

/* True when this session was resumed from a ticket: the server side agrees with the client. */
int tls_conn_resumed(const struct tls_conn *tc);

#endif
