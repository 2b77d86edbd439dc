"""The mxguard binary's command line: subcommands, --help, version, config-reference."""
import re

import pytest


def test_version(run, source_dir):
    cmake = (source_dir / "CMakeLists.txt").read_text()
    want = re.search(r"project\(mxguard VERSION ([0-9.]+)", cmake).group(1)
    r = run("version")
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"mxguard {want}\n"


def test_config_reference_equals_checked_in_docs(run, source_dir):
    r = run("config-reference")
    assert r.returncode == 0, r.stderr
    docs = (source_dir / "docs" / "config.md").read_text()
    assert r.stdout == docs, "docs/config.md is stale: run `make docs`"


def test_no_subcommand_prints_help_and_exits_2(run):
    r = run()
    assert r.returncode == 2
    for sub in ("version", "check-config", "serve", "config-reference"):
        assert sub in r.stderr, r.stderr


def test_unknown_subcommand_exits_2(run):
    r = run("frobnicate")
    assert r.returncode == 2, r.stdout + r.stderr


@pytest.mark.parametrize("sub", [[], ["version"], ["check-config"], ["serve"], ["config-reference"]])
def test_help(run, sub):
    r = run(*sub, "--help")
    assert r.returncode == 0, r.stderr
    assert "Usage:" in r.stdout
