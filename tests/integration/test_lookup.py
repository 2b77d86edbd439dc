"""`mxguard lookup` (issue 6), the multi-list checker, against our own dnsbld and against Debian's
rbldnsd serving the same data files on loopback. Public lists are never queried: every run passes
--server. Both servers must give the same table; the test points decide which lists are broken
(dead, refusing, listing the world); list errors never count as listings; exit codes 0/1/2/64."""
import json
import os
import re
import socket
import subprocess

import dns.message
import dns.query
import pytest

from smtpd_harness import running_dnsbld, running_rbldnsd

BIN = os.path.abspath(os.environ.get("MXGUARD_BIN", "build/mxguard"))

SOA = "$SOA 3600 ns.{z} hostmaster.example.test 2024010101 600 300 86400 300\n"

# Test points are in the data (rbldnsd does not add them; dnsbld would).
FILES = {
    "bl.txt": SOA.format(z="bl.example.test") + """\
:127.0.0.2:Listed: see https://bl.example.test/lookup?ip=$
127.0.0.2
192.0.2.1
192.0.2.3 :127.0.0.3:Other reason $
198.51.100.0/24 :127.0.0.4:Whole network $
""",
    "extra.txt": ":127.0.0.10:Also in extra\n127.0.0.2\n192.0.2.1\n",
    "wl.txt": SOA.format(z="wl.example.test") + """\
:127.0.10.2:Allowlisted
127.0.0.2
192.0.2.50
""",
    "dbl.txt": SOA.format(z="dbl.example.test") + """\
:127.0.1.2:Domain listed: $
test
spam.example
*.spam.test :127.0.1.4:phish $
""",
    "six.txt": SOA.format(z="v6.example.test") + """\
::ffff:7f00:2 :127.0.0.2:v6 test point
2001:db8::/32 :127.0.0.5:v6 net
""",
    # A list that refuses us, as Spamhaus does with public resolvers.
    "refuse.txt": ":127.255.255.254:Error: open resolver\n127.0.0.0/8\n192.0.0.0/8\n",
    # A list answering outside 127/8 (an NXDOMAIN-rewriting resolver looks like this).
    "web.txt": ":192.0.2.80:not a DNSBL\n127.0.0.2\n192.0.2.0/24\n",
}

ZONES = ["bl.example.test:ip4set:bl.txt", "bl.example.test:ip4tset:extra.txt",
         "wl.example.test:ip4set:wl.txt", "dbl.example.test:dnset:dbl.txt",
         "v6.example.test:ip6trie:six.txt", "refuse.example.test:ip4set:refuse.txt",
         "web.example.test:ip4set:web.txt"]


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(port, name):
    q = dns.message.make_query(name, "A")
    try:
        return dns.query.udp(q, "127.0.0.1", port=port, timeout=0.5)
    except Exception:  # noqa: BLE001 - not up yet
        return None


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("lookup")
    os.chmod(d, 0o755)  # rbldnsd reads as its own user inside its chroot
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
    with running_rbldnsd(data_dir, ["-f", "-a"], ZONES, "2.0.0.127.bl.example.test") as port:
        yield port


