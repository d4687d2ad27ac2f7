/*
 * COMPRESS=DEFLATE (RFC 4978): raw deflate both ways, as a layer over a connection's transport
 * (conn_push_layer). The input is inflated in chunks no bigger than each read asks for, so the
 * connection's line and literal limits bound it as they bound uncompressed input; the output is
 * flushed (Z_SYNC_FLUSH) at every point the connection flushes.
 */
#ifndef TWOFOLD_COMPRESS_H
#define TWOFOLD_COMPRESS_H

#include "server/conn.h"

extern const struct conn_layer compress_deflate_layer;

#endif
