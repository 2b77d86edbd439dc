"""Small scripted SMTP servers for the `mxguard probe` integration tests, one per class of server
the probe must judge honestly. Each listens on 127.0.0.1 (or ::1, with family = AF_INET6), port 0,
serves every connection in a thread, and records every line it receives, so a test can check what
the probe sent (and that it never sent DATA).

The baseline is a closed Postfix-like MX for example.test: postmaster@example.test is accepted,
every other recipient gets "554 5.7.1 Relay access denied". Subclasses change one thing.
"""
import socket
import ssl
import threading
import time

LOCAL = "example.test"


class FakeSmtp:
    """A closed MX. Override the hooks to script another kind of server."""

    hostname = "mx.example.test"
    pipelining = True
    greet_pause = 0.0  # seconds before the banner
    tls_files = None   # (certificate, key): offer STARTTLS (RFC 3207)
    family = socket.AF_INET  # AF_INET6: listen on ::1
    # Read a PROXY v1 header before the banner when one comes first (see TrustsProxy); a
    # connection that sends nothing for proxy_wait seconds is served as a plain one.
    accepts_proxy = False
    proxy_wait = 0.5

    def __init__(self):
        self.lines = []          # (connection number, line) for every line received
        self.connections = 0
        self.data_seen = False   # a DATA or BDAT ever arrived
        self.tls = set()         # connections inside TLS
        self._lock = threading.Lock()
        self.proxy_headers = {}  # connection number -> the PROXY header it opened with
        self.claimed = {}        # connection number -> the source address its header claimed
        self._sock = socket.socket(self.family, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("::1" if self.family == socket.AF_INET6 else "127.0.0.1", 0))
        self._sock.listen(64)
        self.port = self._sock.getsockname()[1]
        self._stop = False
        self._threads = []

    # -- hooks --
    def banner(self, conn):
        return f"220 {self.hostname} ESMTP fake\r\n"

    def ehlo(self, conn, arg):
        ext = ["PIPELINING", "SIZE 10240000", "8BITMIME"] if self.pipelining else ["8BITMIME"]
        if self.tls_files and conn not in self.tls:
            ext.append("STARTTLS")
        lines = [self.hostname] + ext
        return "".join(f"250-{l}\r\n" for l in lines[:-1]) + f"250 {lines[-1]}\r\n"

    def mail(self, conn, arg):
        return "250 2.1.0 Ok\r\n"

    def rcpt(self, conn, arg):
        if arg.lower() == f"to:<postmaster@{LOCAL}>":
            return "250 2.1.5 Ok\r\n"
        return f"554 5.7.1 {arg[3:]}: Relay access denied\r\n"

    def data(self, conn, arg):
        return "554 5.5.1 Error: no valid recipients\r\n"

    def other(self, conn, verb, line):
        return "502 5.5.2 Error: command not recognized\r\n"

    def before_command(self, conn, n, line):
        """Called for every line; return False to hang up instead of answering."""
        return True

    # -- machinery --
    def start(self):
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def stop(self):
        self._stop = True
        try:
            self._sock.close()
        except OSError:
            pass

    def sent(self, conn=None):
        with self._lock:
            return [l for c, l in self.lines if conn is None or c == conn]

    def proxy_connections(self):
        """The connections that opened with a PROXY header (the probe's PROXY test), in order:
        the probe runs that one beside its main session, so connection numbers say nothing."""
        with self._lock:
            first = {}
            for c, l in self.lines:
                first.setdefault(c, l)
            return sorted(set(self.proxy_headers)
                          | {c for c, l in first.items() if l.startswith("PROXY ")})

    def main_connections(self):
        """The other connections, in the order they were accepted."""
        with self._lock:
            conns = {c for c, _ in self.lines}
        return sorted(conns - set(self.proxy_connections()))

    def _accept(self):
        while not self._stop:
            try:
                s, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                conn = self.connections
                self.connections += 1
            t = threading.Thread(target=self._serve, args=(s, conn), daemon=True)
            t.start()

    def _serve(self, s, conn):
        try:
            s.settimeout(60)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.accepts_proxy and not self._read_proxy(s, conn):
                return
            if self.greet_pause:
                time.sleep(self.greet_pause)
            b = self.banner(conn)
            if b is None:
                return
            s.sendall(b.encode())
            if not b.startswith("2"):
                # RFC 5321 3.1: wait for QUIT after a refusing banner
                buf = s.recv(4096)
                if buf.upper().startswith(b"QUIT"):
                    s.sendall(b"221 2.0.0 Bye\r\n")
                return
            f = s.makefile("rb")
            n = 0
            while True:
                raw = f.readline()
                if not raw:
                    return
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                n += 1
                with self._lock:
                    self.lines.append((conn, line))
                if not self.before_command(conn, n, line):
                    return
                verb, _, arg = line.partition(" ")
                verb = verb.upper()
                if verb in ("DATA", "BDAT"):
                    self.data_seen = True
                    reply = self.data(conn, arg)
                elif verb == "EHLO":
                    reply = self.ehlo(conn, arg)
                elif verb == "HELO":
                    reply = f"250 {self.hostname}\r\n"
                elif verb == "MAIL":
                    reply = self.mail(conn, arg)
                elif verb == "RCPT":
                    reply = self.rcpt(conn, arg)
                elif verb == "RSET":
                    reply = "250 2.0.0 Ok\r\n"
                elif verb == "NOOP":
                    reply = "250 2.0.0 Ok\r\n"
                elif verb == "STARTTLS" and self.tls_files and conn not in self.tls:
                    s.sendall(b"220 2.0.0 Ready to start TLS\r\n")
                    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                    ctx.load_cert_chain(*self.tls_files)
                    s = ctx.wrap_socket(s, server_side=True)
                    f = s.makefile("rb")
                    with self._lock:
                        self.tls.add(conn)
                    continue
                elif verb == "QUIT":
                    s.sendall(b"221 2.0.0 Bye\r\n")
                    return
                else:
                    reply = self.other(conn, verb, line)
                if reply is None:
                    return
                s.sendall(reply.encode())
        except OSError:
            pass
        finally:
            try:
                s.close()
            except OSError:
                pass


    def _read_proxy(self, s, conn):
        """A PROXY v1 header, if the client opens with one: checked field by field against the
        spec (HAProxy proxy-protocol.txt 2.1), False (hang up) when malformed."""
        s.settimeout(self.proxy_wait)
        try:
            head = s.recv(6, socket.MSG_PEEK)
        except socket.timeout:
            head = b""
        s.settimeout(60)
        if not head.startswith(b"PROXY "):
            return True
        raw = b""
        while not raw.endswith(b"\r\n") and len(raw) < 107:  # the spec's longest header
            b = s.recv(1)
            if not b:
                return False
            raw += b
        line = raw.decode("ascii", "replace").rstrip("\r\n")
        with self._lock:
            self.proxy_headers[conn] = line
        parts = line.split(" ")
        if len(parts) != 6 or parts[1] not in ("TCP4", "TCP6"):
            return False
        fam = socket.AF_INET if parts[1] == "TCP4" else socket.AF_INET6
        try:
            for a in parts[2:4]:
                socket.inet_pton(fam, a)
            ports = [int(p) for p in parts[4:6]]
        except (OSError, ValueError):
            return False
        own = s.getsockname()
        if parts[3] != own[0] or ports[1] != own[1] or not all(0 < p < 65536 for p in ports):
            return False  # the destination must be this listener
        with self._lock:
            self.claimed[conn] = parts[2]
        return True


