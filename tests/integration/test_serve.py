"""`mxguard serve`: refuses an unsafe config unless allow_open_relay = true (then warns at start
and periodically), serves until SIGINT/SIGTERM and exits 0. Servers run in tmp_path."""
import json
import re
import shutil
import signal
import socket
import subprocess

from test_check_config import config

READY = "smtpd: listening on "
WARNING = "OPEN RELAY: smtpd.allow_open_relay = true"


def test_bundled_config_starts_serves_and_stops_on_sigterm(serve, source_dir, tmp_path):
    # The bundled config as `make run` uses it, on free ports so a running `make run` is no bother.
    shutil.copytree(source_dir / "config", tmp_path / "config")
    bundled = (tmp_path / "config" / "mxguard.toml").read_text()
    assert '"127.0.0.1:2525"' in bundled and '"[::1]:2525"' in bundled
    assert '"127.0.0.1:5870"' in bundled and 'role = "submission"' in bundled
    (tmp_path / "config" / "mxguard.toml").write_text(
        bundled.replace(":2525", ":0").replace(":5870", ":0"))
    # The self-signed pair `make run` makes (Makefile: tls-cert).
    (tmp_path / "var" / "tls").mkdir(parents=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
                    "/CN=mx.example.test", "-keyout", str(tmp_path / "var/tls/key.pem"), "-out",
                    str(tmp_path / "var/tls/cert.pem")], check=True, capture_output=True,
                   timeout=30)
    server = serve(tmp_path / "config" / "mxguard.toml")
    err = server.read_until(READY, count=3)
    assert "relay-safe:" in err
    assert WARNING not in err
    assert re.search(r"listening on 127\.0\.0\.1:\d+ \(submission, STARTTLS, AUTH under TLS\)",
                     err), err
    assert re.search(r"listening on 127\.0\.0\.1:\d+ \(mx, STARTTLS, AUTH under TLS\)", err), err
    port = int(re.search(r"listening on 127\.0\.0\.1:(\d+)", err).group(1))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        assert s.recv(100).startswith(b"220 mx.example.test ESMTP")
    assert (tmp_path / "var" / "mail").is_dir() and (tmp_path / "var" / "queue" / "new").is_dir()
    code, err = server.stop(signal.SIGTERM)
    assert code == 0, err
    assert "received SIGTERM, stopping" in err


def test_stops_on_sigint(serve, write_config):
    server = serve(write_config(config()))
    server.read_until(READY)
    code, err = server.stop(signal.SIGINT)
    assert code == 0, err
    assert "received SIGINT, stopping" in err


def test_refuses_an_unsafe_config(serve, write_config):
    server = serve(write_config(config(trusted='["0.0.0.0/0"]')))
    code, err = server.wait(timeout=30)
    assert code == 1, err
    assert "UNSAFE: an unauthenticated outsider can relay" in err
    assert "permit_trusted_networks" in err
    assert "refusing to start" in err
    assert READY not in err


def test_allow_open_relay_starts_and_warns(serve, write_config):
    server = serve(write_config(config(trusted='["0.0.0.0/0"]', allow="true")))
    err = server.read_until(WARNING)
    err = server.read_until(READY)
    assert "relay-safe:" not in err
    code, err = server.stop(signal.SIGTERM)
    assert code == 0, err
    assert err.count(WARNING) == 1, err  # the next one is an hour away


def test_open_relay_warning_repeats(serve, write_config):
    server = serve(write_config(config(trusted='["0.0.0.0/0"]', allow="true")),
                   "--open-relay-warning-interval", "1")
    server.read_until(WARNING, count=3, timeout=20)
    code, err = server.stop(signal.SIGTERM)
    assert code == 0, err


def test_invalid_config_exits_2_with_position(serve, write_config):
    path = write_config(config().replace("allow_open_relay = false", "allow_open_relay = 1"))
    server = serve(path)
    code, err = server.wait(timeout=30)
    assert code == 2, err
    assert f"{path}:7:20: smtpd.allow_open_relay: expected a boolean" in err


def test_json_log_lines(serve, write_config):
    server = serve(write_config(config()), "--log-format", "json")
    server.read_until(READY)
    code, err = server.stop(signal.SIGTERM)
    assert code == 0, err
    lines = [json.loads(line) for line in err.splitlines()]
    assert [l["level"] for l in lines] == ["info"] * len(lines), err
    assert all(l["program"] == "mxguard" and isinstance(l["pid"], int) for l in lines), err
    assert any(READY in l["message"] for l in lines), err


def test_text_log_lines(serve, write_config):
    server = serve(write_config(config()))
    server.read_until(READY)
    code, err = server.stop(signal.SIGTERM)
    assert code == 0, err
    pid = server.proc.pid
    for line in err.splitlines():
        assert line.startswith(f"mxguard[{pid}]: info: "), line
