"""Fixtures for the integration tests: they drive the real mxguard binary.

ctest sets MXGUARD_BIN (the built binary) and MXGUARD_SOURCE_DIR (the source tree). Every process
started here is killed at teardown, whatever the test did.
"""
import os
import selectors
import signal
import subprocess
import time
from pathlib import Path

import pytest

TIMEOUT = 30  # seconds for any one command; the proof takes well under a second


@pytest.fixture(autouse=True)
def _service_user_reaches_tmp_path(request):
    """Run as root, `mxguard serve` drops to its service user ("mxguard"), which must reach the
    test's files and spool as on a real host; pytest makes its temp dirs 0700, so open them to
    traversal (o+rx) up to /tmp. Nothing changes for non-root runs."""
    if os.geteuid() != 0 or "tmp_path" not in request.fixturenames:
        return
    path = request.getfixturevalue("tmp_path")
    for d in [path, *path.parents]:
        if d in (Path("/tmp"), Path("/")):
            break
        os.chmod(d, os.stat(d).st_mode | 0o055)


@pytest.fixture(scope="session")
def mxguard_bin():
    path = os.environ.get("MXGUARD_BIN")
    if not path:
        pytest.fail("MXGUARD_BIN is not set (run through ctest)")
    assert os.access(path, os.X_OK), f"{path} is not executable"
    return path


@pytest.fixture(scope="session")
def source_dir():
    path = os.environ.get("MXGUARD_SOURCE_DIR")
    if not path:
        pytest.fail("MXGUARD_SOURCE_DIR is not set (run through ctest)")
    return Path(path)


@pytest.fixture
def run(mxguard_bin):
    """run(*args) -> CompletedProcess with text stdout/stderr; fails the test on a timeout."""

    def _run(*args, timeout=TIMEOUT, cwd=None):
        return subprocess.run([mxguard_bin, *map(str, args)], capture_output=True, text=True,
                              timeout=timeout, check=False, cwd=cwd)

    return _run


@pytest.fixture
def write_config(tmp_path):
    """write_config(text, name="mxguard.toml") -> Path of a config file in tmp_path."""

    def _write(text, name="mxguard.toml"):
        path = tmp_path / name
        path.write_text(text)
        return path

    return _write


class Server:
    """A running `mxguard serve`, with its stderr read line by line under a deadline."""

    def __init__(self, argv, cwd=None):
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, cwd=cwd)
        self.stderr = ""
        self._buffer = b""
        self._sel = selectors.DefaultSelector()
        self._sel.register(self.proc.stderr, selectors.EVENT_READ)

    def read_until(self, needle, timeout=TIMEOUT, count=1):
        """Reads stderr until `needle` has appeared `count` times; returns all stderr so far."""
        deadline = time.monotonic() + timeout
        while self.stderr.count(needle) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {needle!r}; stderr so far:\n{self.stderr}")
            if not self._sel.select(timeout=left):
                continue
            chunk = os.read(self.proc.stderr.fileno(), 65536)
            if not chunk:
                raise AssertionError(f"stderr closed before {needle!r} (exit {self.proc.wait(5)}); "
                                     f"stderr:\n{self.stderr}")
            self._buffer += chunk
            self.stderr = self._buffer.decode("utf-8", errors="replace")
        return self.stderr

    def stop(self, sig=signal.SIGTERM, timeout=TIMEOUT):
        """Sends `sig`, waits for the exit, returns (exit code, all stderr)."""
        self.proc.send_signal(sig)
        return self.wait(timeout)

    def wait(self, timeout=TIMEOUT):
        _, err = self.proc.communicate(timeout=timeout)
        self._buffer += err
        self.stderr = self._buffer.decode("utf-8", errors="replace")
        return self.proc.returncode, self.stderr

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=TIMEOUT)
        self._sel.close()
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe:
                pipe.close()


@pytest.fixture
def serve(mxguard_bin, tmp_path):
    """serve(config, *extra_args) -> Server, run in tmp_path (relative mail_dir and queue_dir
    land there); every server is killed at teardown."""
    servers = []

    def _serve(config, *extra):
        server = Server([mxguard_bin, "serve", "--config", str(config), *map(str, extra)],
                        cwd=tmp_path)
        servers.append(server)
        return server

    yield _serve
    for server in servers:
        server.kill()
