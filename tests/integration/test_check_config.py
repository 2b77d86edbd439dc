"""`mxguard check-config`: exit 0 relay-safe, 1 unsafe (each relay path named), 2 invalid config
(file:line:column). Configs are written into tmp_path from the template below."""
import re

import pytest

# A loopback, relay-safe config; tests replace single lines of it.
TEMPLATE = """\
[smtpd]
listen = ["127.0.0.1:0"]
hostname = "mx.example.test"
local_domains = ["example.test"]
relay_domains = []
trusted_networks = {trusted}
allow_open_relay = {allow}
"""

# The proof's external test domain (policy/relay_proof.cpp) when the config claims nothing like it.
EXTERNAL = "relay-proof.invalid"


def config(trusted='["127.0.0.0/8", "::1/128"]', allow="false", extra=""):
    return TEMPLATE.format(trusted=trusted, allow=allow) + extra


def finding_lines(out):
    return [line for line in out.splitlines() if line.startswith("  client ")]


def test_bundled_config_is_relay_safe(run, source_dir):
    # From the source root, as `make run` starts it: its paths are relative to the working dir.
    r = run("check-config", "--config", "config/mxguard.toml", cwd=source_dir)
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"^relay-safe: \d+ cases evaluated, no relay path for outsiders$", r.stdout,
                     re.M), r.stdout


def test_template_is_relay_safe(run, write_config):
    r = run("check-config", "--config", write_config(config()))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "relay-safe:" in r.stdout


def test_trusting_the_ipv4_internet_is_unsafe(run, write_config):
    r = run("check-config", "--config", write_config(config(trusted='["0.0.0.0/0"]')))
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stdout.startswith("UNSAFE: an unauthenticated outsider can relay through this config:")
    lines = finding_lines(r.stdout)
    assert lines, r.stdout
    plain = [l for l in lines if f"<user@{EXTERNAL}>" in l and "permitted by permit_trusted_networks" in l]
    assert plain, "no plain external relay path named:\n" + r.stdout
    assert re.search(r"^\d+ relay paths? \(\d+ findings\) in \d+ cases evaluated$", r.stdout, re.M), r.stdout
    assert "refuses to start" in r.stdout


def test_trusting_the_ipv6_internet_is_unsafe_via_mapped_clients(run, write_config):
    r = run("check-config", "--config", write_config(config(trusted='["::/0"]')))
    assert r.returncode == 1, r.stdout + r.stderr
    mapped = [l for l in finding_lines(r.stdout)
              if l.startswith("  client ::ffff:") and EXTERNAL in l.lower()
              and "permit_trusted_networks" in l]
    assert mapped, "no IPv4-mapped client named:\n" + r.stdout


def test_relay_domain_as_only_relay_permission_is_safe(run, write_config):
    text = config(trusted="[]").replace('relay_domains = []', 'relay_domains = ["backup.example.org"]')
    r = run("check-config", "--config", write_config(text))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "relay-safe:" in r.stdout


def test_permit_restriction_is_an_open_relay(run, write_config):
    r = run("check-config", "--config",
            write_config(config(extra='relay_restrictions = ["permit"]\n')))
    assert r.returncode == 1, r.stdout + r.stderr
    assert any("permitted by permit" in l for l in finding_lines(r.stdout)), r.stdout


def test_allow_open_relay_still_exits_1_but_says_serve_would_start(run, write_config):
    r = run("check-config", "--config", write_config(config(trusted='["0.0.0.0/0"]', allow="true")))
    assert r.returncode == 1, r.stdout + r.stderr
    assert finding_lines(r.stdout), r.stdout
    assert "allow_open_relay = true: `mxguard serve` would start" in r.stdout


