/* twofoldd [-c FILE] [-f] [-t]: the mail access daemon. */
#include "common/config.h"
#include "common/log.h"
#include "server/check.h"
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

/* Config, daemon-level checks and privilege setup. NULL after printing why. */
static struct config *load(const char *path, struct privdrop *priv)
{
	struct config *cfg;
	char *error = NULL;

	if (config_load(path, &cfg, &error) < 0 || master_config_check(cfg, &error) < 0 ||
	    privdrop_prepare(cfg, priv, &error) < 0) {
		fprintf(stderr, "%s\n", error);
		free(error);
		config_free(&cfg);
		return NULL;
	}
	return cfg;
}

/* TLS credentials; with check, also the key (which the daemon never loads itself: its key
 * process does, once started) and what the auth service will open. -1 after printing why. */
static int load_tls(const struct config *cfg, const struct privdrop *priv, bool check,
                    struct tls_server **tls_r)
{
	const char *tls_error;
	char *error;

	if (tls_server_load(cfg, NULL, tls_r, &tls_error) < 0 ||
	    (check && tls_key_check(cfg, *tls_r, &tls_error) < 0)) {
		fprintf(stderr, "%s: [tls]: %s\n", cfg->path, tls_error);
		tls_server_free(tls_r);
		return -1;
	}
	if (check && check_auth_service(cfg, priv, &error) < 0) {
		fprintf(stderr, "%s\n", error);
		free(error);
		tls_server_free(tls_r);
		return -1;
	}
	return 0;
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
	struct privdrop priv;
	struct config *cfg;
	int c, r;

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
	cfg = load(path, &priv);
	if (cfg == NULL)
		return 1;
	if (cfg->debug)
		log_set_level(LOG_LEVEL_DEBUG);
	r = load_tls(cfg, &priv, check, &tls);
	privdrop_free(&priv);
	if (r < 0 || check) {
		if (r == 0)
			printf("%s: configuration OK\n", path);
		tls_server_free(&tls);
		config_free(&cfg);
		return r < 0 ? 1 : 0;
	}
	if (!foreground)
		log_init("twofoldd", false);
	sandbox_landlock_report();
	return master_run(cfg, tls, foreground);
}
