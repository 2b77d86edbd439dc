"""`mxguard probe` against real and scripted servers on loopback: `mxguard serve` closed (CLOSED)
and deliberately open (OPEN), and one small fake server per class and qualifier of the issue
(fake_smtp.py). Every test also checks that the probe never sent DATA."""
import json
import os
import re
import subprocess
import threading
import time

import pytest

import fake_smtp
from smtpd_harness import BIN as SERVE_BIN, MxServer

BIN = os.environ.get("MXGUARD_BIN", "build/mxguard")


def probe(*args, timeout=120):
    return subprocess.run([BIN, "probe", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def probe_json(*args, timeout=120):
    out = probe("--json", *args, timeout=timeout)
    try:
        doc = json.loads(out.stdout)
    except json.JSONDecodeError as e:
        raise AssertionError(f"not JSON ({e}):\n{out.stdout}\n{out.stderr}")
    return out, doc


def by_id(target):
    return {t["id"]: t for t in target["tests"]}


@pytest.fixture
def fake(request):
    servers = []

    def _start(cls):
        s = cls().start()
        servers.append(s)
        return s

    yield _start
    for s in servers:
        s.stop()


# ---- against mxguard serve ----

def test_serve_closed_is_closed(tmp_path):
    srv = MxServer(tmp_path).start()
    try:
        out, doc = probe_json("--local-domain", "example.test", f"127.0.0.1:{srv.port}")
        assert out.returncode == 0, out.stdout + out.stderr
        (t,) = doc["targets"]
        assert t["verdict"] == "CLOSED", t["reasons"]
        assert t["banner_host"] == "mx.example.test"
        tests = by_id(t)
        assert tests["ctl-local"]["outcome"] == "accepted"
        assert tests["plain"]["outcome"] == "refused"
        assert "Relay access denied" in tests["plain"]["detail"]
        assert all(x["outcome"] in ("refused", "mail-refused") for x in t["tests"]
                   if x["kind"] == "relay"), [(x["id"], x["detail"]) for x in t["tests"]]
        assert doc["exit"] == 0 and doc["summary"]["CLOSED"] == 1
        # The probe never sent a message: nothing delivered, nothing queued.
        assert srv.all_delivered() == [] and srv.queued() == []
        srv.wait_log(r"reject: RCPT from \[127\.0\.0\.1\]:\d+: 554 5\.7\.1 .*to=<relaytest@example\.net>")
    finally:
        srv.stop()


def test_serve_open_relay_is_open(tmp_path):
    srv = MxServer(tmp_path, trusted=["0.0.0.0/0"], open_relay=True).start()
    try:
        out, doc = probe_json("--local-domain", "example.test", f"127.0.0.1:{srv.port}")
        assert out.returncode == 1, out.stdout + out.stderr
        (t,) = doc["targets"]
        assert t["verdict"] == "OPEN", t["reasons"]
        tests = by_id(t)
        assert tests["plain"]["outcome"] == "accepted"
        assert "unsafe parsing" not in t["qualifiers"]
        assert any("accepts relay at RCPT, not verified by delivery" in r for r in t["reasons"])
        # Each test's dialogue is in the JSON: MAIL and RCPT with their full replies.
        sends = [c["send"] for c in tests["plain"]["commands"]]
        assert sends[-2:] == ["MAIL FROM:<mxguard-probe@example.net>",
                              "RCPT TO:<relaytest@example.net>"], sends
        assert tests["plain"]["commands"][-1]["reply"]["code"] == 250
        assert srv.all_delivered() == [] and srv.queued() == []
    finally:
        srv.stop()


def test_human_table(tmp_path):
    srv = MxServer(tmp_path).start()
    try:
        out = probe("--local-domain", "example.test", f"127.0.0.1:{srv.port}")
        assert out.returncode == 0, out.stdout + out.stderr
        assert f"== 127.0.0.1:{srv.port}  CLOSED" in out.stdout
        assert "banner:       220 mx.example.test ESMTP" in out.stdout
        assert "verdict: CLOSED" in out.stdout
        for test_id in ("nmap-01", "nmap-16", "percent-local", "xclient", "proxy"):
            assert f"  {test_id} " in out.stdout, test_id
    finally:
        srv.stop()


# ---- against scripted servers, one per class ----

CASES = [
    # class, exit code, verdict, qualifiers
    ("tempfail", 2, "TEMPFAIL", []),
    ("auth-required", 2, "AUTH-REQUIRED", []),
    ("accept-all", 1, "OPEN", ["accepts-all"]),
    ("accepts-rcpt-refuses-data", 1, "OPEN", ["accepts-all"]),
    ("banner-554", 2, "INCONCLUSIVE", []),
    ("disconnect-mid-run", 0, "CLOSED", []),
    ("percent-hack-only", 1, "OPEN", ["unsafe parsing"]),
]


@pytest.mark.parametrize("name,code,verdict,quals", CASES, ids=[c[0] for c in CASES])
def test_fake_server_classes(fake, name, code, verdict, quals):
    srv = fake(fake_smtp.CLASSES[name])
    out, doc = probe_json("--local-domain", "example.test", "--timeout", "10",
                          f"127.0.0.1:{srv.port}")
    (t,) = doc["targets"]
    assert (out.returncode, t["verdict"], t["qualifiers"]) == (code, verdict, quals), \
        json.dumps(t["reasons"] + t["notes"], indent=1)
    assert not srv.data_seen, "the probe sent DATA"
    assert not any(l.upper().startswith(("DATA", "BDAT")) for l in srv.sent())


def test_accepts_rcpt_refuses_data_judged_at_rcpt(fake):
    srv = fake(fake_smtp.AcceptsRcptRefusesData)
    out, doc = probe_json("--local-domain", "example.test", f"127.0.0.1:{srv.port}")
    (t,) = doc["targets"]
    assert t["verdict"] == "OPEN"
    assert any("not verified by delivery" in r for r in t["reasons"])
    assert not srv.data_seen
    # QUIT at the end of each connection, RSET between tests.
    first = srv.sent(conn=srv.main_connections()[0])
    assert first[-1] == "QUIT"
    envelopes = sum(1 for l in first if l.startswith(("MAIL", "XCLIENT")))
    assert first.count("RSET") == envelopes - 1


def test_percent_hack_only_names_the_variant(fake):
    srv = fake(fake_smtp.PercentHackOnly)
    out, doc = probe_json("--local-domain", "example.test", f"127.0.0.1:{srv.port}")
    (t,) = doc["targets"]
    accepted = sorted(x["id"] for x in t["tests"]
                      if x["kind"] == "relay" and x["outcome"] == "accepted")
    assert accepted == ["double-percent", "percent-local"], accepted
    assert by_id(t)["plain"]["outcome"] == "refused"


def test_greet_pause_longer_than_nmap(fake):
    srv = fake(fake_smtp.GreetPause)
    start = time.monotonic()
    out, doc = probe_json("--local-domain", "example.test", f"127.0.0.1:{srv.port}")
    (t,) = doc["targets"]
    assert (out.returncode, t["verdict"]) == (0, "CLOSED"), t["reasons"]
    assert time.monotonic() - start >= fake_smtp.GreetPause.greet_pause
    assert t["banner"]["code"] == 220


def test_disconnect_mid_run_reconnects(fake):
    srv = fake(fake_smtp.DisconnectMidRun)
    out, doc = probe_json("--local-domain", "example.test", f"127.0.0.1:{srv.port}")
    (t,) = doc["targets"]
    assert t["verdict"] == "CLOSED", t["reasons"]
    assert any("reconnected 1 time" in n for n in t["notes"]), t["notes"]
    assert t["connections"] == 3  # the first, the reconnection, the PROXY probe's
    assert [x["attempts"] for x in t["tests"]].count(2) == 1


def test_banner_554_says_why(fake):
    srv = fake(fake_smtp.Banner554)
    out = probe("--local-domain", "example.test", f"127.0.0.1:{srv.port}")
    assert out.returncode == 2
    assert "INCONCLUSIVE" in out.stdout
    assert "greeting refused: banner: 554 5.7.1" in out.stdout


def test_pipelining_groups_rset_mail_rcpt(fake):
    srv = fake(fake_smtp.FakeSmtp)
    out = probe("--local-domain", "example.test", f"127.0.0.1:{srv.port}")
    assert out.returncode == 0, out.stdout
    (main,) = srv.main_connections()
    lines = srv.sent(conn=main)
    assert lines[0].startswith("EHLO ")
    assert lines[1:3] == ["MAIL FROM:<mxguard-probe@example.net>",
                          "RCPT TO:<postmaster@example.test>"]
    assert lines[3:6] == ["RSET", "MAIL FROM:<mxguard-probe@example.net>",
                          "RCPT TO:<relaytest@example.net>"]
    assert lines[-1] == "QUIT"
    (proxy_conn,) = srv.proxy_connections()
    proxy = srv.sent(conn=proxy_conn)
    assert proxy[0].startswith("PROXY TCP4 127.0.0.1 127.0.0.1 "), proxy


def test_pipelining_several_tests_per_write(fake):
    """With PIPELINING, --pipeline N tests share a write: still RSET between tests and QUIT at
    the end, and the verdict and every test's outcome are those of one test per write."""
    verdicts = {}
    for n in (1, 16):
        srv = fake(fake_smtp.FakeSmtp)
        out, doc = probe_json("--pipeline", n, "--local-domain", "example.test",
                              f"127.0.0.1:{srv.port}")
        (t,) = doc["targets"]
        verdicts[n] = (t["verdict"], [(x["id"], x["outcome"]) for x in t["tests"]])
        (main,) = srv.main_connections()
        lines = srv.sent(conn=main)
        assert lines[-1] == "QUIT"
        assert lines.count("RSET") == sum(1 for l in lines if l.startswith(("MAIL", "XCLIENT"))) - 1
    assert verdicts[1] == verdicts[16]
    assert verdicts[1][0] == "CLOSED"
    out = probe("--pipeline", "0", "127.0.0.1")
    assert out.returncode == 64, out.stderr


def test_concurrency_fits_the_descriptor_limit(fake):
    """Two sockets per target at most: with a hard limit of 150 descriptors, --concurrency 500
    becomes 43 targets at once (a note on stderr), not connects failing with EMFILE."""
    import resource

    srv = fake(fake_smtp.FakeSmtp)
    out = subprocess.run(
        [BIN, "probe", "--json", "--concurrency", "500", "--local-domain", "example.test",
         f"127.0.0.1:{srv.port}"], capture_output=True, text=True, timeout=120,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (150, 150)))
    assert "--concurrency 500 needs 1064 descriptors, the limit is 150: probing 43 targets" \
        in out.stderr, out.stderr
    assert json.loads(out.stdout)["targets"][0]["verdict"] == "CLOSED"


# ---- IPv6 loopback ----

class MxServer6(MxServer):
    """`mxguard serve` listening on [::1] (port 0) instead of 127.0.0.1."""

    def start(self, timeout=20):
        text = self.config.read_text()
        assert 'listen = ["127.0.0.1:0"]' in text
        self.config.write_text(text.replace('listen = ["127.0.0.1:0"]', 'listen = ["[::1]:0"]'))
        self.lines = []
        self.proc = subprocess.Popen([SERVE_BIN, "serve", "--config", str(self.config)],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._pump, args=(self.proc,), daemon=True).start()
        line = self.wait_log(r"smtpd: listening on \[::1\]:(\d+)", timeout=timeout)
        self.port = int(re.search(r"\[::1\]:(\d+)", line).group(1))
        return self


def test_ipv6_serve_closed_is_closed(tmp_path):
    srv = MxServer6(tmp_path).start()
    try:
        out, doc = probe_json("--local-domain", "example.test", f"[::1]:{srv.port}")
        assert out.returncode == 0, out.stdout + out.stderr
        (t,) = doc["targets"]
        assert t["endpoint"] == f"[::1]:{srv.port}"
        assert t["verdict"] == "CLOSED", t["reasons"]
        tests = by_id(t)
        assert tests["ctl-local"]["outcome"] == "accepted"
        assert tests["plain"]["outcome"] == "refused"
        # {I} is the IPv6 literal; the PROXY probe claims ::1 in a TCP6 header, which serve
        # (no PROXY protocol) answers as an unknown command.
        sends = [c["send"] for x in t["tests"] for c in x["commands"]]
        assert any("[IPv6:::1]" in l for l in sends), sends
        assert tests["proxy"]["outcome"] == "refused", tests["proxy"]["detail"]
        proxy_sends = [c["send"] for c in tests["proxy"]["commands"]]
        assert f"PROXY TCP6 ::1 ::1 40025 {srv.port}" in proxy_sends, proxy_sends
        assert srv.all_delivered() == [] and srv.queued() == []
        srv.wait_log(r"reject: RCPT from \[IPv6:::1\]:\d+: 554 5\.7\.1 .*to=<relaytest@example\.net>")
    finally:
        srv.stop()


def test_ipv6_serve_open_relay_is_open(tmp_path):
    srv = MxServer6(tmp_path, trusted=["::/0"], open_relay=True).start()
    try:
        out, doc = probe_json("--local-domain", "example.test", f"[::1]:{srv.port}")
        assert out.returncode == 1, out.stdout + out.stderr
        (t,) = doc["targets"]
        assert t["verdict"] == "OPEN", t["reasons"]
        assert by_id(t)["plain"]["outcome"] == "accepted"
        assert srv.all_delivered() == [] and srv.queued() == []
    finally:
        srv.stop()


@pytest.mark.parametrize("cls,target,header", [
    (fake_smtp.TrustsProxy, "127.0.0.1:{port}", "PROXY TCP4 127.0.0.1 127.0.0.1 40025 {port}"),
    (fake_smtp.TrustsProxy6, "[::1]:{port}", "PROXY TCP6 ::1 ::1 40025 {port}"),
], ids=["tcp4", "tcp6"])
def test_proxy_header_trusted_is_open(fake, cls, target, header):
    """A server that takes the PROXY header from anyone: the fake checks every field of the
    header (family, addresses, ports, its own address as destination) before trusting it, so
    only a well-formed TCP4/TCP6 header can turn the PROXY test into an acceptance."""
    srv = fake(cls)
    out, doc = probe_json("--local-domain", "example.test", target.format(port=srv.port))
    (t,) = doc["targets"]
    assert (out.returncode, t["verdict"]) == (1, "OPEN"), t["reasons"]
    accepted = [x["id"] for x in t["tests"] if x["kind"] == "relay" and x["outcome"] == "accepted"]
    assert accepted == ["proxy"], accepted
    (conn,) = srv.proxy_connections()
    assert srv.proxy_headers[conn] == header.format(port=srv.port)
    assert srv.claimed[conn] in ("127.0.0.1", "::1")
    assert not srv.data_seen


# ---- several targets, usage ----

def test_many_targets_at_once(tmp_path, fake):
    closed = fake(fake_smtp.FakeSmtp)
    open_ = fake(fake_smtp.AcceptAll)
    targets = tmp_path / "targets"
    targets.write_text(f"# two fakes\n127.0.0.1:{closed.port}\n127.0.0.1:{open_.port}  # open\n")
    out, doc = probe_json("--local-domain", "example.test", "--concurrency", "2",
                          "--targets", targets)
    assert out.returncode == 1
    assert [t["verdict"] for t in doc["targets"]] == ["CLOSED", "OPEN"]
    assert doc["summary"] == {"targets": 2, "OPEN": 1, "CLOSED": 1, "TEMPFAIL": 0,
                              "AUTH-REQUIRED": 0, "INCONCLUSIVE": 0}


def test_unreachable_target_is_inconclusive():
    # a port nothing listens on (bind, then close)
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    out, doc = probe_json(f"127.0.0.1:{port}")
    assert out.returncode == 2
    (t,) = doc["targets"]
    assert t["verdict"] == "INCONCLUSIVE"
    assert "connect" in t["reasons"][0]


def test_trace_shows_both_directions(fake):
    srv = fake(fake_smtp.FakeSmtp)
    out = probe("--trace", "--local-domain", "example.test", f"127.0.0.1:{srv.port}")
    assert f"127.0.0.1:{srv.port} < 220 mx.example.test ESMTP fake" in out.stderr
    assert f"127.0.0.1:{srv.port} > RCPT TO:<relaytest@example.net>" in out.stderr


@pytest.mark.parametrize("args", [
    [],
    ["not_a_host"],
    ["127.0.0.1:0"],
    ["--local-domain", "bad_domain", "127.0.0.1"],
    ["--test-domain", "example.test", "--local-domain", "example.test", "127.0.0.1"],
    ["--from", "a@b\r\nDATA", "127.0.0.1"],
    ["--from", "<@a:b@c>", "127.0.0.1"],
    ["--to", "a@b", "127.0.0.1"],
    ["--concurrency", "0", "127.0.0.1"],
    ["--no-such-option", "127.0.0.1"],
    ["--starttls", "sometimes", "127.0.0.1"],
])
def test_usage_errors_exit_64(args):
    out = probe(*args, timeout=30)
    assert out.returncode == 64, (args, out.stdout, out.stderr)


def test_list_tests():
    out = probe("--list-tests", timeout=30)
    assert out.returncode == 0
    for test_id in ["nmap-%02d" % i for i in range(1, 17) if i != 2] + ["plain", "xclient",
                                                                         "proxy", "ctl-local",
                                                                         "ctl-any"]:
        assert f"\n{test_id} " in out.stdout or out.stdout.startswith(test_id), test_id
    assert "reference: nmap smtp-open-relay #12; RFC 5321 3.6.1, appendix C" in out.stdout


# ---- mx:DOMAIN through c-ares, against a scripted DNS server on loopback ----

class FakeDns:
    """UDP DNS on 127.0.0.1: MX and A records from a table; anything else NXDOMAIN (or an empty
    NOERROR answer for a name that exists). Only what c-ares asks for MX resolution."""

    def __init__(self, records):
        import socket
        import threading
        self.records = records  # {(name, qtype): [rdata bytes, ...]}
        self.names = {name for name, _ in records}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.queries = []
        threading.Thread(target=self._serve, daemon=True).start()

    @staticmethod
    def name(text):
        out = b""
        for label in text.rstrip(".").split("."):
            if label:
                out += bytes([len(label)]) + label.encode()
        return out + b"\0"

    def _serve(self):
        import struct
        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            qid, flags, qd = struct.unpack("!HHH", data[:6])
            pos, labels = 12, []
            while data[pos]:
                labels.append(data[pos + 1:pos + 1 + data[pos]].decode().lower())
                pos += 1 + data[pos]
            qname = ".".join(labels)
            qtype, qclass = struct.unpack("!HH", data[pos + 1:pos + 5])
            question = data[12:pos + 5]
            self.queries.append((qname, qtype))
            answers = self.records.get((qname, qtype), [])
            rcode = 0 if qname in self.names else 3
            body = b""
            for rdata in answers:
                body += struct.pack("!HHHIH", 0xC00C, qtype, 1, 60, len(rdata)) + rdata
            head = struct.pack("!HHHHHH", qid, 0x8180 | rcode, 1, len(answers), 0, 0)
            self.sock.sendto(head + question + body, peer)

    def stop(self):
        self.sock.close()


def mx(pref, host):
    import struct
    return struct.pack("!H", pref) + FakeDns.name(host)


A_LOOPBACK = bytes([127, 0, 0, 1])
MX = 15
A = 1


def test_mx_domain_resolved_with_c_ares(fake):
    smtp = fake(fake_smtp.FakeSmtp)
    dns = FakeDns({
        ("example.test", MX): [mx(10, "mx.example.test")],
        ("mx.example.test", A): [A_LOOPBACK],
    })
    try:
        # No --local-domain: mx:DOMAIN makes example.test a local domain of its MX hosts.
        out, doc = probe_json("--dns-server", f"127.0.0.1:{dns.port}",
                              f"mx:example.test:{smtp.port}")
        assert out.returncode == 0, out.stdout + out.stderr
        (t,) = doc["targets"]
        assert t["target"] == f"mx:example.test:{smtp.port} (MX 10 mx.example.test)"
        assert t["endpoint"] == f"127.0.0.1:{smtp.port}"
        assert t["local_domain"] == "example.test"
        assert t["verdict"] == "CLOSED", t["reasons"]
        assert ("example.test", MX) in dns.queries
    finally:
        dns.stop()


def test_mx_domain_without_mx_uses_the_domain(fake):
    smtp = fake(fake_smtp.FakeSmtp)
    dns = FakeDns({
        ("example.test", A): [A_LOOPBACK],
    })
    try:
        out, doc = probe_json("--dns-server", f"127.0.0.1:{dns.port}",
                              f"mx:example.test:{smtp.port}")
        (t,) = doc["targets"]
        assert "no MX: the domain itself" in t["target"]
        assert t["verdict"] == "CLOSED", t["reasons"]
    finally:
        dns.stop()


def test_mx_domain_failures_are_inconclusive():
    dns = FakeDns({
        ("null.example.test", MX): [mx(0, ".")],
        ("dangling.example.test", MX): [mx(10, "gone.example.test")],
    })
    try:
        out, doc = probe_json("--dns-server", f"127.0.0.1:{dns.port}", "--timeout", "5",
                              "mx:null.example.test", "mx:dangling.example.test",
                              "mx:nxdomain.example.test")
        assert out.returncode == 2
        reasons = [t["reasons"][0] for t in doc["targets"]]
        assert [t["verdict"] for t in doc["targets"]] == ["INCONCLUSIVE"] * 3
        assert "null.example.test has a null MX (RFC 7505)" in reasons[0]
        assert "resolving gone.example.test: no such host" in reasons[1]
        assert "MX of nxdomain.example.test: no such domain" in reasons[2]
    finally:
        dns.stop()


# ---- STARTTLS: the battery before and after it ----

@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=mx.example.test", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return str(cert), str(key)


def tls_fake(fake, cls, tls_files):
    sub = type(cls.__name__ + "WithCert", (cls,), {"tls_files": tls_files})
    return fake(sub)


def test_starttls_closed_before_and_after(fake, tls_files):
    srv = tls_fake(fake, fake_smtp.TlsClosed, tls_files)
    out, doc = probe_json("--local-domain", "example.test", f"127.0.0.1:{srv.port}")
    (t,) = doc["targets"]
    assert (out.returncode, t["verdict"]) == (0, "CLOSED"), t["reasons"] + t["notes"]
    ids = [x["id"] for x in t["tests"]]
    assert "plain" in ids and "plain+tls" in ids and "proxy+tls" not in ids
    assert all(x["outcome"] == "refused" for x in t["tests"] if x["id"].endswith("+tls")
               and x["kind"] == "relay"), [(x["id"], x["detail"]) for x in t["tests"]]
    assert "STARTTLS offered: the battery ran before and after it" in t["notes"]
    assert by_id(t)["plain+tls"]["after_starttls"] and not by_id(t)["plain"]["after_starttls"]
    assert srv.tls, "no TLS session was made"
    assert not srv.data_seen


def test_starttls_relay_only_inside_tls_is_open(fake, tls_files):
    srv = tls_fake(fake, fake_smtp.RelaysAfterTls, tls_files)
    out, doc = probe_json("--local-domain", "example.test", f"127.0.0.1:{srv.port}")
    (t,) = doc["targets"]
    assert (out.returncode, t["verdict"]) == (1, "OPEN"), t["reasons"]
    accepted = [x["id"] for x in t["tests"] if x["kind"] == "relay" and x["outcome"] == "accepted"]
    assert "plain+tls" in accepted
    assert all(i.endswith("+tls") for i in accepted), accepted
    assert not srv.data_seen


def test_starttls_never_and_always(fake, tls_files):
    srv = tls_fake(fake, fake_smtp.RelaysAfterTls, tls_files)
    out, doc = probe_json("--starttls", "never", "--local-domain", "example.test",
                          f"127.0.0.1:{srv.port}")
    (t,) = doc["targets"]
    assert t["verdict"] == "CLOSED" and not srv.tls
    assert not any(x["id"].endswith("+tls") for x in t["tests"])
    out, doc = probe_json("--starttls", "always", "--local-domain", "example.test",
                          f"127.0.0.1:{srv.port}")
    (t,) = doc["targets"]
    assert t["verdict"] == "OPEN"
    assert [x["id"] for x in t["tests"] if not x["id"].endswith("+tls")] == ["proxy"]
    plain = fake(fake_smtp.FakeSmtp)
    out, doc = probe_json("--starttls", "always", "--local-domain", "example.test",
                          f"127.0.0.1:{plain.port}")
    (t,) = doc["targets"]
    assert (out.returncode, t["verdict"]) == (2, "INCONCLUSIVE")
    assert "STARTTLS is not offered" in t["reasons"][0]


def test_starttls_trace_shows_the_handshake(fake, tls_files):
    srv = tls_fake(fake, fake_smtp.TlsClosed, tls_files)
    out = probe("--trace", "--local-domain", "example.test", f"127.0.0.1:{srv.port}")
    assert out.returncode == 0, out.stdout
    assert f"127.0.0.1:{srv.port} > STARTTLS" in out.stderr
    assert f"127.0.0.1:{srv.port} - TLS established: TLS" in out.stderr
