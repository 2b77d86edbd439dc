"""Issue 7, privileges: started as root, `mxguard serve` binds, reads its key, then runs as
[service] user before serving anyone; mail is written by that user; a missing user is an error.
These tests need root (CI runs as root); elsewhere they are skipped."""
import os
import pwd
import re
import smtplib

import pytest

from smtpd_harness import MxServer

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def proc_ids(pid):
    status = open(f"/proc/{pid}/status").read()
    uids = [int(x) for x in re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()]
    gids = [int(x) for x in re.search(r"^Gid:\s+(.*)$", status, re.M).group(1).split()]
    groups = re.search(r"^Groups:\s*(.*)$", status, re.M).group(1).split()
    return uids, gids, [int(g) for g in groups]


def test_root_drops_to_the_service_user_before_serving(tmp_path):
    who = pwd.getpwnam("mxguard")  # made by scripts/install-deps for root runs
    s = MxServer(tmp_path, extra='[service]\nuser = "mxguard"\n').start()
    try:
        s.wait_log(r"running as user mxguard \(uid %d, gid %d\)" % (who.pw_uid, who.pw_gid))
        uids, gids, groups = proc_ids(s.proc.pid)
        assert uids == [who.pw_uid] * 4, uids  # real, effective, saved, filesystem
        assert gids == [who.pw_gid] * 4, gids
        assert groups == [who.pw_gid], groups
        with smtplib.SMTP("127.0.0.1", s.port, timeout=10) as c:
            assert c.sendmail("a@example.com", ["alice@example.test"], "Subject: x\r\n\r\nx\r\n") == {}
        [path] = s.mailbox("example.test", "alice")
        assert path.stat().st_uid == who.pw_uid, "the message is not the service user's"
        assert (tmp_path / "mail").stat().st_uid == who.pw_uid
        assert (tmp_path / "queue" / "new").stat().st_uid == who.pw_uid
    finally:
        s.stop()


def test_a_missing_service_user_is_a_start_error(tmp_path, run):
    s = MxServer(tmp_path, extra='[service]\nuser = "no-such-user-mxg"\n')
    r = run("serve", "--config", s.config)
    assert r.returncode == 2, r.stderr
    assert 'user "no-such-user-mxg" does not exist' in r.stderr, r.stderr
    assert not list(tmp_path.glob("mail/*/*/new/*"))


def test_root_as_service_user_is_refused(tmp_path, run):
    s = MxServer(tmp_path, extra='[service]\nuser = "root"\n')
    r = run("serve", "--config", s.config)
    assert r.returncode == 2, r.stderr
    assert 'user "root" has uid 0' in r.stderr, r.stderr
