"""DNS list checks inside smtpd (issue 6), on loopback: our own dnsbld (and Debian's rbldnsd for
one case) serves the lists, the smtpd asks them through [resolver] servers, and clients connect
from 127.x.y.z source addresses (never 127.0.0.1, which RFC 5782 says is never listed) and from
::1 for the IPv6 nibble path. trusted_networks = [] everywhere, so loopback clients are checked.

Listed clients are refused at RCPT with the list and its TXT; weights add; an allowlist cancels; a
list answering 127.255.255.254 does not count; a resolver that never answers lets mail through
(and says so in the log); sender and HELO domain lists; defer, log-only and reject-at-connect."""
import os
import re
import signal
import smtplib
import socket
import subprocess
import threading
import time

import pytest

from smtpd_harness import BIN, MxServer, running_dnsbld, running_rbldnsd

SOA = "$SOA 3600 ns.{z} hostmaster.example.test 2024010101 600 300 86400 300\n"

FILES = {
    "bl.txt": SOA.format(z="bl.example.test") + """\
:127.0.0.2:Listed: see https://bl.example.test/lookup?ip=$
127.0.0.2
127.0.2.1
127.0.3.1
127.0.4.1
127.0.6.1
""",
    "two.txt": SOA.format(z="two.example.test") + ":127.0.0.3:Second list\n127.0.0.2\n127.0.3.1\n",
    "wl.txt": SOA.format(z="wl.example.test") + ":127.0.10.2:Allowlisted\n127.0.0.2\n127.0.4.1\n",
    # A list that refuses us, as Spamhaus does with public resolvers.
    "refuse.txt": ":127.255.255.254:Error: open resolver\n127.0.0.0/8\n",
    "dbl.txt": SOA.format(z="dbl.example.test") + ":127.0.1.2:Domain listed: $\ntest\nspam.example\n",
    "six.txt": SOA.format(z="v6.example.test") + """\
::ffff:7f00:2 :127.0.0.2:v6 test point
::1 :127.0.0.2:IPv6 loopback listed
""",
}
ZONES = ["bl.example.test:ip4set:bl.txt", "two.example.test:ip4set:two.txt",
         "wl.example.test:ip4set:wl.txt", "refuse.example.test:ip4set:refuse.txt",
         "dbl.example.test:dnset:dbl.txt", "v6.example.test:ip6trie:six.txt"]


def has_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("smtpd_dnsbl")
    os.chmod(d, 0o755)  # rbldnsd reads as its own user
    for name, text in FILES.items():
        (d / name).write_text(text)
        os.chmod(d / name, 0o644)
    return d


@pytest.fixture(scope="module")
def dnsbld(data_dir):
    with running_dnsbld(ZONES, data_dir) as port:
        yield port


@pytest.fixture(scope="module")
def rbldnsd(data_dir):
    with running_rbldnsd(data_dir, ["-f", "-a"], ["bl.example.test:ip4set:bl.txt"],
                         "2.0.0.127.bl.example.test") as port:
        yield port