# (replace this line of the template, with this, expected line, column, message fragment)
INVALID = [
    pytest.param("allow_open_relay = false", "allow_open_relay = false\nmax_recipient = 5", 8, 1,
                 "unknown key smtpd.max_recipient (did you mean max_recipients?)", id="unknown key"),
    pytest.param("[smtpd]", "[smtp]", 1, 2, "unknown section [smtp]", id="unknown section"),
    pytest.param('trusted_networks = ["127.0.0.0/8", "::1/128"]',
                 'trusted_networks = ["127.0.0.0/8", "10.0.0.1/8"]', 6, 36,
                 'smtpd.trusted_networks[1]: "10.0.0.1/8" is not a CIDR network (host bits set?',
                 id="bad CIDR"),
    pytest.param("allow_open_relay = false", 'allow_open_relay = "false"', 7, 20,
                 "smtpd.allow_open_relay: expected a boolean", id="bad type"),
    pytest.param('hostname = "mx.example.test"', 'hostname = "mx.example.test', 3, 28,
                 "TOML syntax", id="TOML syntax error"),
    pytest.param('listen = ["127.0.0.1:0"]', 'listen = ["127.0.0.1"]', 2, 11,
                 'smtpd.listen[0]: "127.0.0.1" is not a listen endpoint', id="bad endpoint"),
]


@pytest.mark.parametrize("old,new,line,column,fragment", INVALID)
def test_invalid_config_exits_2_with_position(run, write_config, old, new, line, column, fragment):
    text = config()
    assert old in text
    path = write_config(text.replace(old, new, 1))
    r = run("check-config", "--config", path)
    assert r.returncode == 2, r.stdout + r.stderr
    prefix = f"{path}:{line}:{column}: "
    assert r.stderr.startswith(prefix), f"want prefix {prefix!r}, got:\n{r.stderr}"
    assert fragment in r.stderr, r.stderr
    assert r.stdout == "", r.stdout


def test_missing_file_exits_2(run, tmp_path):
    path = tmp_path / "nope.toml"
    r = run("check-config", "--config", path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.startswith(f"{path}: cannot open config file"), r.stderr


def test_show_prints_a_config_that_loads_again(run, write_config, tmp_path):
    r = run("check-config", "--show", "--config", write_config(config()))
    assert r.returncode == 0, r.stdout + r.stderr
    shown = r.stdout.split("\nrelay-safe:")[0]
    assert "max_recipients = 100" in shown  # a default the template leaves out
    again = tmp_path / "shown.toml"
    again.write_text(shown)
    r2 = run("check-config", "--show", "--config", again)
    assert r2.returncode == 0, r2.stdout + r2.stderr
    assert r2.stdout.split("\nrelay-safe:")[0] == shown


def test_config_option_is_required(run):
    r = run("check-config")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "--config" in r.stderr


DNSBLD_ONLY = """\
[dnsbld]
listen = ["127.0.0.1:0"]
[[dnsbld.zone]]
name = "bl.example.test"
datasets = ["ip4set:{data}"]
"""


def test_dnsbld_only_config_loads_its_zone_data(run, write_config, tmp_path):
    data = tmp_path / "relays.txt"
    data.write_text(":127.0.0.2:Listed\n192.0.2.0/24\n203.0.113.7\n")
    r = run("check-config", "--config", write_config(DNSBLD_ONLY.format(data=data)))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "dnsbld: zone bl.example.test: 1 dataset, 2 entries" in r.stdout, r.stdout
    assert "no [smtpd] section: no relay policy to prove" in r.stdout
    assert "relay-safe" not in r.stdout  # nothing to prove: no claim made


def test_dnsbld_missing_data_file_is_invalid(run, write_config, tmp_path):
    missing = tmp_path / "nope.txt"
    r = run("check-config", "--config", write_config(DNSBLD_ONLY.format(data=missing)))
    assert r.returncode == 2, r.stdout + r.stderr
    assert str(missing) in r.stderr and "bl.example.test" in r.stderr, r.stderr


def test_config_declaring_no_service_is_invalid(run, write_config):
    r = run("check-config", "--config", write_config("# nothing\n"))
    assert r.returncode == 2, r.stdout + r.stderr
    assert "declares no service" in r.stderr
