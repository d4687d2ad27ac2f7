#include "server/portal/portal-pages.h"

#include <qrencode.h>

/* One path of unit squares, a quiet zone of 4 modules around: any size scales it. */
int portal_qr_svg(struct buf *b, const char *text)
{
	QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	int w;

	if (qr == NULL)
		return -1;
	w = qr->width;
	buf_printf(b,
	           "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
	           "role=\"img\" aria-label=\"QR code\" shape-rendering=\"crispEdges\">"
	           "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/><path fill=\"#000\" d=\"",
	           w + 8, w + 8);
	for (int y = 0; y < w; y++)
		for (int x = 0; x < w; x++)
			if (qr->data[y * w + x] & 1)
				buf_printf(b, "M%d %dh1v1h-1z", x + 4, y + 4);
	buf_append_str(b, "\"/></svg>");
	QRcode_free(qr);
	return 0;
}
