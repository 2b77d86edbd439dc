"""mxguard serve as an MX, driven by clients we did not write (smtplib, swaks, nmap) and by raw
sockets for what those clients would never send. 127.0.0.1 is untrusted unless a test says so."""
import shutil
import smtplib
import socket
import subprocess
import threading
import time

import pytest

from smtpd_harness import MxServer

BODY = b"Subject: hello\r\nFrom: a@sender.example\r\n\r\nLine one.\r\n.leading dot\r\nLast line.\r\n"


@pytest.fixture
def server(tmp_path):
    srv = MxServer(tmp_path).start()
    yield srv
    srv.stop()


def read_message(path):
    return path.read_bytes()


# ---- delivery ----

def test_smtplib_delivers_to_local_mailbox(server):
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as c:
        c.ehlo("client.example")
        refused = c.sendmail("a@sender.example", ["alice@example.test"], BODY)
        assert refused == {}
    files = server.mailbox("example.test", "alice")
    assert len(files) == 1, server.log()
    data = read_message(files[0])
    head, _, body = data.partition(b"\r\n\r\n")
    assert data.startswith(b"Return-Path: <a@sender.example>\r\nReceived: from client.example ([127.0.0.1])\r\n")
    assert b"\tby mx.example.test (mxguard) with ESMTP id " in data
    assert b"\tfor <alice@example.test>; " in data
    # The message bytes follow the two trace headers untouched (dot-unstuffed by the protocol).
    assert data.endswith(BODY), data
    assert len(server.all_delivered()) == 1


def test_one_copy_hard_linked_for_several_local_recipients(server):
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as c:
        c.sendmail("a@sender.example", ["alice@example.test", "Bob@Example.Test"], BODY)
    a = server.mailbox("example.test", "alice")
    b = server.mailbox("example.test", "bob")
    assert len(a) == 1 and len(b) == 1
    assert a[0].stat().st_ino == b[0].stat().st_ino
    assert a[0].stat().st_nlink == 2
    assert b"\tfor <" not in a[0].read_bytes()  # several recipients: no "for" clause


def test_catch_all_and_postmaster(server):
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as c:
        c.sendmail("", ["anyone@example.org", "postmaster@example.test"], BODY)
        c.sendmail("a@sender.example", ["<Postmaster>"], BODY) if False else None
    assert len(server.mailbox("example.org", "catchall")) == 1
    assert len(server.mailbox("example.test", "postmaster")) == 1
    data = server.mailbox("example.org", "catchall")[0].read_bytes()
    assert data.startswith(b"Return-Path: <>\r\n")


def test_unknown_local_user_is_refused_at_rcpt(server):
    c = server.connect()
    assert c.reply()[0] == 220
    assert c.cmd("EHLO c")[0] == 250
    assert c.cmd("MAIL FROM:<a@sender.example>")[0] == 250
    code, text = c.cmd("RCPT TO:<nobody@example.test>")
    assert (code, text[4:9]) == (550, "5.1.1"), text
    assert "User unknown" in text
    server.wait_log(r"reject: RCPT from \[127\.0\.0\.1\]:\d+: 550 5\.1\.1 .*to=<nobody@example\.test>")


