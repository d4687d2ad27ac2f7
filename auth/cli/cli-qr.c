/* QR codes on a terminal: two module rows per text line with UTF-8 half blocks, black on white
 * forced with ANSI colours so the code scans on dark and light terminal themes alike (dark
 * modules in the foreground colour, never the terminal's own), inside the 4-module white quiet
 * zone the standard asks for: scanners miss codes whose border merges with a dark background. */
#include "auth/cli/cli.h"

#include <qrencode.h>
#include <stdio.h>

#define CLI_QR_MARGIN 4

static bool cli_qr_dark(const QRcode *qr, int x, int y)
{
	if (x < 0 || y < 0 || x >= qr->width || y >= qr->width)
		return false;
	return (qr->data[y * qr->width + x] & 1) != 0;
}

static void cli_qr_line(const QRcode *qr, int y)
{
	fputs("\033[30;107m", stdout);
	for (int x = -CLI_QR_MARGIN; x < qr->width + CLI_QR_MARGIN; x++) {
		bool top = cli_qr_dark(qr, x, y), bottom = cli_qr_dark(qr, x, y + 1);

		if (top && bottom)
			fputs("\u2588", stdout);
		else if (top)
			fputs("\u2580", stdout);
		else if (bottom)
			fputs("\u2584", stdout);
		else
			fputc(' ', stdout);
	}
	fputs("\033[0m\n", stdout);
}

int cli_qr_print(const char *text)
{
	QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_L, QR_MODE_8, 1);

	if (qr == NULL)
		return -1;
	for (int y = -CLI_QR_MARGIN; y < qr->width + CLI_QR_MARGIN; y += 2)
		cli_qr_line(qr, y);
	QRcode_free(qr);
	return 0;
}