@pytest.fixture
def silent_dns():
    """A UDP 'DNS server' that reads every query and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    done = threading.Event()
    seen = []

    def drain():
        while not done.is_set():
            try:
                seen.append(sock.recv(4096))
            except socket.timeout:
                pass
            except OSError:
                return

    t = threading.Thread(target=drain, daemon=True)
    t.start()
    yield sock.getsockname()[1], seen
    done.set()
    t.join(2)
    sock.close()


def smtpd(tmp_path, dns_port, smtpd_keys, resolver_keys="timeout = 1000\ntries = 1\n", trusted=(),
          extra_sections=""):
    extra = smtpd_keys + f'\n[resolver]\nservers = ["127.0.0.1:{dns_port}"]\n' + resolver_keys
    extra += extra_sections
    tmp_path.mkdir(parents=True, exist_ok=True)
    return MxServer(tmp_path, trusted=trusted, extra=extra).start()


def rcpt(server, source, rcpts=("alice@example.test",), sender="someone@example.net",
         helo="client.example.net", host="127.0.0.1", port=None):
    """One transaction from `source`; returns [(code, text)] of the RCPTs, and the DATA code (or
    None when no recipient was accepted)."""
    with smtplib.SMTP(host, port or server.port, local_hostname=helo, timeout=20,
                      source_address=(source, 0)) as c:
        c.ehlo()
        code, _ = c.mail(sender)
        assert code == 250
        got = []
        for r in rcpts:
            code, text = c.rcpt(r)
            got.append((code, text.decode()))
        data_code = None
        if any(code == 250 for code, _ in got):
            data_code, _ = c.data(b"Subject: t\r\n\r\nhello\r\n")
        return got, data_code


BLOCKED = "Service unavailable; client [{ip}] blocked using {zone}"


def test_listed_client_is_refused_with_the_list_and_txt(tmp_path, dnsbld):
    s = smtpd(tmp_path, dnsbld, 'dnsbl = ["bl.example.test"]\n')
    try:
        got, data = rcpt(s, "127.0.2.1", rcpts=("alice@example.test", "bob@example.test"))
        want = (BLOCKED.format(ip="127.0.2.1", zone="bl.example.test") +
                "; Listed: see https://bl.example.test/lookup?ip=127.0.2.1")
        assert got == [(554, "5.7.1 " + want)] * 2, got
        assert data is None
        s.wait_log(r"reject: RCPT from \[127\.0\.2\.1\]:\d+: 554 5\.7\.1 " + re.escape(want) +
                   r"; from=<someone@example\.net> to=<alice@example\.test>")
        s.wait_log(r"dnsbl: RCPT from \[127\.0\.2\.1\]:\d+ blocked: score 1 \(threshold 1\): "
                   r"bl\.example\.test\*1=127\.0\.0\.2 \(client 127\.0\.2\.1\)")
        # A client that is not listed gets its mail through.
        got, data = rcpt(s, "127.0.9.9")
        assert got[0][0] == 250, got
        assert data == 250
        assert len(s.mailbox("example.test", "alice")) == 1
    finally:
        s.stop()


def test_weights_add_up_to_the_threshold(tmp_path, dnsbld):
    s = smtpd(tmp_path, dnsbld,
              'dnsbl = ["bl.example.test", "two.example.test"]\ndnsbl_threshold = 2\n')
    try:
        got, _ = rcpt(s, "127.0.3.1")  # on both lists: 1 + 1
        assert got[0][0] == 554, got
        assert "blocked using bl.example.test" in got[0][1], got
        s.wait_log(r"score 2 \(threshold 2\): bl\.example\.test\*1=127\.0\.0\.2 \(client "
                   r"127\.0\.3\.1\), two\.example\.test\*1=127\.0\.0\.3")
        got, data = rcpt(s, "127.0.2.1")  # on one list: 1 < 2
        assert got[0][0] == 250 and data == 250, got
        s.wait_log(r"dnsbl: RCPT from \[127\.0\.2\.1\]:\d+ passed: score 1 \(threshold 2\)")
    finally:
        s.stop()


def test_allowlist_cancels(tmp_path, dnsbld):
    s = smtpd(tmp_path, dnsbld, 'dnsbl = ["bl.example.test*2", "wl.example.test*-5"]\n')
    try:
        got, data = rcpt(s, "127.0.4.1")  # blocked 2, allowlisted -5
        assert got[0][0] == 250 and data == 250, got
        s.wait_log(r"passed: score -3 \(threshold 1\)")
        got, _ = rcpt(s, "127.0.2.1")  # only blocked
        assert got[0][0] == 554, got
    finally:
        s.stop()


def test_list_error_does_not_count(tmp_path, dnsbld):
    s = smtpd(tmp_path, dnsbld, 'dnsbl = ["refuse.example.test"]\n')
    try:
        for source in ("127.0.5.1", "127.0.5.2"):
            got, data = rcpt(s, source)
            assert got[0][0] == 250 and data == 250, got
        line = s.wait_log(r"dnsbl: warning: refuse\.example\.test: list error")
        assert "127.255.255.254" in line, line
        # Logged once per list per minute, not once per client.
        time.sleep(0.2)
        assert len(re.findall(r"refuse\.example\.test: list error", s.log())) == 1, s.log()
    finally:
        s.stop()


def test_silent_resolver_fails_open(tmp_path, silent_dns):
    port, seen = silent_dns
    s = smtpd(tmp_path, port, 'dnsbl = ["bl.example.test"]\n',
              resolver_keys="timeout = 300\ntries = 1\n")
    try:
        t0 = time.monotonic()
        got, data = rcpt(s, "127.0.2.1")  # listed, but nobody can tell
        elapsed = time.monotonic() - t0
        assert got[0][0] == 250 and data == 250, got
        assert elapsed < 3, f"the session waited {elapsed:.1f}s for a silent resolver"
        s.wait_log(r"dnsbl: warning: bl\.example\.test: (no answer within 300 ms|lookup of .* "
                   r"failed \(timeout)")
        assert seen, "the resolver never asked the server"
    finally:
        s.stop()


def test_sender_domain_list(tmp_path, dnsbld):
    s = smtpd(tmp_path, dnsbld, 'rhsbl_sender = ["dbl.example.test"]\n')
    try:
        got, _ = rcpt(s, "127.0.7.1", sender="x@spam.example")
        assert got == [(554, "5.7.1 Service unavailable; sender domain [spam.example] blocked "
                             "using dbl.example.test; Domain listed: spam.example")], got
        got, data = rcpt(s, "127.0.7.1", sender="x@good.example")
        assert got[0][0] == 250 and data == 250, got
    finally:
        s.stop()


def test_helo_domain_list(tmp_path, dnsbld):
    s = smtpd(tmp_path, dnsbld, 'rhsbl_helo = ["dbl.example.test"]\n')
    try:
        got, _ = rcpt(s, "127.0.7.2", helo="spam.example")
        assert got[0][0] == 554 and "helo name [spam.example] blocked" in got[0][1], got
        got, data = rcpt(s, "127.0.7.2", helo="good.example")
        assert got[0][0] == 250 and data == 250, got
    finally:
        s.stop()


def test_trusted_networks_are_never_checked(tmp_path, dnsbld):
    s = smtpd(tmp_path, dnsbld, 'dnsbl = ["bl.example.test"]\n', trusted=("127.0.2.0/24",))
    try:
        got, data = rcpt(s, "127.0.2.1")
        assert got[0][0] == 250 and data == 250, got
        assert "dnsbl:" not in s.log(), s.log()
    finally:
        s.stop()


def test_defer_and_log_actions(tmp_path, dnsbld):
    s = smtpd(tmp_path / "defer", dnsbld,
              'dnsbl = ["bl.example.test"]\ndnsbl_action = "defer"\n')
    try:
        got, _ = rcpt(s, "127.0.2.1")
        assert got[0][0] == 450 and got[0][1].startswith("4.7.1 Service unavailable"), got
    finally:
        s.stop()
    s = smtpd(tmp_path / "log", dnsbld, 'dnsbl = ["bl.example.test"]\ndnsbl_action = "log"\n')
    try:
        got, data = rcpt(s, "127.0.2.1")
        assert got[0][0] == 250 and data == 250, got
        s.wait_log(r"dnsbl: RCPT from \[127\.0\.2\.1\]:\d+ would block \(log only\): score 1")
    finally:
        s.stop()


def test_reject_at_connect(tmp_path, dnsbld):
    s = smtpd(tmp_path, dnsbld, 'dnsbl = ["bl.example.test"]\ndnsbl_reject_at = "connect"\n')
    try:
        c = s.connect(source="127.0.6.1")
        code, text = c.reply()
        assert code == 554, text
        assert BLOCKED.format(ip="127.0.6.1", zone="bl.example.test") in text, text
        code, _ = c.cmd("EHLO client.example.net")
        assert code == 250
        code, text = c.cmd("MAIL FROM:<x@example.net>")
        assert code == 503 and "blocked using bl.example.test" in text, text
        code, _ = c.cmd("QUIT")
        assert code == 221
        c.close()
        s.wait_log(r"reject: CONNECT from \[127\.0\.6\.1\]:\d+: 554 5\.7\.1")
        # Not listed: the ordinary banner.
        c = s.connect(source="127.0.9.8")
        code, text = c.reply()
        assert code == 220, text
        c.close()
    finally:
        s.stop()


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback")
def test_ipv6_client_in_a_nibble_zone(tmp_path, dnsbld):
    listener = '\n[[smtpd.listener]]\nlisten = ["[::1]:0"]\nrole = "mx"\ntls = "none"\n'
    s = smtpd(tmp_path, dnsbld, 'dnsbl = ["v6.example.test"]\n', extra_sections=listener)
    try:
        line = s.wait_log(r"smtpd: listening on \[::1\]:(\d+)")
        port = int(re.search(r"\[::1\]:(\d+)", line).group(1))
        got, _ = rcpt(s, "::1", host="::1", port=port)
        assert got == [(554, "5.7.1 " + BLOCKED.format(ip="::1", zone="v6.example.test") +
                        "; IPv6 loopback listed")], got
        # The same list does not list an IPv4 client.
        got, data = rcpt(s, "127.0.2.1")
        assert got[0][0] == 250 and data == 250, got
    finally:
        s.stop()


def test_rbldnsd_as_the_list(tmp_path, rbldnsd):
    s = smtpd(tmp_path, rbldnsd, 'dnsbl = ["bl.example.test"]\n')
    try:
        got, _ = rcpt(s, "127.0.2.1")
        assert got == [(554, "5.7.1 " + BLOCKED.format(ip="127.0.2.1", zone="bl.example.test") +
                        "; Listed: see https://bl.example.test/lookup?ip=127.0.2.1")], got
        got, data = rcpt(s, "127.0.9.7")
        assert got[0][0] == 250 and data == 250, got
    finally:
        s.stop()


def test_authenticated_clients_are_never_refused(tmp_path, dnsbld):
    tmp_path.mkdir(parents=True, exist_ok=True)
    line = subprocess.run([BIN, "passwd", "carol"], input="s3cret-pass\n", capture_output=True,
                          text=True, timeout=30, check=True).stdout.strip()
    (tmp_path / "passwd").write_text(line + "\n")
    sections = (f'\n[auth]\npasswd_file = "{tmp_path / "passwd"}"\n'
                '[[smtpd.listener]]\nlisten = ["127.0.0.1:0"]\nrole = "mx"\ntls = "none"\n'
                'auth_without_tls = true\n')
    s = smtpd(tmp_path, dnsbld, 'dnsbl = ["bl.example.test"]\n', extra_sections=sections)
    try:
        line = s.wait_log(r"smtpd: listening on 127\.0\.0\.1:\d+ \(mx, AUTH\)")
        port = int(re.search(r"127\.0\.0\.1:(\d+)", line).group(1))
        with smtplib.SMTP("127.0.0.1", port, local_hostname="client.example.net", timeout=20,
                          source_address=("127.0.2.1", 0)) as c:
            c.login("carol", "s3cret-pass")
            assert c.mail("carol@example.test")[0] == 250
            code, text = c.rcpt("alice@example.test")
            assert code == 250, text
            assert c.data(b"Subject: t\r\n\r\nhello\r\n")[0] == 250
        # The same listed client without AUTH is refused.
        got, _ = rcpt(s, "127.0.2.1", port=port)
        assert got[0][0] == 554, got
    finally:
        s.stop()


def test_sighup_adds_lists_and_swaps_the_resolver(tmp_path, dnsbld, silent_dns):
    silent_port, _ = silent_dns
    s = smtpd(tmp_path, dnsbld, "")  # no lists yet: no resolver either
    try:
        got, data = rcpt(s, "127.0.2.1")
        assert got[0][0] == 250 and data == 250, got
        text = s.config.read_text()
        s.config.write_text(text.replace("[smtpd]\n", '[smtpd]\ndnsbl = ["bl.example.test"]\n', 1))
        s.proc.send_signal(signal.SIGHUP)
        s.wait_log(r"reloaded ")
        got, _ = rcpt(s, "127.0.2.1")
        assert got[0][0] == 554, got
        # Another resolver (one that never answers): new sessions use it, and what the previous
        # one answered is not remembered.
        text = s.config.read_text()
        s.config.write_text(text.replace(f"127.0.0.1:{dnsbld}", f"127.0.0.1:{silent_port}"))
        with s._lock:
            s.lines.clear()
        s.proc.send_signal(signal.SIGHUP)
        s.wait_log(r"reloaded ")
        got, data = rcpt(s, "127.0.2.1")
        assert got[0][0] == 250 and data == 250, got
    finally:
        s.stop()
