"""Session correlation in the running agent on journal files written by journal-remote.

"Disconnecting: Too many authentication failures" names no address: the
agent counts it for the address its connection's process (_PID) logged on
"Connection from ...". The session table is committed with the cursor: a
kill -9 between the two lines loses nothing. Where one process serves every
connection (OpenSMTPD), the daemon's own session id keys the session instead.
"""

from __future__ import annotations

from pathlib import Path

from support.agent import PER_ADDRESS_ONLY, StateReader, running, write_config
from support.journal import JournalWriter, sshd_fields

COUNT = "Disconnecting: Too many authentication failures [preauth]"


def _teach(address: str, pid: int) -> dict[str, str | int]:
    return sshd_fields(
        f'Connection from {address} port {pid} on 192.0.2.1 port 22 rdomain ""', pid=pid
    )


def test_failures_without_an_address_count_for_their_session_across_kill_9(tmp_path: Path) -> None:
    jdir = tmp_path / "journal"
    jdir.mkdir()
    state = tmp_path / "state"
    cfg = write_config(tmp_path / "c.yaml", state, journal_dir=jdir, firewall={"backend": "dry-run"},
                       jails={"sshd": {**PER_ADDRESS_ONLY, "maxretry": 3, "bantime": "1h"}})  # fmt: skip
    with JournalWriter(jdir) as writer:
        # Three connections of one attacker and one of a bystander, each its own process.
        writer.write([_teach("203.0.113.60", pid) for pid in (501, 502, 503)])
        writer.write([_teach("198.51.100.61", 504)])
        writer.write([sshd_fields(COUNT, pid=501), sshd_fields(COUNT, pid=502)])
        writer.wait_visible(6)
        reader = StateReader(state)
        with running(cfg, kill9=True):
            reader.wait(lambda: reader.total_failed("sshd") == 2)
        # After the restart: the third connection's count line, and one of a
        # process that never said where it came from.
        writer.write([sshd_fields(COUNT, pid=503), sshd_fields(COUNT, pid=599)])
        with running(cfg):
            reader.wait(lambda: reader.bans() == {("sshd", "203.0.113.60/32")})
            reader.wait(lambda: reader.total_failed("sshd") == 3)
    assert ("sshd", "198.51.100.61/32") not in reader.bans()


def test_a_backlogs_sessions_count_across_a_restart_in_it(tmp_path: Path) -> None:
    """The lines of a backlog two hours old (received then; the jail's findtime, 3h, lets
    the first start read back that far): the restarted agent reads on from its position,
    where the sessions it stored are as old as the lines; they counted only within ttl
    of the clock, so all were dropped."""
    import time

    def logged(fields: dict[str, str | int], when: float) -> dict[str, str | int]:
        usec = int(when * 1e6)
        return {**fields, "_SOURCE_REALTIME_TIMESTAMP": usec, "__REALTIME_TIMESTAMP": usec}

    jdir = tmp_path / "journal"
    state = tmp_path / "state"
    cfg = write_config(tmp_path / "c.yaml", state, journal_dir=jdir, firewall={"backend": "dry-run"},
                       jails={"sshd": {**PER_ADDRESS_ONLY, "maxretry": 2, "bantime": "1d",
                                       "findtime": "3h"}})  # fmt: skip
    start = time.time() - 7200
    reader = StateReader(state)
    with JournalWriter(jdir) as writer:
        writer.write([logged(_teach("203.0.113.60", pid), start + pid - 500) for pid in (501, 502)])
        writer.write([logged(sshd_fields(COUNT, pid=501), start + 10)])
        writer.wait_visible(3)
        with running(cfg):
            reader.wait(lambda: reader.total_failed("sshd") == 1)
        writer.write([logged(sshd_fields(COUNT, pid=502), start + 20)])
        with running(cfg):
            reader.wait(lambda: reader.total_failed("sshd") == 2)
            reader.wait(lambda: reader.bans() == {("sshd", "203.0.113.60/32")})


def _line(message: str, pid: int, ident: str = "sshd") -> str:
    import time

    return f"{time.strftime('%b %e %H:%M:%S')} host {ident}[{pid}]: {message}\n"


