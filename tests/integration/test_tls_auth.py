"""Issue 7: STARTTLS, implicit TLS, SMTP AUTH and submission, driven by clients we did not write
(Python's smtplib and ssl, swaks, openssl s_client) against the real `mxguard serve`.

Each server gets a fresh self-signed certificate (openssl req), a passwd file made by
`mxguard passwd`, and listeners on 127.0.0.1 port 0: the MX listener, a submission listener
(STARTTLS), an implicit-TLS submission listener and, where a test needs one, a plaintext-AUTH
loopback listener. Ports are read from the "smtpd: listening on" lines.
"""
import base64
import re
import shutil
import smtplib
import socket
import ssl
import subprocess
import time

import pytest

from smtpd_harness import BIN, MxServer, RawClient

USERS = {"alice": "correct horse battery staple", "bob": "s3cret-Bob"}


def make_cert(directory, cn="mx.example.test"):
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", f"/CN={cn}"],
                   check=True, capture_output=True, timeout=30)
    # Readable by the service user, so a SIGHUP after the privilege drop can reload it (on a
    # real host: group-readable by the service user's group).
    key.chmod(0o644)
    return cert, key


def passwd_line(user, password):
    out = subprocess.run([BIN, "passwd", user], input=password + "\n", capture_output=True,
                         text=True, timeout=30, check=True).stdout.strip()
    assert out.startswith(user + ":{CRYPT}$y$"), out
    return out


class TlsServer(MxServer):
    """An MxServer with [tls], [auth] and extra listeners; `ports[role]` after start()."""

    def __init__(self, tmp_path, listeners=(), sender_logins=None, max_failures=5, **kw):
        cert, key = make_cert(tmp_path)
        self.cert, self.key = cert, key
        (tmp_path / "passwd").write_text(
            "".join(passwd_line(u, p) + "\n" for u, p in USERS.items()))
        extra = f'[tls]\ncert = "{cert}"\nkey = "{key}"\n'
        extra += f'[auth]\npasswd_file = "{tmp_path / "passwd"}"\nmax_failures = {max_failures}\n'
        extra += "failure_window = 300\n"
        for l in listeners:
            extra += "[[smtpd.listener]]\nlisten = [\"127.0.0.1:0\"]\n" + l + "\n"
        if sender_logins is not None:
            (tmp_path / "senders").write_text(sender_logins)
        super().__init__(tmp_path, extra=extra, **kw)
        if sender_logins is not None:
            # sender_login_maps belongs to [smtpd]: put it right after the [smtpd] header.
            text = self.config.read_text().replace(
                "[smtpd]\n", f'[smtpd]\nsender_login_maps = "{tmp_path / "senders"}"\n', 1)
            self.config.write_text(text)

    def start(self, timeout=20):
        super().start(timeout)
        self.ports = {}
        deadline = time.monotonic() + timeout
        want = self.config.read_text().count("[[smtpd.listener]]") + 1
        while time.monotonic() < deadline:
            found = re.findall(r"smtpd: listening on 127\.0\.0\.1:(\d+) \(([^)]*)\)", self.log())
            if len(found) >= want:
                break
            time.sleep(0.05)
        for port, what in found:
            self.ports.setdefault(what, int(port))
        return self

    def port_of(self, fragment):
        for what, port in self.ports.items():
            if fragment in what:
                return port
        raise AssertionError(f"no listener like {fragment!r}: {self.ports}")


def client_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


SUBMISSION = 'role = "submission"\ntls = "starttls"'
IMPLICIT = 'role = "submission"\ntls = "implicit"'
PLAIN_LOOPBACK = 'role = "submission"\ntls = "none"\nauth_without_tls = true'
REQUIRE_TLS_MX = 'role = "mx"\ntls = "starttls"\nrequire_tls = true'


@pytest.fixture
def server(tmp_path):
    s = TlsServer(tmp_path, listeners=(SUBMISSION, IMPLICIT, REQUIRE_TLS_MX)).start()
    yield s
    s.stop()


MESSAGE = "From: alice@example.test\r\nTo: x\r\nSubject: tls\r\n\r\nhello\r\n"


def test_listeners_are_announced(server):
    assert set(server.ports) >= {"mx, STARTTLS, AUTH under TLS",
                                 "submission, STARTTLS, AUTH under TLS",
                                 "submission, implicit TLS, AUTH under TLS",
                                 "mx, STARTTLS required, AUTH under TLS"}, server.ports


