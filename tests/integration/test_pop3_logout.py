"""POP3 logout lines that say how a session ended (QUIT, dropped, timeout, shutdown) and what
it did to the maildrop: messages retrieved, messages removed."""

import socket

import twofold_harness


def login_pop3(server, user):
    pop = server.pop3()
    pop.user(user.name)
    pop.pass_(user.password + server.code(user.secret))
    return pop


def logout_line(server, name):
    m = server.wait_log(rf"pop3 logout user={name} ip=127\.0\.0\.1 (.*)\n",
                        timeout=twofold_harness.SERVICES_TIMEOUT)
    return m.group(1)


def test_pop3_logout_after_quit_counts_what_was_removed(server):
    alice = server.add_user("alice")
    for i in range(3):
        server.deliver("alice", f"Subject: m{i}\r\n\r\nbody\r\n".encode())
    server.start()
    pop = login_pop3(server, alice)
    pop.retr(1)
    pop.retr(2)
    pop.dele(1)
    pop.quit()
    assert logout_line(server, "alice") == "end=quit retrieved=2 deleted=1"


def test_pop3_logout_dropped_removes_nothing(server):
    alice = server.add_user("alice")
    for i in range(2):
        server.deliver("alice", f"Subject: m{i}\r\n\r\nbody\r\n".encode())
    server.start()
    pop = login_pop3(server, alice)
    pop.retr(1)
    pop.dele(1)
    pop.dele(2)
    pop.sock.shutdown(socket.SHUT_RDWR)
    pop.sock.close()
    assert logout_line(server, "alice") == ("end=dropped retrieved=1 deleted=0 "
                                            "(DELE not applied: no QUIT)")
    assert len(list((server.maildir("alice") / "new").iterdir()) +
               list((server.maildir("alice") / "cur").iterdir())) == 2
