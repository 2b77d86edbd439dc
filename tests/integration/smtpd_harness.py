"""A running `mxguard serve` for the smtpd integration tests.

MxServer writes a config from a template into a temp dir (listen on 127.0.0.1 port 0, the server
logs the port it got), starts the real binary, reads its stderr in a background thread, and kills
it at teardown. 127.0.0.1 is untrusted unless a test says otherwise (trusted_networks = []).
"""
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

BIN = os.environ.get("MXGUARD_BIN", "build/mxguard")

TEMPLATE = """\
[smtpd]
listen = ["127.0.0.1:0"]
hostname = "mx.example.test"
local_domains = ["example.test", "example.org"]
relay_domains = {relay_domains}
trusted_networks = {trusted}
allow_open_relay = {open_relay}
mail_dir = "{mail_dir}"
queue_dir = "{queue_dir}"
recipients = "{recipients}"
max_recipients = {max_recipients}
max_message_size = {max_message_size}
max_connections = {max_connections}
max_connections_per_ip = {max_per_ip}
greet_delay = {greet_delay}
timeout_greeting = {timeout}
timeout_mail = {timeout}
timeout_rcpt = {timeout}
timeout_data_init = {timeout}
timeout_data_block = {timeout}
timeout_data_term = {timeout_data_term}
timeout_idle = {timeout}
session_lifetime = {lifetime}
shutdown_grace = {grace}
{extra}
"""

RECIPIENTS = """\
alice@example.test
bob@example.test
carol@example.test
@example.org catchall
"""


def toml_list(items):
    return "[" + ", ".join(f'"{i}"' for i in items) + "]"