def test_a_file_jails_sessions_are_its_lines_ident_and_pid_across_kill_9(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_text("")
    state = tmp_path / "state"
    cfg = write_config(
        tmp_path / "c.yaml", state, firewall={"backend": "dry-run"},
        jails={"sshd": {"enabled": False},
               "ssh-files": {"filter": "sshd", "source": "files", "files": [str(log)],
                             "maxretry": 3, "bantime": "1h", **PER_ADDRESS_ONLY}},
    )  # fmt: skip
    reader = StateReader(state)
    with running(cfg, kill9=True):
        with log.open("a") as f:
            f.writelines(_line(f'Connection from 203.0.113.70 port {p} on 192.0.2.1 port 22 rdomain ""', p) for p in (701, 702, 703))  # fmt: skip
            # Another daemon with the same pid teaches sshd's sessions nothing.
            f.write(_line('Connection from 198.51.100.71 port 1 on 192.0.2.1 port 22 rdomain ""', 704, "other"))  # fmt: skip
            f.writelines(_line(COUNT, p) for p in (701, 702))
        reader.wait(lambda: reader.total_failed("ssh-files") == 2)
    with log.open("a") as f:
        f.writelines(_line(COUNT, p) for p in (703, 704))
    with running(cfg):
        reader.wait(lambda: reader.bans() == {("ssh-files", "203.0.113.70/32")})
        reader.wait(lambda: reader.total_failed("ssh-files") == 3)


def _smtpd(message: str) -> dict[str, str | int]:
    # One smtpd process serves every connection: the same _PID for all sessions.
    return {**sshd_fields(message, unit="opensmtpd.service", uid=64901, pid=29208),
            "_COMM": "smtpd", "SYSLOG_IDENTIFIER": "smtpd"}  # fmt: skip


def test_one_process_many_sessions_keyed_by_the_daemons_own_id_in_journal_files(
    tmp_path: Path,
) -> None:
    """OpenSMTPD's lines in journal files: the session id, not the shared _PID, is the session."""
    jdir = tmp_path / "journal"
    jdir.mkdir()
    state = tmp_path / "state"
    cfg = write_config(
        tmp_path / "c.yaml", state, journal_dir=jdir, firewall={"backend": "dry-run"},
        jails={"sshd": {"enabled": False},
               "opensmtpd": {"enabled": True, "maxretry": 3, "bantime": "1h", "ignoreip": [],
                             "journal_match": [["_SYSTEMD_UNIT=opensmtpd.service", "_UID=64901"]],
                             **PER_ADDRESS_ONLY}},
    )  # fmt: skip
    attacker, user = "5d86094b46742409", "5d86095f0a1e9dd7"
    fail = "{} smtp authentication user=root result=permfail"
    with JournalWriter(jdir) as writer:
        writer.write([
            _smtpd(f"{attacker} smtp connected address=203.0.113.80 host=<unknown>"),
            _smtpd(f"{user} smtp connected address=[2001:db8::81] host=mail.example.net"),
            _smtpd(fail.format(attacker)),
            _smtpd(f"{user} smtp authentication user=alice result=permfail"),
            _smtpd(fail.format(attacker)),
        ])  # fmt: skip
        writer.wait_visible(5)
        reader = StateReader(state)
        with running(cfg, kill9=True):
            reader.wait(lambda: reader.total_failed("opensmtpd") == 3)
        writer.write([
            _smtpd(f"{user} smtp authentication user=alice result=ok"),
            _smtpd(f"{user} smtp disconnected reason=quit"),
            _smtpd(fail.format(user)),  # after its end: counts for no one
            _smtpd(fail.format(attacker)),
        ])  # fmt: skip
        with running(cfg):
            reader.wait(lambda: reader.bans() == {("opensmtpd", "203.0.113.80/32")})
            reader.wait(lambda: reader.total_failed("opensmtpd") == 4)
    assert reader.total_failed("opensmtpd") == 4


def test_a_sessions_accepted_login_is_known_good_in_the_running_agent(tmp_path: Path) -> None:
    """OpenSMTPD's "result=ok" names no address: its session's address and the
    account become a known-good pair, which the account detector spares."""
    jdir = tmp_path / "journal"
    jdir.mkdir()
    state = tmp_path / "state"
    cfg = write_config(
        tmp_path / "c.yaml", state, journal_dir=jdir, firewall={"backend": "dry-run"},
        jails={"sshd": {"enabled": False},
               "opensmtpd": {"enabled": True, "maxretry": 100, "bantime": "1h", "ignoreip": [],
                             "journal_match": [["_SYSTEMD_UNIT=opensmtpd.service", "_UID=64901"]],
                             "account": {"addresses": 3, "findtime": "1h", "hold": "1h"}}},
    )  # fmt: skip
    own = "00000000000000a0"
    entries = [
        _smtpd(f"{own} smtp connected address=[2001:db8::81] host=<unknown>"),
        _smtpd(f"{own} smtp authentication user=alice result=ok"),
        _smtpd(f"{own} smtp disconnected reason=quit"),
    ]
    for n in range(3):  # three addresses guessing alice's password: alice is under attack
        sid = f"00000000000000b{n}"
        entries += [
            _smtpd(f"{sid} smtp connected address=203.0.113.{90 + n} host=<unknown>"),
            _smtpd(f"{sid} smtp authentication user=alice result=permfail"),
        ]
    # alice mistypes from her own network meanwhile: spared.
    entries += [
        _smtpd("00000000000000c0 smtp connected address=[2001:db8::82] host=<unknown>"),
        _smtpd("00000000000000c0 smtp authentication user=alice result=permfail"),
    ]
    with JournalWriter(jdir) as writer:
        writer.write(entries)
        writer.wait_visible(len(entries))
        reader = StateReader(state)
        with running(cfg):
            reader.wait(lambda: reader.total_failed("opensmtpd") == 4)
            attackers = {("opensmtpd", f"203.0.113.{90 + n}/32") for n in range(3)}
            reader.wait(lambda: reader.bans() == attackers)
    assert reader.bans() == attackers, "alice's known-good network was banned"