def test_starttls_then_mail_is_esmtps(server):
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as c:
        code, text = c.ehlo("client.example")
        assert code == 250 and b"STARTTLS" in text and b"AUTH" not in text, text
        assert c.starttls(context=client_context())[0] == 220
        code, text = c.ehlo("client.example")
        assert b"STARTTLS" not in text, "STARTTLS offered twice"
        assert b"AUTH PLAIN LOGIN" in text, text
        assert c.sendmail("sender@example.com", ["alice@example.test"], MESSAGE) == {}
    [path] = server.mailbox("example.test", "alice")
    head = path.read_text()
    assert re.search(r"\(using TLSv1\.[23] with cipher \S+ \(\d+/\d+ bits\)\)", head), head
    assert " with ESMTPS id " in head, head
    line = server.wait_log(r"accepted from .* proto=ESMTPS tls=TLSv1\.[23]:")
    assert "sasl_username" not in line


def test_starttls_injection_is_discarded(server):
    """CVE-2011-0411: commands pipelined after STARTTLS must never run after the handshake."""
    raw = server.connect()
    assert raw.reply()[0] == 220
    assert raw.cmd("EHLO client.example")[0] == 250
    raw.send("STARTTLS\r\nMAIL FROM:<injected@example.com>\r\nRSET\r\n")
    assert raw.reply()[0] == 220
    assert raw.buf == b"", f"server answered the injected commands before TLS: {raw.buf!r}"
    tls = client_context().wrap_socket(raw.sock, server_hostname="mx.example.test")
    inner = RawClient(tls)
    tls.settimeout(1.0)
    try:
        early = tls.recv(4096)
    except (socket.timeout, ssl.SSLWantReadError, TimeoutError):
        early = b""
    assert early == b"", f"a reply to an injected command arrived under TLS: {early!r}"
    # The session was reset: MAIL needs a new EHLO, and the injected MAIL did not count.
    code, _ = inner.cmd("RCPT TO:<alice@example.test>")
    assert code == 503, code
    assert inner.cmd("EHLO client.example")[0] == 250
    assert inner.cmd("RCPT TO:<alice@example.test>")[0] == 503  # no MAIL yet: injected one gone
    assert inner.cmd("STARTTLS")[0] == 503  # a second STARTTLS
    inner.close()


def test_openssl_s_client_starttls_and_old_protocols(server):
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    ok = subprocess.run(["openssl", "s_client", "-starttls", "smtp", "-connect",
                         f"127.0.0.1:{server.port}", "-brief"],
                        input="QUIT\r\n", capture_output=True, text=True, timeout=30)
    out = ok.stdout + ok.stderr
    assert re.search(r"Protocol version: TLSv1\.3", out), out
    old = subprocess.run(["openssl", "s_client", "-starttls", "smtp", "-connect",
                          f"127.0.0.1:{server.port}", "-tls1_1", "-brief"],
                         input="QUIT\r\n", capture_output=True, text=True, timeout=30)
    assert "Protocol version" not in old.stdout + old.stderr, "TLS 1.1 was negotiated"
    server.wait_log(r"TLS handshake failed from")


def test_auth_is_not_offered_or_accepted_before_tls(server):
    raw = server.connect()
    raw.reply()
    code, text = raw.cmd("EHLO client.example")
    assert "AUTH" not in text, text
    plain = base64.b64encode(b"\0alice\0" + USERS["alice"].encode()).decode()
    code, text = raw.cmd("AUTH PLAIN " + plain)
    assert code == 538 and "5.7.11" in text, (code, text)
    raw.close()


def test_submission_login_and_relay(server):
    port = server.port_of("submission, STARTTLS")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as c:
        c.ehlo("laptop.example")
        code, text = c.mail("alice@example.test")
        assert code == 530 and b"5.7.0" in text, (code, text)  # AUTH required before MAIL
        c.rset()
        c.starttls(context=client_context())
        c.ehlo("laptop.example")
        c.login("alice", USERS["alice"])
        refused = c.sendmail("alice@example.test", ["friend@far-away.example"], MESSAGE)
        assert refused == {}
    line = server.wait_log(r"accepted from .* relay=1 proto=ESMTPSA tls=")
    assert "sasl_username=alice" in line
    [queued] = server.queued()
    assert b"far-away.example" in queued.read_bytes()
    server.wait_log(r"SASL PLAIN authentication succeeded: sasl_username=alice")


