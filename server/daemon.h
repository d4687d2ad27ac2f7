/* Going into the background while the caller of `twofoldd` waits to learn whether the daemon
 * started: it exits 0 once the services are ready, or 1 with the reason on stderr. */
#ifndef TWOFOLD_SERVER_DAEMON_H
#define TWOFOLD_SERVER_DAEMON_H

/* Forks; the parent waits for the child's report and exits with it. In the child (a session
 * leader in /): returns the descriptor to report on with daemon_detach. */
int daemon_start(void);
/* Reports the start (error NULL: started) to the waiting parent, then points stdio at
 * /dev/null. report_fd -1 (foreground): does nothing. */
void daemon_detach(int report_fd, const char *error);

/* What every child of the master starts with: on_term for SIGTERM, on_usr1 for SIGUSR1 (a
 * graceful retire), SIGINT/SIGHUP/SIGPIPE ignored (the master alone reacts to a terminal or a
 * reload), SIGCHLD as by default. The caller sets its own signal mask. */
void daemon_child_signals(void (*on_term)(int), void (*on_usr1)(int));

#endif