def terminate(proc, sig=signal.SIGTERM, timeout=20):
    """Sends sig to a running process and waits for it; kills it when it outlives timeout."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return proc.returncode


class MxServer:
    def __init__(self, tmp_path: Path, trusted=(), relay_domains=(), open_relay=False,
                 max_recipients=100, max_message_size=10485760, max_connections=1000,
                 max_per_ip=50, greet_delay=0, timeout=30, timeout_data_term=60, lifetime=600,
                 grace=10, extra="", recipients=RECIPIENTS):
        self.dir = Path(tmp_path)
        self.mail_dir = self.dir / "mail"
        self.queue_dir = self.dir / "queue"
        (self.dir / "recipients").write_text(recipients)
        self.config = self.dir / "mxguard.toml"
        self.config.write_text(TEMPLATE.format(
            trusted=toml_list(trusted), relay_domains=toml_list(relay_domains),
            open_relay="true" if open_relay else "false", mail_dir=self.mail_dir,
            queue_dir=self.queue_dir, recipients=self.dir / "recipients",
            max_recipients=max_recipients, max_message_size=max_message_size,
            max_connections=max_connections, max_per_ip=max_per_ip, greet_delay=greet_delay,
            timeout=timeout, timeout_data_term=timeout_data_term, lifetime=lifetime, grace=grace,
            extra=extra))
        self.proc = None
        self.port = None
        self.lines = []
        self._lock = threading.Lock()

    # -- process --
    def start(self, timeout=20):
        self.lines = []
        self.proc = subprocess.Popen([BIN, "serve", "--config", str(self.config)],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._pump, args=(self.proc,), daemon=True).start()
        line = self.wait_log(r"smtpd: listening on 127\.0\.0\.1:(\d+)", timeout=timeout)
        self.port = int(re.search(r"127\.0\.0\.1:(\d+)", line).group(1))
        return self

    def _pump(self, proc):
        for line in proc.stderr:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    def log(self):
        with self._lock:
            return "\n".join(self.lines)

    def wait_log(self, pattern, timeout=10):
        """Waits for a log line matching `pattern` (regex); returns it."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while time.monotonic() < deadline:
            with self._lock:
                for line in self.lines:
                    if rx.search(line):
                        return line
            if self.proc.poll() is not None and time.monotonic() > deadline - timeout + 0.5:
                with self._lock:
                    for line in self.lines:
                        if rx.search(line):
                            return line
                raise AssertionError(f"server exited ({self.proc.returncode}) before {pattern!r}:\n"
                                     + self.log())
            time.sleep(0.02)
        raise AssertionError(f"no log line matching {pattern!r} in {timeout}s:\n" + self.log())

    def stop(self, sig=signal.SIGTERM, timeout=20):
        return terminate(self.proc, sig, timeout) if self.proc else None

    def kill(self):
        return self.stop(signal.SIGKILL)

    # -- clients --
    def connect(self, source="127.0.0.1", timeout=10):
        """A raw client socket from `source` (any 127.x.y.z)."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout,
                                     source_address=(source, 0))
        return RawClient(s)

    # -- mailboxes --
    def mailbox(self, domain, name):
        new = self.mail_dir / domain / name / "new"
        return sorted(new.iterdir()) if new.exists() else []

    def all_delivered(self):
        return sorted(self.mail_dir.glob("*/*/new/*"))

    def queued(self):
        new = self.queue_dir / "new"
        return sorted(new.iterdir()) if new.exists() else []


class RawClient:
    """Line-level SMTP for the cases smtplib would not send."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def reply(self, timeout=10):
        """Reads one whole (possibly multiline) reply; returns (code, text) or (None, '') on EOF."""
        self.sock.settimeout(timeout)
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return None, "\n".join(lines)
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            text = line.decode("utf-8", "replace")
            lines.append(text)
            if len(text) < 4 or text[3] != "-":
                return int(text[:3]), "\n".join(lines)

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def closed(self, timeout=10):
        """True when the server has closed the connection (after any pending replies)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()


DNSBLD_READY = re.compile(r"dnsbld: listening on 127\.0\.0\.1:(\d+) \(udp, tcp\)")


@contextlib.contextmanager
def running_dnsbld(zones, cwd):
    """`mxguard serve --dnsbl ZONE...` in cwd on 127.0.0.1 port 0; yields the port it logged, and
    stops it (SIGTERM) on the way out. Its stderr is drained in a background thread."""
    args = [os.path.abspath(BIN), "serve"]
    for z in zones:
        args += ["--dnsbl", z]
    args += ["--dnsbl-listen", "127.0.0.1:0"]
    proc = subprocess.Popen(args, cwd=cwd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        lines, port = [], None
        deadline = time.monotonic() + 20
        while port is None:
            line = proc.stderr.readline()
            assert line or proc.poll() is None, "dnsbld exited:\n" + "".join(lines)
            assert time.monotonic() < deadline, "dnsbld did not start:\n" + "".join(lines)
            lines.append(line)
            m = DNSBLD_READY.search(line)
            if m:
                port = int(m.group(1))
        threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
        yield port
    finally:
        terminate(proc, timeout=10)


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_rbldnsd(data_dir, flags, zone_args, probe):
    """rbldnsd (Debian package) serving zone_args from data_dir (its chroot) on a free loopback
    port, yielded once it answers an A query for probe; stopped on the way out."""
    import dns.message  # pylint: disable=import-outside-toplevel
    import dns.query  # pylint: disable=import-outside-toplevel
    path = shutil.which("rbldnsd") or "/usr/sbin/rbldnsd"
    assert os.access(path, os.X_OK), "rbldnsd is not installed: run scripts/install-deps"
    port = free_udp_port()
    proc = subprocess.Popen([path, "-n", *flags, "-b", f"127.0.0.1/{port}", "-r", str(data_dir),
                             "-w", "/", *zone_args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                dns.query.udp(dns.message.make_query(probe, "A"), "127.0.0.1", port=port,
                              timeout=0.5)
                break
            except Exception:  # noqa: BLE001 - not up yet
                assert proc.poll() is None, proc.communicate()[0]
                assert time.monotonic() < deadline, "rbldnsd did not start"
        yield port
    finally:
        terminate(proc, timeout=10)
