#include "server/daemon.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define DAEMON_REPORT_MAX 512

/* Goes into the background but keeps the caller waiting until the services have started, so
 * that `twofoldd` (without -f) exits non-zero with the reason when they cannot. Returns the
 * pipe to report on (daemon_detach). */
int daemon_start(void)
{
	char buf[DAEMON_REPORT_MAX];
	int p[2];
	ssize_t n;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0 || (pid = fork()) < 0)
		fatal("cannot go into the background: %s", strerror(errno));
	if (pid > 0) {
		close(p[1]);
		while ((n = read(p[0], buf, sizeof(buf) - 1)) < 0 && errno == EINTR)
			;
		if (n == 1 && buf[0] == 'R')
			_exit(0);
		buf[n > 1 ? n : 1] = '\0';
		fprintf(stderr, "twofoldd: %s\n", n > 1 ? buf + 1 : "exited while starting");
		_exit(1);
	}
	close(p[0]);
	if (setsid() < 0 || chdir("/") < 0)
		fatal("cannot go into the background: %s", strerror(errno));
	return p[1];
}

/* Tells the waiting caller of daemon_start how the start went; stdio goes to /dev/null. */
void daemon_detach(int report_fd, const char *error)
{
	int fd;

	if (report_fd < 0)
		return;
	if (error == NULL && write(report_fd, "R", 1) < 0) {
		/* the caller is gone: nobody to tell */
	}
	if (error != NULL && dprintf(report_fd, "E%s", error) < 0) {
		/* the same */
	}
	close(report_fd);
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
}

void daemon_child_signals(void (*on_term)(int), void (*on_usr1)(int))
{
	struct sigaction sa = {.sa_handler = on_term};

	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, NULL);
}
