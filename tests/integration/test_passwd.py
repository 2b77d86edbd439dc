"""`mxguard passwd [USER]`: a yescrypt passwd-file line for a password read from stdin.

The printed hash is checked with libxcrypt through Python's crypt module (a different caller of
crypt(3) than mxguard's policy/credentials, which the unit tests cover), so a line that only
mxguard could read would fail here. From a terminal (a pty) the password is asked twice with echo
off, the prompts on stderr.
"""
import os
import pty
import re
import select
import signal
import subprocess
import time
import warnings

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import crypt  # Debian 12's python3.11 has it (removed in 3.13)
    except ImportError:  # pragma: no cover
        crypt = None

TIMEOUT = 30
LINE = re.compile(r"^(?:(?P<user>[^:\s]+):)?\{CRYPT\}(?P<hash>\$y\$[./0-9A-Za-z]+\$[./0-9A-Za-z]+\$[./0-9A-Za-z]{43})$")


def passwd(mxguard_bin, stdin, *args):
    return subprocess.run([mxguard_bin, "passwd", *args], input=stdin, capture_output=True,
                          timeout=TIMEOUT, check=False)


def check_hash(hashed, password, other="not the password"):
    if crypt is None:
        pytest.skip("Python's crypt module is not available to check the hash independently")
    assert crypt.crypt(password, hashed) == hashed, f"{password!r} does not verify against {hashed}"
    assert crypt.crypt(other, hashed) != hashed


@pytest.mark.parametrize("user,stdin,password", [
    ("alice", b"hunter2\n", "hunter2"),
    ("alice@example.test", b"correct horse battery staple", "correct horse battery staple"),
    ("bob", b"trailing-crlf\r\n", "trailing-crlf"),
    ("carol", b"two newlines kept\n\n"[:-1], "two newlines kept"),
    ("dave", "p\u00e4ss w\u00f6rd:#\n".encode(), "p\u00e4ss w\u00f6rd:#"),
    ("", b"no user\n", "no user"),
])
def test_line_parses_and_verifies(mxguard_bin, user, stdin, password):
    r = passwd(mxguard_bin, stdin, *([user] if user else []))
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    assert out.endswith("\n") and out.count("\n") == 1, out
    m = LINE.match(out.rstrip("\n"))
    assert m, f"got {out!r}, want USER:{{CRYPT}}$y$..."
    assert (m.group("user") or "") == user
    check_hash(m.group("hash"), password)
    assert password.encode() not in r.stdout + r.stderr


def test_salts_differ(mxguard_bin):
    got = {passwd(mxguard_bin, b"same\n", "u").stdout for _ in range(3)}
    assert len(got) == 3, got


@pytest.mark.parametrize("stdin,args,want", [
    (b"", [], "empty password"),
    (b"\n", [], "empty password"),
    (b"\r\n", ["u"], "empty password"),
    (b"a\nb\n", [], "newline or NUL"),
    (b"a\x00b\n", [], "newline or NUL"),
    (b"x" * 5000, [], "longer than 4096"),
    (b"pw\n", ["a:b"], "user name"),
    (b"pw\n", ["a b"], "user name"),
])
def test_refusals(mxguard_bin, stdin, args, want):
    r = passwd(mxguard_bin, stdin, *args)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert r.stdout == b""
    assert want in r.stderr.decode(), r.stderr


def read_until(fd, want, deadline):
    buf = b""
    while want not in buf:
        left = deadline - time.monotonic()
        assert left > 0, f"timed out waiting for {want!r}, got {buf!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 4096)
            assert chunk, f"the child closed the pty before {want!r}, got {buf!r}"
            buf += chunk
    return buf


def read_to_end(fd, deadline):
    """Everything until the child closes the pty."""
    buf = b""
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"timed out waiting for the end, got {buf!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the pty
            return buf
        if not chunk:
            return buf
        buf += chunk


def wait_or_kill(pid, deadline):
    """The child's exit status; a child still running at the deadline is killed (and fails)."""
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    return status


@pytest.mark.parametrize("second,want_rc", [("s3cret tty", 0), ("different", 2)])
def test_terminal_prompts_twice_without_echo(mxguard_bin, second, want_rc):
    pid, fd = pty.fork()
    if pid == 0:  # the child: stdin, stdout and stderr are the pty
        os.execv(mxguard_bin, [mxguard_bin, "passwd", "tty-user"])
    deadline = time.monotonic() + TIMEOUT
    try:
        seen = read_until(fd, b"Password: ", deadline)
        os.write(fd, b"s3cret tty\n")
        seen += read_until(fd, b"Retype password: ", deadline)
        os.write(fd, second.encode() + b"\n")
        seen += read_to_end(fd, deadline)
    finally:
        status = wait_or_kill(pid, deadline)
        os.close(fd)
    assert os.WEXITSTATUS(status) == want_rc, seen
    text = seen.decode()
    assert "s3cret tty" not in text and "different" not in text, f"echo was on: {text!r}"
    if want_rc == 0:
        m = re.search(r"tty-user:\{CRYPT\}(\S+)", text)
        assert m, text
        check_hash(m.group(1), "s3cret tty")