class TrustsProxy(FakeSmtp):
    """Takes a PROXY v1 header from anyone and trusts the loopback source it claims: relays for
    it (a postscreen_upstream_proxy_protocol exposed to the world). Closed otherwise."""
    accepts_proxy = True

    def rcpt(self, conn, arg):
        if self.claimed.get(conn) in ("127.0.0.1", "::1"):
            return "250 2.1.5 Ok\r\n"
        return super().rcpt(conn, arg)


class TrustsProxy6(TrustsProxy):
    family = socket.AF_INET6


class Tempfail(FakeSmtp):
    """Greylisting: every non-local recipient is deferred."""

    def rcpt(self, conn, arg):
        if arg.lower() == f"to:<postmaster@{LOCAL}>":
            return "250 2.1.5 Ok\r\n"
        return "451 4.7.1 Greylisted, please try again later\r\n"


class AuthRequired(FakeSmtp):
    """A submission-like server: nothing before AUTH."""

    def ehlo(self, conn, arg):
        return f"250-{self.hostname}\r\n250-PIPELINING\r\n250 AUTH PLAIN LOGIN\r\n"

    def mail(self, conn, arg):
        return "530 5.7.0 Authentication required\r\n"

    def rcpt(self, conn, arg):
        return "503 5.5.1 Error: need MAIL command\r\n"


class AcceptAll(FakeSmtp):
    """Accepts every recipient at RCPT: a real relay, a sink, a catch-all or a honeypot."""

    def rcpt(self, conn, arg):
        return "250 2.1.5 Ok\r\n"


class AcceptsRcptRefusesData(AcceptAll):
    """nmap calls this open; so do we, at RCPT, without ever sending DATA."""

    def data(self, conn, arg):
        return "554 5.7.1 Relaying is not allowed after all\r\n"


class GreetPause(FakeSmtp):
    """Waits longer before its banner than nmap's 10 s script timeout."""

    greet_pause = 12.0


class Banner554(FakeSmtp):
    def banner(self, conn):
        return "554 5.7.1 mx.example.test: no SMTP service here\r\n"


class DisconnectMidRun(FakeSmtp):
    """Closes the first main connection (not the PROXY probe's) in the middle of the battery;
    later ones behave."""

    first_main = None

    def before_command(self, conn, n, line):
        with self._lock:
            if n == 1 and self.first_main is None and not line.startswith("PROXY "):
                self.first_main = conn
        return not (conn == self.first_main and n == 15)


class PercentHackOnly(FakeSmtp):
    """Refuses plain relaying but hands user%domain@local to its percent-hack router."""

    def rcpt(self, conn, arg):
        addr = arg[3:].strip().strip("<>").lower()
        local, _, domain = addr.rpartition("@")
        if domain == LOCAL and "%" in local and '"' not in local and "\\" not in local:
            return "250 2.1.5 Ok\r\n"
        return super().rcpt(conn, arg)


class TlsClosed(FakeSmtp):
    """A closed MX that offers STARTTLS (set tls_files first)."""


class RelaysAfterTls(FakeSmtp):
    """Refuses relaying in plain text, relays for anyone inside TLS (set tls_files first)."""

    def rcpt(self, conn, arg):
        if conn in self.tls:
            return "250 2.1.5 Ok\r\n"
        return super().rcpt(conn, arg)


CLASSES = {
    "tempfail": Tempfail,
    "auth-required": AuthRequired,
    "accept-all": AcceptAll,
    "accepts-rcpt-refuses-data": AcceptsRcptRefusesData,
    "greet-pause": GreetPause,
    "banner-554": Banner554,
    "disconnect-mid-run": DisconnectMidRun,
    "percent-hack-only": PercentHackOnly,
}