def test_submission_refuses_trusted_network_without_auth(tmp_path):
    # 127.0.0.0/8 is trusted on the MX listener; the submission listener must not care.
    s = TlsServer(tmp_path, listeners=(SUBMISSION,), trusted=("127.0.0.0/8",)).start()
    try:
        with smtplib.SMTP("127.0.0.1", s.port_of("submission"), timeout=10) as c:
            c.ehlo("x")
            c.starttls(context=client_context())
            c.ehlo("x")
            assert c.mail("alice@example.test")[0] == 530
            assert c.rcpt("friend@far-away.example")[0] in (503, 530)
        # ...while the MX listener relays for the trusted network, as configured.
        with smtplib.SMTP("127.0.0.1", s.port, timeout=10) as c:
            assert c.sendmail("a@example.test", ["friend@far-away.example"], MESSAGE) == {}
    finally:
        s.stop()


def test_implicit_tls_submission_with_login(server):
    port = server.port_of("implicit TLS")
    with smtplib.SMTP_SSL("127.0.0.1", port, timeout=10, context=client_context()) as c:
        code, text = c.ehlo("laptop.example")
        assert b"STARTTLS" not in text and b"AUTH PLAIN LOGIN" in text, text
        c.esmtp_features.pop("auth", None)
        c.ehlo_resp = None
        c.ehlo("laptop.example")
        c.user, c.password = "bob", USERS["bob"]
        code, text = c.auth("LOGIN", c.auth_login)
        assert code == 235 and b"2.7.0" in text, (code, text)
        assert c.sendmail("bob@example.test", ["carol@example.test"], MESSAGE) == {}
    assert server.mailbox("example.test", "carol")


def test_implicit_tls_listener_ignores_plaintext(server):
    port = server.port_of("implicit TLS")
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"EHLO plaintext.example\r\n")
    s.settimeout(10)
    data = b""
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    assert b"220" not in data and b"250" not in data, data
    s.close()


def test_require_tls_listener(server):
    port = server.port_of("STARTTLS required")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as c:
        c.ehlo("x")
        code, text = c.mail("a@example.com")
        assert code == 530 and b"Must issue a STARTTLS command first" in text, (code, text)
        c.rset()
        c.starttls(context=client_context())
        c.ehlo("x")
        assert c.mail("a@example.com")[0] == 250


def test_wrong_passwords_are_rate_limited_then_disconnected(tmp_path):
    s = TlsServer(tmp_path, listeners=(PLAIN_LOOPBACK,), max_failures=3).start()
    try:
        port = s.port_of("submission, AUTH")
        raw = RawClient(socket.create_connection(("127.0.0.1", port), timeout=30))
        raw.reply()
        assert "AUTH PLAIN LOGIN" in raw.cmd("EHLO x")[1]
        codes, times = [], []
        for i in range(3):
            bad = base64.b64encode(b"\0alice\0wrong" + str(i).encode()).decode()
            t0 = time.monotonic()
            codes.append(raw.cmd("AUTH PLAIN " + bad)[0])
            times.append(time.monotonic() - t0)
        assert codes == [535, 535, 421], codes
        assert times[1] >= 0.9, f"the second failure was not delayed: {times}"
        assert raw.closed(), "still connected after 421"
        # The address stays blocked: even the right password is refused now.
        raw = RawClient(socket.create_connection(("127.0.0.1", port), timeout=30))
        raw.reply()
        raw.cmd("EHLO x")
        good = base64.b64encode(b"\0alice\0" + USERS["alice"].encode()).decode()
        assert raw.cmd("AUTH PLAIN " + good)[0] == 421
        log = s.log()
        assert len(re.findall(r"\[127\.0\.0\.1\]:\d+: SASL PLAIN authentication failed: "
                              r"sasl_username=alice", log)) == 3, log
    finally:
        s.stop()