def test_swaks_local_delivery_and_relay_denied(server):
    swaks = shutil.which("swaks")
    assert swaks, "swaks is installed by scripts/install-deps"
    ok = subprocess.run([swaks, "--server", f"127.0.0.1:{server.port}", "--to", "carol@example.test",
                         "--from", "a@sender.example", "--helo", "client.example"],
                        capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "250 2.0.0 Ok: queued as" in ok.stdout
    assert len(server.mailbox("example.test", "carol")) == 1
    denied = subprocess.run([swaks, "--server", f"127.0.0.1:{server.port}", "--to",
                             "victim@relay-target.example", "--from", "a@sender.example",
                             "--quit-after", "RCPT"], capture_output=True, text=True, timeout=30)
    assert denied.returncode != 0
    assert "554 5.7.1 <victim@relay-target.example>: Relay access denied" in denied.stdout
    server.wait_log(r"reject: RCPT from \[127\.0\.0\.1\]:\d+: 554 5\.7\.1 .*from=<a@sender\.example> "
                    r"to=<victim@relay-target\.example> proto=ESMTP helo=<")


# ---- nmap's open-relay script ----

def run_nmap_relay(port):
    nmap = shutil.which("nmap")
    assert nmap, "nmap is installed by scripts/install-deps"
    out = subprocess.run([nmap, "-Pn", "-n", "-p", str(port), "--script", "+smtp-open-relay",
                          "--script-args",
                          "smtp-open-relay.domain=relay-target.example,smtp-open-relay.ip=127.0.0.1",
                          "127.0.0.1"], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_nmap_finds_no_open_relay(server):
    out = run_nmap_relay(server.port)
    assert "all tests failed" in out, out
    assert "is an open relay" not in out, out
    assert server.all_delivered() == [] and server.queued() == []


def test_nmap_finds_the_open_relay_when_asked_for(tmp_path):
    srv = MxServer(tmp_path, trusted=["0.0.0.0/0"], open_relay=True).start()
    try:
        srv.wait_log(r"allow_open_relay")
        out = run_nmap_relay(srv.port)
        assert "Server is an open relay" in out, out
    finally:
        srv.stop()


# ---- address tricks from an untrusted client ----

TRICKS = [
    "user@relay-target.example",
    "user%relay-target.example@example.test",
    "user%relay-target.example@[127.0.0.1]",
    "user%relay-target.example@mx.example.test",
    "relay-target.example!user@example.test",
    "relay-target.example!user",
    '"user@relay-target.example"@example.test',
    '"user%relay-target.example"@example.test',
    '"user\\@relay-target.example"@example.test',
    "@example.test:user@relay-target.example",
    "@example.test,@mx.example.test:user@relay-target.example",
    '"relay-target.example:user"@example.test',
    "user@relay-target.example@example.test",
    "user@[192.0.2.99]",
    "user@[IPv6:2001:db8::99]",
    "user@RELAY-TARGET.EXAMPLE.",
    "user@example.test.relay-target.example",
    "user@relay-target.example.example.test",
]
SENDERS = ["<>", "<a@relay-target.example>", "<postmaster@example.test>", "<a@[127.0.0.1]>",
           "<a@mx.example.test>"]
HELOS = ["client.example", "mx.example.test", "[127.0.0.1]", "example.test"]


def test_every_address_trick_is_refused_at_rcpt(server):
    results = []
    for helo in HELOS:
        for sender in SENDERS:
            # A session per (HELO, sender): the syntax-error forms count toward max_errors.
            c = server.connect(source="127.0.0.2")
            assert c.reply()[0] == 220
            assert c.cmd(f"EHLO {helo}")[0] == 250
            code, text = c.cmd(f"MAIL FROM:{sender}")
            assert code == 250, text
            for rcpt in TRICKS:
                code, text = c.cmd(f"RCPT TO:<{rcpt}>")
                results.append((helo, sender, rcpt, code, text))
            c.cmd("QUIT")
            c.close()
    accepted = [r for r in results if r[3] // 100 == 2]
    assert accepted == [], accepted
    assert all(r[3] // 100 == 5 for r in results), [r for r in results if r[3] // 100 != 5]
    assert server.all_delivered() == [] and server.queued() == []


def test_trusted_network_relays_into_the_queue_and_it_survives_restart(tmp_path):
    srv = MxServer(tmp_path, trusted=["127.0.0.0/8"]).start()
    try:
        with smtplib.SMTP("127.0.0.1", srv.port, timeout=10) as c:
            c.sendmail("a@example.test", ["x@remote.example", "alice@example.test"], BODY)
        queued = srv.queued()
        assert len(queued) == 1, srv.log()
        before = queued[0].read_bytes()
        assert before.startswith(b"X-Mxguard-Envelope-From: <a@example.test>\r\n"
                                 b"X-Mxguard-Envelope-To: <x@remote.example>\r\n\r\nReceived: ")
        assert before.endswith(BODY)
        assert len(srv.mailbox("example.test", "alice")) == 1
        srv.stop()
        srv.start()
        assert [p.read_bytes() for p in srv.queued()] == [before]
    finally:
        srv.stop()


def test_relay_domain_is_relayed_for_anyone(tmp_path):
    srv = MxServer(tmp_path, relay_domains=["backup.example"]).start()
    try:
        with smtplib.SMTP("127.0.0.1", srv.port, timeout=10) as c:
            c.sendmail("a@sender.example", ["x@backup.example"], BODY)
            with pytest.raises(smtplib.SMTPRecipientsRefused):
                c.sendmail("a@sender.example", ["x%y@backup.example"], BODY)
        assert len(srv.queued()) == 1
    finally:
        srv.stop()


# ---- protocol abuse ----

SMUGGLING = [b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r.\r\n", b"\r\n.\n", b"\r\n.\r"]


@pytest.mark.parametrize("fake_end", SMUGGLING, ids=lambda b: b.decode().replace("\r", "CR").replace("\n", "LF"))
def test_smuggling_is_refused(server, fake_end):
    c = server.connect()
    c.reply()
    c.cmd("EHLO c")
    c.cmd("MAIL FROM:<a@sender.example>")
    c.cmd("RCPT TO:<alice@example.test>")
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: real\r\n\r\nbody" + fake_end +
           b"MAIL FROM:<admin@bank.example>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n"
           b"Subject: smuggled\r\n\r\nevil\r\n.\r\n")
    code, text = c.reply()
    assert (code, text[4:9]) == (550, "5.6.0"), text
    assert c.cmd("NOOP")[0] == 250  # still in sync, and nothing smuggled ran
    assert server.all_delivered() == []


def test_bare_lf_cr_nul_and_long_lines(server):
    c = server.connect()
    c.reply()
    assert c.cmd("EHLO c")[0] == 250
    c.send(b"MAIL FROM:<a@sender.example>\nRCPT TO:<alice@example.test>\r\n")
    assert c.reply()[0] == 500
    c.send(b"NO\rOP\r\n")
    assert c.reply()[0] == 500
    c.send(b"NO\x00OP\r\n")
    assert c.reply()[0] == 500
    c.send(b"NOOP " + b"x" * 2000 + b"\r\n")
    code, text = c.reply()
    assert code == 500 and "too long" in text
    assert c.cmd("NOOP")[0] == 250


def test_101_recipients(server):
    c = server.connect()
    c.reply()
    c.cmd("EHLO c")
    c.cmd("MAIL FROM:<a@sender.example>")
    codes = []
    for i in range(101):
        c.send(f"RCPT TO:<u{i}@example.org>\r\n")
    for i in range(101):
        codes.append(c.reply()[0])
    assert codes[:100] == [250] * 100 and codes[100] == 452, codes[95:]


def test_oversize_refused_at_mail_and_after_data(tmp_path):
    srv = MxServer(tmp_path, max_message_size=2048).start()
    try:
        c = srv.connect()
        c.reply()
        c.cmd("EHLO c")
        assert c.cmd("MAIL FROM:<a@sender.example> SIZE=4096")[0] == 552
        assert c.cmd("MAIL FROM:<a@sender.example>")[0] == 250
        assert c.cmd("RCPT TO:<alice@example.test>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send(b"x" * 900 + b"\r\n" + b"y" * 900 + b"\r\n" + b"z" * 900 + b"\r\n.\r\n")
        code, text = c.reply()
        assert (code, text[4:9]) == (552, "5.3.4"), text
        assert srv.all_delivered() == []
    finally:
        srv.stop()


def test_pregreet_with_greet_delay(tmp_path):
    srv = MxServer(tmp_path, greet_delay=700).start()
    try:
        early = srv.connect()
        early.send(b"EHLO bot\r\n")
        code, text = early.reply()
        assert (code, text[4:9]) == (554, "5.5.0"), text
        assert early.closed()
        srv.wait_log(r"PREGREET from \[127\.0\.0\.1\]")
        polite = srv.connect()
        start = time.monotonic()
        assert polite.reply()[0] == 220
        assert time.monotonic() - start >= 0.6
        assert polite.cmd("EHLO c")[0] == 250
    finally:
        srv.stop()


def test_pipelining_synchronization(server):
    c = server.connect()
    c.reply()
    c.send(b"EHLO c\r\nMAIL FROM:<a@sender.example>\r\n")
    code, text = c.reply()
    assert (code, text[4:9]) == (554, "5.5.0")
    assert c.closed()


def test_too_many_connections_per_ip(tmp_path):
    srv = MxServer(tmp_path, max_per_ip=2).start()
    try:
        a, b = srv.connect(source="127.0.0.3"), srv.connect(source="127.0.0.3")
        assert a.reply()[0] == 220 and b.reply()[0] == 220
        third = srv.connect(source="127.0.0.3")
        code, text = third.reply()
        assert (code, text[4:9]) == (421, "4.7.0"), text
        other = srv.connect(source="127.0.0.4")  # another client is still served
        assert other.reply()[0] == 220
    finally:
        srv.stop()


def test_idle_timeout_and_slowloris(tmp_path):
    srv = MxServer(tmp_path, timeout=1).start()
    try:
        idle = srv.connect()
        assert idle.reply()[0] == 220
        slow = srv.connect()
        slow.reply()
        # A slowloris sends a byte at a time, never a line end; the deadline still applies.
        start = time.monotonic()
        for _ in range(3):
            slow.send(b"N")
            time.sleep(0.4)
        code, text = idle.reply(timeout=5)
        assert (code, text[4:9]) == (421, "4.4.2"), text
        assert idle.closed()
        # Meanwhile, another client is served at once.
        fresh = srv.connect()
        assert fresh.reply()[0] == 220
        assert fresh.cmd("NOOP")[0] == 250
        assert slow.reply(timeout=5)[0] == 421
        assert time.monotonic() - start < 5
    finally:
        srv.stop()


def test_sigterm_lets_data_finish(tmp_path):
    srv = MxServer(tmp_path, grace=10).start()
    c = srv.connect()
    c.reply()
    c.cmd("EHLO c")
    c.cmd("MAIL FROM:<a@sender.example>")
    c.cmd("RCPT TO:<alice@example.test>")
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: in flight\r\n\r\npart one\r\n")
    idle = srv.connect()
    idle.reply()
    srv.proc.send_signal(15)
    code, text = idle.reply()
    assert (code, text[4:9]) == (421, "4.3.2"), text
    c.send(b"part two\r\n.\r\n")
    assert c.reply()[0] == 250
    assert srv.proc.wait(15) == 0
    assert len(srv.mailbox("example.test", "alice")) == 1


def test_sighup_reloads_and_keeps_old_config_on_error(tmp_path):
    srv = MxServer(tmp_path).start()
    try:
        good = srv.config.read_text()
        srv.config.write_text(good.replace('"example.org"]', '"example.org", "new.example"]'))
        srv.proc.send_signal(1)
        srv.wait_log(r"reloaded")
        c = srv.connect()
        c.reply()
        c.cmd("EHLO c")
        c.cmd("MAIL FROM:<a@sender.example>")
        assert c.cmd("RCPT TO:<postmaster@new.example>")[0] == 250
        srv.config.write_text(good + "\nbogus_key = 1\n")
        srv.proc.send_signal(1)
        srv.wait_log(r"reload refused: .*mxguard\.toml:\d+")
        c2 = srv.connect()
        c2.reply()
        c2.cmd("EHLO c")
        c2.cmd("MAIL FROM:<a@sender.example>")
        assert c2.cmd("RCPT TO:<postmaster@new.example>")[0] == 250  # old config kept
    finally:
        srv.stop()


def test_port_in_use_is_a_clear_error(tmp_path):
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    srv = MxServer(tmp_path)
    srv.config.write_text(srv.config.read_text().replace('"127.0.0.1:0"', f'"127.0.0.1:{port}"'))
    out = subprocess.run([srv_bin(), "serve", "--config", str(srv.config)], capture_output=True,
                         text=True, timeout=20)
    blocker.close()
    assert out.returncode != 0
    assert f"127.0.0.1:{port}" in out.stderr and "in use" in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) <= 2, out.stderr


def srv_bin():
    import smtpd_harness
    return smtpd_harness.BIN


def crash_body(marker):
    lines = "".join(f"{marker} line {i:04d} " + "x" * 60 + "\r\n" for i in range(40))
    return (f"Subject: {marker}\r\n\r\n" + lines + f"END {marker}\r\n").encode()


def test_sigkill_never_loses_an_acknowledged_message(tmp_path):
    import random
    rng = random.Random(7)
    srv = MxServer(tmp_path)
    acknowledged = []
    lock = threading.Lock()
    for round_no in range(5):
        srv.start()
        port = srv.port
        stop = threading.Event()

        def client(n):
            i = 0
            while not stop.is_set():
                marker = f"m{round_no}-{n}-{i}"
                i += 1
                try:
                    with smtplib.SMTP("127.0.0.1", port, timeout=5) as c:
                        c.sendmail("a@sender.example", ["alice@example.test", "bob@example.test"],
                                   crash_body(marker))
                    with lock:
                        acknowledged.append(marker)
                except (OSError, smtplib.SMTPException):
                    return

        threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.3, 0.9))
        srv.kill()
        stop.set()
        for t in threads:
            t.join(10)
        # Every file in new/ is whole; every acknowledged message is there for both recipients.
        for name in ("alice", "bob"):
            seen = set()
            for path in srv.mailbox("example.test", name):
                data = path.read_bytes()
                marker = data.split(b"Subject: ", 1)[1].split(b"\r\n", 1)[0].decode()
                assert data.endswith(crash_body(marker)), f"partial file {path}"
                seen.add(marker)
            missing = [m for m in acknowledged if m not in seen]
            assert missing == [], f"acknowledged but lost for {name}: {missing[:5]}"
    assert len(acknowledged) > 10, "the load produced too few messages to mean anything"
