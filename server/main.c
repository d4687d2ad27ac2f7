/* twofoldd [-c FILE] [-f] [-t]: the mail access daemon. */
#include "common/config.h"
#include "common/log.h"
#include "server/master.h"
#include "server/privdrop.h"
#include "server/sandbox.h"
#include "server/tls.h"

#include <getopt.h>
#include <limits.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: twofoldd [-c FILE] [-f] [-t]\n"
	        "  -c, --config FILE  configuration file (default " TWOFOLD_DEFAULT_CONFIG ")\n"
	        "  -f, --foreground   stay in the foreground and log to stderr\n"
	        "  -t, --test         check everything the daemon needs (configuration, accounts,\n"
	        "                     state directory, auth store and key file as the auth\n"
	        "                     account, maildir template, certificates), then exit\n"
	        "  -h, --help         this text\n"
	        "  -V, --version      the version\n"
	        "Signals: HUP re-reads configuration and certificates, TERM stops.\n"
	        "See twofoldd(8), twofold.conf(5).\n");
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

static const struct option main_options[] = {
    {"config", required_argument, NULL, 'c'}, {"foreground", no_argument, NULL, 'f'},
    {"test", no_argument, NULL, 't'},         {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},      {NULL, 0, NULL, 0},
};

int main(int argc, char **argv)
{
	const char *path = TWOFOLD_DEFAULT_CONFIG;
	char abspath[PATH_MAX];
	bool foreground = false, check = false;
	struct tls_server *tls = NULL;
	struct config *cfg;
	int c;

	while ((c = getopt_long(argc, argv, "c:fthV", main_options, NULL)) != -1) {
		if (c == 'c') {
			path = optarg;
		} else if (c == 'f') {
			foreground = true;
		} else if (c == 't') {
			check = true;
		} else if (c == 'h') {
			usage(stdout);
			return 0;
		} else if (c == 'V') {
			printf("twofoldd %s\n", TWOFOLD_VERSION);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
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
	sandbox_landlock_report();
	return master_run(cfg, tls, foreground);
}