def lookup(port, *args, timeout=30):
    return subprocess.run([BIN, "lookup", "--server", f"127.0.0.1:{port}", "--timeout", "300",
                           "--tries", "1", *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


def rows(stdout):
    """The table as (target, list, listed, code, meaning, txt) tuples, header dropped."""
    lines = stdout.splitlines()
    assert lines and lines[0].startswith("TARGET"), stdout
    cols = [m.start() for m in re.finditer(r"\S+", lines[0])]
    out = []
    for line in lines[1:]:
        if line.startswith("broken list:"):
            continue
        cells = [line[a:b].strip() for a, b in zip(cols, cols[1:] + [None])]
        out.append(tuple(cells + [""] * (6 - len(cells))))
    return out


def row_for(table, target, zone):
    hits = [r for r in table if r[0] == target and r[1] == zone]
    assert len(hits) == 1, f"{target} {zone}: {hits}\n{table}"
    return hits[0]


LISTS = ["--list", "bl.example.test*2", "--list", "dbl.example.test",
         "--list", "wl.example.test*-5", "--list", "v6.example.test",
         "--list", "refuse.example.test", "--list", "web.example.test"]
TARGETS = ["192.0.2.1", "192.0.2.3", "198.51.100.77", "192.0.2.9", "192.0.2.50",
           "2001:db8::1", "2001:db9::1", "spam.example", "x.spam.test", "ham.example"]


@pytest.mark.parametrize("which", ["dnsbld", "rbldnsd"])
def test_table(request, which):
    port = request.getfixturevalue(which)
    r = lookup(port, *TARGETS, *LISTS)
    assert r.returncode == 1, r.stdout + r.stderr
    t = rows(r.stdout)
    cases = [
        # target, zone, listed, code, meaning contains, txt contains
        ("192.0.2.1", "bl.example.test", "YES", "127.0.0.2,127.0.0.10", "listed", "lookup?ip=192.0.2.1"),
        ("192.0.2.3", "bl.example.test", "YES", "127.0.0.3", "listed", "Other reason 192.0.2.3"),
        ("198.51.100.77", "bl.example.test", "YES", "127.0.0.4", "listed", "Whole network"),
        ("192.0.2.9", "bl.example.test", "no", "", "", ""),
        ("192.0.2.50", "wl.example.test", "yes (allow)", "127.0.10.2", "listed", "Allowlisted"),
        ("2001:db8::1", "v6.example.test", "YES", "127.0.0.5", "listed", "v6 net"),
        ("2001:db9::1", "v6.example.test", "no", "", "", ""),
        ("spam.example", "dbl.example.test", "YES", "127.0.1.2", "listed", "Domain listed: spam.example"),
        ("x.spam.test", "dbl.example.test", "YES", "127.0.1.4", "listed", "phish"),
        ("ham.example", "dbl.example.test", "no", "", "", ""),
        # The refusing list is broken (its test point answers 127.255.255.254): never a listing.
        ("192.0.2.1", "refuse.example.test", "broken", "", "refuses queries: 127.255.255.254", ""),
        # Answers outside 127/8: broken too.
        ("192.0.2.9", "web.example.test", "broken", "", "refuses queries: 192.0.2.80", ""),
    ]
    for target, zone, listed, code, meaning, txt in cases:
        got = row_for(t, target, zone)
        assert got[2] == listed, f"{target} {zone}: got {got}, want listed={listed}"
        assert got[3] == code, f"{target} {zone}: got {got}, want code={code}"
        assert meaning in got[4], f"{target} {zone}: got {got}, want meaning ~ {meaning}"
        assert txt in got[5], f"{target} {zone}: got {got}, want txt ~ {txt}"
    # IP lists are not asked about domains and the domain list not about IPs (kind inferred from
    # the test points), and IPv4-only lists not about IPv6 targets.
    assert not [r for r in t if r[0] == "spam.example" and r[1] == "bl.example.test"], t
    assert not [r for r in t if r[0] == "192.0.2.1" and r[1] == "dbl.example.test"], t
    assert "broken list: refuse.example.test: refuses queries: 127.255.255.254" in r.stdout
    assert r.stdout.count("broken list:") == 2, r.stdout


def test_dnsbld_and_rbldnsd_give_the_same_table(dnsbld, rbldnsd):
    ours = lookup(dnsbld, *TARGETS, *LISTS)
    theirs = lookup(rbldnsd, *TARGETS, *LISTS)
    assert ours.returncode == theirs.returncode == 1, ours.stderr + theirs.stderr
    assert ours.stdout == theirs.stdout, f"dnsbld:\n{ours.stdout}\nrbldnsd:\n{theirs.stdout}"
    jo = lookup(dnsbld, "--json", *TARGETS, *LISTS)
    jt = lookup(rbldnsd, "--json", *TARGETS, *LISTS)
    assert json.loads(jo.stdout) == json.loads(jt.stdout)


@pytest.mark.parametrize("args,want_rc", [
    (["192.0.2.9", "--list", "bl.example.test"], 0),        # not listed anywhere
    (["192.0.2.50", "--list", "wl.example.test*-5"], 0),    # only allowlisted
    (["192.0.2.1", "--list", "bl.example.test"], 1),        # listed
    (["192.0.2.1", "--list", "bl.example.test=127.0.0.10"], 1),
    (["192.0.2.3", "--list", "bl.example.test=127.0.0.10"], 0),  # pattern does not match
    (["192.0.2.9", "--list", "refuse.example.test"], 2),    # errors only
    (["192.0.2.9", "--list", "web.example.test"], 2),
    (["192.0.2.9", "--list", "nowhere.example.test"], 2),   # zone not served: dead
    (["192.0.2.1", "--list", "bl.example.test", "--list", "refuse.example.test"], 1),
])
def test_exit_codes(dnsbld, args, want_rc):
    r = lookup(dnsbld, *args)
    assert r.returncode == want_rc, f"{args}: got {r.returncode}\n{r.stdout}{r.stderr}"


def test_json(dnsbld):
    r = lookup(dnsbld, "--json", "192.0.2.1", "192.0.2.9", "--list", "bl.example.test",
               "--list", "refuse.example.test")
    doc = json.loads(r.stdout)
    assert doc["exit"] == r.returncode == 1
    by = {(x["target"], x["list"]): x for x in doc["results"]}
    assert by[("192.0.2.1", "bl.example.test")]["status"] == "listed"
    assert by[("192.0.2.1", "bl.example.test")]["codes"] == ["127.0.0.2", "127.0.0.10"]
    assert by[("192.0.2.9", "bl.example.test")]["status"] == "not listed"
    assert by[("192.0.2.9", "refuse.example.test")]["status"] == "broken"
    assert len(doc["broken"]) == 1, doc["broken"]


def test_lists_the_world(rbldnsd, tmp_path):
    # dnsbld never lists 127.0.0.1 (RFC 5782 5), so only rbldnsd can serve a list that does.
    r = lookup(rbldnsd, "192.0.2.9", "--list", "refuse.example.test")
    assert r.returncode == 2
    world = tmp_path / "world"
    world.mkdir()
    os.chmod(tmp_path, 0o755)
    os.chmod(world, 0o755)
    (world / "w.txt").write_text(":127.0.0.2:everything\n127.0.0.0/8\n192.0.2.0/24\n")
    os.chmod(world / "w.txt", 0o644)
    with running_rbldnsd(world, ["-f", "-a"], ["world.example.test:ip4set:w.txt"],
                         "2.0.0.127.world.example.test") as port:
        r = lookup(port, "192.0.2.9", "--list", "world.example.test")
        assert r.returncode == 2, r.stdout
        assert "lists the world: test point 127.0.0.1 listed" in r.stdout
        assert "YES" not in r.stdout


def test_catalog(dnsbld, tmp_path):
    cat = tmp_path / "catalog.toml"
    cat.write_text("""
[[list]]
zone = "bl.example.test"
name = "test list"
kind = "ip"
type = "block"
codes = { "127.0.0.2" = "spam source", "127.0.0.10" = "extra data" }

[[list]]
zone = "dbl.example.test"
kind = "domain"
bits = { "2" = "bit two", "4" = "bit four" }

[[list]]
zone = "refuse.example.test"
kind = "ip"
errors = { "127.255.255.254" = "refused: open resolver" }
""")
    r = lookup(dnsbld, "--catalog", cat, "192.0.2.1", "x.spam.test")
    assert r.returncode == 1, r.stdout + r.stderr
    t = rows(r.stdout)
    assert row_for(t, "192.0.2.1", "bl.example.test")[4] == "spam source; extra data"
    assert row_for(t, "x.spam.test", "dbl.example.test")[4] == "bit four"
    assert "refused: open resolver" in row_for(t, "192.0.2.1", "refuse.example.test")[4]
    # Domain lists are not asked about IPs, IP lists not about domains.
    assert not [x for x in t if x[0] == "x.spam.test" and x[1] == "bl.example.test"]


def test_bundled_catalog_parses(source_dir, tmp_path):
    # Never queried: a server that is not there makes every list dead (exit 2), but the catalog
    # must load (a bad catalog is a usage error, 64).
    port = free_port()
    r = subprocess.run([BIN, "lookup", "--catalog", source_dir / "config/dnsbl-catalog.toml",
                        "--server", f"127.0.0.1:{port}", "--timeout", "50", "--tries", "1",
                        "192.0.2.1", "example.com"],
                       capture_output=True, text=True, timeout=30, check=False)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "zen.spamhaus.org" in r.stdout and "dbl.spamhaus.org" in r.stdout


@pytest.mark.parametrize("args", [
    [],
    ["not a target!"],
    ["192.0.2.1", "--list", "bl.example.test=127.0.0"],
    ["192.0.2.1", "--list", "bl.example.test*x"],
    ["192.0.2.1", "--server", "localhost"],
    ["192.0.2.1", "--catalog", "/nonexistent/catalog.toml"],
    ["192.0.2.1", "--bogus"],
])
def test_usage_errors(args):
    r = subprocess.run([BIN, "lookup", *args], capture_output=True, text=True, timeout=30,
                       check=False)
    assert r.returncode == 64, f"{args}: {r.returncode}\n{r.stdout}{r.stderr}"