def test_auth_cancel_twice_and_in_transaction(tmp_path):
    s = TlsServer(tmp_path, listeners=(PLAIN_LOOPBACK,)).start()
    try:
        raw = RawClient(socket.create_connection(("127.0.0.1", s.port_of("submission, AUTH")),
                                                 timeout=10))
        raw.reply()
        raw.cmd("EHLO x")
        assert raw.cmd("AUTH LOGIN")[0] == 334
        assert raw.cmd("*")[0] == 501
        assert raw.cmd("AUTH PLAIN not-base64!")[0] == 501
        good = base64.b64encode(b"\0bob\0" + USERS["bob"].encode()).decode()
        assert raw.cmd("AUTH PLAIN " + good)[0] == 235
        assert raw.cmd("AUTH PLAIN " + good)[0] == 503
        assert raw.cmd("MAIL FROM:<bob@example.test>")[0] == 250
        raw.close()
    finally:
        s.stop()


def test_sender_login_mismatch_is_refused(tmp_path):
    s = TlsServer(tmp_path, listeners=(PLAIN_LOOPBACK,),
                  sender_logins="alice@example.test alice\n@example.org bob\n").start()
    try:
        with smtplib.SMTP("127.0.0.1", s.port_of("submission, AUTH"), timeout=10) as c:
            c.ehlo("x")
            c.login("alice", USERS["alice"])
            code, text = c.mail("bob@example.org")
            assert code == 553 and b"5.7.1" in text and b"alice" in text, (code, text)
            c.rset()
            assert c.mail("alice@example.test")[0] == 250
            c.rset()
            assert c.mail("")[0] == 250  # the null sender is always allowed
        s.wait_log(r"reject: MAIL from .*: 553 5\.7\.1")
    finally:
        s.stop()


def test_swaks_tls_auth(server):
    if shutil.which("swaks") is None:
        pytest.skip("swaks not installed")
    port = server.port_of("submission, STARTTLS")
    out = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(port), "--tls",
                          "--auth", "PLAIN", "--auth-user", "alice", "--auth-password",
                          USERS["alice"], "--from", "alice@example.test", "--to",
                          "someone@far-away.example", "--timeout", "20"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "235 2.7.0" in out.stdout and "Ok: queued as" in out.stdout, out.stdout
    bad = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(port), "--tls",
                          "--auth", "LOGIN", "--auth-user", "alice", "--auth-password", "nope",
                          "--from", "alice@example.test", "--to", "someone@far-away.example",
                          "--timeout", "20"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "535 5.7.8" in bad.stdout, bad.stdout


def test_check_config_proves_submission_listeners(tmp_path, run):
    s = TlsServer(tmp_path, listeners=(SUBMISSION,), trusted=("127.0.0.0/8",))
    r = run("check-config", "--config", s.config)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "relay-safe" in r.stdout
    # A submission listener on the MX with `permit` is still caught on the MX listener...
    text = s.config.read_text().replace(
        "[smtpd]\n", '[smtpd]\nrelay_restrictions = ["permit"]\n', 1)
    s.config.write_text(text)
    r = run("check-config", "--config", s.config)
    assert r.returncode == 1, r.stdout


def test_bad_key_is_a_clear_start_error(tmp_path, run):
    s = TlsServer(tmp_path)
    (tmp_path / "other").mkdir()
    _, other_key = make_cert(tmp_path / "other", cn="other")
    text = s.config.read_text().replace(str(s.key), str(other_key))
    s.config.write_text(text)
    r = run("check-config", "--config", s.config)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "does not match the certificate" in r.stderr, r.stderr
    s.config.write_text(text.replace(str(other_key), str(tmp_path / "missing.pem")))
    r = run("check-config", "--config", s.config)
    assert r.returncode == 2 and "missing.pem" in r.stderr, r.stderr


def test_sighup_reloads_the_certificate(tmp_path):
    s = TlsServer(tmp_path).start()
    try:
        def subject():
            with smtplib.SMTP("127.0.0.1", s.port, timeout=10) as c:
                c.ehlo("x")
                c.starttls(context=client_context())
                der = c.sock.getpeercert(binary_form=True)
            pem = ssl.DER_cert_to_PEM_cert(der)
            out = subprocess.run(["openssl", "x509", "-noout", "-subject"], input=pem,
                                 capture_output=True, text=True, timeout=30).stdout
            return out.strip()

        assert "mx.example.test" in subject()
        new_dir = tmp_path / "new"
        new_dir.mkdir()
        cert, key = make_cert(new_dir, cn="renewed.example.test")
        shutil.copy(cert, s.cert)
        shutil.copy(key, s.key)
        s.proc.send_signal(1)  # SIGHUP
        s.wait_log(r"reloaded ")
        assert "renewed.example.test" in subject()
    finally:
        s.stop()
