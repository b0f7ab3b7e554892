"""``stack.parts.as_user``: how the stack starts PostgreSQL as its own user (a fork with the
process's atfork handlers, which ``subprocess``'s ``user=`` makes, crashed gRPC's poller in the child)."""

from __future__ import annotations

import os
import pwd
import subprocess

from stack.parts import as_user


def test_no_user_leaves_the_command_as_it_is() -> None:
    assert as_user(["postgres", "-D", "data"], None) == ["postgres", "-D", "data"]


def test_the_command_runs_with_the_users_ids() -> None:
    name = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    entry = pwd.getpwnam(name)
    if os.geteuid() != 0:  # only root may take another user's ids (CI and the stack run as root)
        assert as_user(["id"], name)[:3] == ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}"]
        return

    def run(*flags: str) -> str:
        return subprocess.run(as_user(["id", *flags], name), capture_output=True, text=True, check=True).stdout

    assert (int(run("-u")), int(run("-g"))) == (entry.pw_uid, entry.pw_gid)
    assert "0" not in run("-G").split()  # root's groups are not kept
