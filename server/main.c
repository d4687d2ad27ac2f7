/* twofoldd [-c FILE] [-f] [-t]: the mail access daemon. */
#include "common/config.h"
#include "common/log.h"
#include "server/master.h"
#include "server/privdrop.h"
#include "server/tls.h"

#include <limits.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void usage(void)
{
	fprintf(stderr, "usage: twofoldd [-c FILE] [-f] [-t]\n"
	                "  -c FILE  configuration file (default " TWOFOLD_DEFAULT_CONFIG ")\n"
	                "  -f       stay in the foreground and log to stderr\n"
	                "  -t       check the configuration and TLS credentials, then exit\n");
	exit(2);
}

/* Config, daemon-level checks, privilege setup and TLS credentials. NULL after printing why. */
static struct config *load(const char *path, struct tls_server **tls_r)
{
	struct config *cfg;
	struct privdrop priv;
	char *error = NULL;
	const char *tls_error;

	if (config_load(path, &cfg, &error) < 0 || master_config_check(cfg, &error) < 0 ||
	    privdrop_prepare(cfg, &priv, &error) < 0) {
		fprintf(stderr, "%s\n", error);
		free(error);
		config_free(&cfg);
		return NULL;
	}
	privdrop_free(&priv);
	if (tls_server_load(cfg, NULL, tls_r, &tls_error) < 0) {
		fprintf(stderr, "%s: [tls]: %s\n", path, tls_error);
		config_free(&cfg);
		return NULL;
	}
	return cfg;
}

int main(int argc, char **argv)
{
	const char *path = TWOFOLD_DEFAULT_CONFIG;
	char abspath[PATH_MAX];
	bool foreground = false, check = false;
	struct tls_server *tls = NULL;
	struct config *cfg;
	int c;

	while ((c = getopt(argc, argv, "c:ft")) != -1) {
		if (c == 'c')
			path = optarg;
		else if (c == 'f')
			foreground = true;
		else if (c == 't')
			check = true;
		else
			usage();
	}
	if (optind != argc)
		usage();
	/* reloads happen after chdir("/") */
	if (realpath(path, abspath) != NULL)
		path = abspath;
	log_init("twofoldd", true);
	if (sodium_init() < 0) {
		fprintf(stderr, "twofoldd: libsodium failed to initialise\n");
		return 1;
	}
	tls_global_init();
	cfg = load(path, &tls);
	if (cfg == NULL)
		return 1;
	if (cfg->debug)
		log_set_level(LOG_LEVEL_DEBUG);
	if (check) {
		const char *error;

		/* the daemon never loads the key itself: its key process does, once started */
		if (tls_key_check(cfg, tls, &error) < 0) {
			fprintf(stderr, "%s: [tls]: %s\n", path, error);
			tls_server_free(&tls);
			config_free(&cfg);
			return 1;
		}
		printf("%s: configuration OK\n", path);
		tls_server_free(&tls);
		config_free(&cfg);
		return 0;
	}
	if (!foreground)
		log_init("twofoldd", false);
	return master_run(cfg, tls, foreground);
}
