"""The fleet's pure parts: wire format, intake rules, remote decisions, outbox, config."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest

from journalban.addresses import parse_network
from journalban.cli.main import main
from journalban.clock import FakeClock
from journalban.config.fleet import FleetConfig
from journalban.config.schema import JailConfig, RecidiveConfig
from journalban.decisions.engine import DecisionEngine
from journalban.decisions.ignore import IgnoreList
from journalban.decisions.remote import RemoteOrder, decide_remote
from journalban.events import Ban
from journalban.fleet.intake import FleetIntake, TokenBucket
from journalban.fleet.ledger import FleetLedger
from journalban.fleet.messages import (
    MAX_MESSAGE,
    BanMessage,
    Malformed,
    MemberMessage,
    ban_subject,
    decode,
    encode_ban,
    encode_member,
    member_subject,
    parse_reply,
)
from journalban.state.store import BatchCommit, StateStore

NOW = 1_800_000_000.0
PREFIX = "journalban.prod"
CFG = FleetConfig(servers=("nats://127.0.0.1:4222",), name="prod", host="b")


def _ban(
    origin: str, address: str, exp: float | None = NOW + 600, jail: str = "sshd"
) -> tuple[str, bytes]:
    net = parse_network(address)
    return ban_subject(PREFIX, origin, jail, net), encode_ban("ban", NOW, exp, "failures")


def test_subject_and_body_round_trip_for_both_families() -> None:
    for text in ("203.0.113.5/32", "2001:db8:5::/64"):
        subject, body = _ban("a", text)
        msg = decode(PREFIX, subject, body)
        assert msg == BanMessage(
            "ban", "a", "sshd", parse_network(text), NOW, NOW + 600, "failures"
        )
    assert ban_subject(PREFIX, "a", "sshd", parse_network("203.0.113.5")) == (
        "journalban.prod.bans.a.sshd.203-0-113-5_32"
    )
    member = decode(PREFIX, member_subject(PREFIX, "c"), encode_member(["192.0.2.1"]))
    assert member == MemberMessage("c", (parse_network("192.0.2.1"),))


@pytest.mark.parametrize(
    ("subject", "body", "kind"),
    [
        ("journalban.prod.bans.a.sshd.203-0-113-5_32", b"x" * (MAX_MESSAGE + 1), "oversized"),
        ("journalban.prod.bans.a.sshd.203-0-113-5_32", b"\xff\xfe", "malformed"),
        (
            "journalban.prod.bans.a.sshd.203-0-113-5_32",
            b'{"v":1,"op":"nuke","at":1.8e9}',
            "malformed",
        ),
        ("journalban.prod.bans.a.sshd.203-0-113-5_32", b'{"v":1,"op":"ban","at":"x"}', "malformed"),
        (
            "journalban.prod.bans.a.sshd.203-0-113-5_32",
            b'{"v":1,"op":"ban","at":1e400}',
            "malformed",
        ),
        (
            "journalban.prod.bans.a.sshd.203-0-113-0_24x",
            b'{"v":1,"op":"ban","at":1.8e9}',
            "malformed",
        ),
        (
            "journalban.prod.bans.a.sshd.203-0-113-5_24",
            b'{"v":1,"op":"ban","at":1.8e9}',
            "malformed",
        ),
        ("journalban.prod.bans.a._.203-0-113-5_32", b'{"v":1,"op":"ban","at":1.8e9}', "malformed"),
        ("journalban.prod.bans.a.sshd", b'{"v":1,"op":"ban","at":1.8e9}', "malformed"),
        (
            "journalban.other.bans.a.sshd.203-0-113-5_32",
            b'{"v":1,"op":"ban","at":1.8e9}',
            "malformed",
        ),
        ("journalban.prod.members.a", b'{"v":1,"addresses":["not an address"]}', "malformed"),
        ("journalban.prod.members.a", b"[1]", "malformed"),
        ("journalban.prod.members.a", b'{"v":1,"addresses":["0.0.0.0/0"]}', "malformed"),
    ],
)
def test_bad_messages_are_named_errors(subject: str, body: bytes, kind: str) -> None:
    with pytest.raises(Malformed) as caught:
        decode(PREFIX, subject, body)
    assert caught.value.kind == kind


def test_injected_reason_is_made_printable() -> None:
    subject, _ = _ban("a", "203.0.113.5")
    body = json.dumps(
        {"v": 1, "op": "ban", "at": NOW, "exp": None, "why": "x\nBan 1.2.3.4"}
    ).encode()
    msg = decode(PREFIX, subject, body)
    assert isinstance(msg, BanMessage)
    assert "\n" not in msg.reason
    assert msg.expires_at is None


def test_reply_subject_gives_sequence_and_server_time() -> None:
    assert parse_reply("$JS.ACK.S.c.1.42.7.1800000000500000000.0") == (42, 7, 1_800_000_000.5)
    assert parse_reply("$JS.ACK.d.h.S.c.1.43.8.1800000000000000000.0.tok") == (43, 8, 1.8e9)
    assert parse_reply("_INBOX.x") is None


def test_token_bucket_uses_the_times_given() -> None:
    bucket = TokenBucket(rate=1.0, burst=2)
    assert [bucket.allow(NOW) for _ in range(3)] == [True, True, False]
    assert bucket.allow(NOW + 1.0)


def _intake(config: FleetConfig = CFG, members: dict[str, list[str]] | None = None) -> FleetIntake:
    return FleetIntake(config, lambda t: t, lambda: NOW, members or {})


def test_intake_skips_own_member_and_rate_limited_messages() -> None:
    cfg = FleetConfig(servers=CFG.servers, name="prod", host="b", ban_rate=1.0, ban_burst=2)
    intake = _intake(cfg)
    assert intake.take(*_ban("b", "203.0.113.5"), NOW) is None  # its own
    intake.take(member_subject(PREFIX, "c"), encode_member(["198.51.100.9"]), NOW)
    # a member's address (it counts against a's rate: every message of a does)
    assert intake.take(*_ban("a", "198.51.100.9"), NOW) is None
    order = intake.take(*_ban("a", "203.0.113.6"), NOW)
    assert order == RemoteOrder(
        "ban", "sshd", parse_network("203.0.113.6"), NOW, NOW + 600, "a", "failures"
    )
    assert intake.take(*_ban("a", "203.0.113.7"), NOW) is None  # over a's rate
    assert intake.take(*_ban("c", "203.0.113.7"), NOW) is not None  # c has its own
    assert intake.counts["own"] == 1
    assert intake.counts["member"] == 1
    assert intake.counts["rate_limited"] == 1
    assert intake.take_learnt().members == {"c": '["198.51.100.9/32"]'}


def test_quorum_counts_distinct_subject_origins() -> None:
    cfg = FleetConfig(servers=CFG.servers, name="prod", host="b", quorum=2)
    intake = _intake(cfg)
    assert intake.take(*_ban("a", "203.0.113.5"), NOW) is None
    assert intake.take(*_ban("a", "203.0.113.5"), NOW) is None  # the same origin again
    assert intake.take(*_ban("c", "203.0.113.5"), NOW) is not None
    assert len(intake.take_learnt().reports) == 3
    # Reports older than the window count for nothing and are forgotten.
    assert intake.take(*_ban("a", "203.0.113.9"), NOW) is None
    intake.prune(NOW + 1)
    assert intake.take(*_ban("c", "203.0.113.9"), NOW + 2) is None


def _engine(tmp_path: Path) -> DecisionEngine:
    store = StateStore(tmp_path / "state.sqlite")
    engine = DecisionEngine(store, FakeClock(NOW), RecidiveConfig(enabled=False))
    lan = (ipaddress.ip_network("192.168.1.10/32"), ipaddress.ip_network("192.168.1.0/24"))
    engine.configure(
        {"sshd": JailConfig(name="sshd")},
        {"sshd": IgnoreList(("127.0.0.0/8", "198.51.100.250"), interfaces=[lan])},
    )
    return engine


def _order(
    address: str, jail: str | None = "sshd", op: str = "ban", exp: float | None = NOW + 60
) -> RemoteOrder:
    return RemoteOrder(op, jail, parse_network(address), NOW, exp, "a", "failures")


def test_remote_bans_follow_this_hosts_rules(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    orders = [
        _order("203.0.113.5"),
        _order("203.0.113.5"),  # again: no second apply
        _order("192.168.1.77"),  # a local network
        _order("198.51.100.250"),  # ignoreip
        _order("127.0.0.1"),
        _order("203.0.113.6", jail="dovecot"),  # no such jail here
        _order("203.0.113.7", exp=NOW - 1),  # expired
    ]
    changes, outcome = decide_remote(engine, orders, "S", 7)
    assert [b.address for b in changes.bans] == ["203.0.113.5"]
    assert changes.bans[0].source == "fleet:a"
    assert outcome.refused == {"duplicate": 1, "ignored": 3, "no_jail": 1, "expired": 1}
    engine.store.commit(changes.commits)
    assert engine.store.positions()[("@fleet", "S")] == "7"
    # An all-ports jail takes the bans of jails this host lacks, when configured.
    changes, outcome = decide_remote(engine, [_order("203.0.113.6", jail="dovecot")], "S", 8,
                                     all_ports_jail="fleet")  # fmt: skip
    assert [(b.jail, b.address) for b in changes.bans] == [("fleet", "203.0.113.6")]


def test_remote_unban_lifts_only_fleet_bans(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    engine.manual_ban("sshd", parse_network("203.0.113.9"), None, permanent=False, comment="",
                      force=False)  # fmt: skip
    decide_remote(engine, [_order("203.0.113.5")], "S", 1)
    changes, outcome = decide_remote(
        engine, [_order("203.0.113.9", None, "unban"), _order("203.0.113.5", None, "unban")], "S", 2
    )
    assert [b.address for b, _ in changes.unbans] == ["203.0.113.5"]
    assert outcome.refused == {"not_banned": 1}
    assert [b.address for b in engine.list_bans()] == ["203.0.113.9"]


def test_outbox_is_written_in_the_bans_transaction(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.sqlite")
    ledger = FleetLedger(CFG, store.path)
    store.writers.append(ledger)
    net = parse_network("203.0.113.5")
    local = Ban("sshd", net, NOW, NOW + 600, source="journal")
    remote = Ban("dovecot", net, NOW, NOW + 600, source="fleet:a")
    manual = Ban("sshd", parse_network("203.0.113.6"), NOW, None, source="manual")
    recidive = Ban("recidive", net, NOW, None, source="sshd")
    store.commit([BatchCommit(jail="sshd", bans=[local, manual, recidive]),
                  BatchCommit(jail="dovecot", bans=[remote])])  # fmt: skip
    assert [(e.op, e.jail, e.network) for e in ledger.pending(10)] == [
        ("ban", "sshd", "203.0.113.5/32")
    ]
    ledger.stage_unban(None, "203.0.113.5/32", NOW)
    ledger.stage_learnt(5, [("sshd", "203.0.113.8/32", "a", "ban", NOW, None)], {"a": "[]"})
    store.commit([BatchCommit(jail="@fleet", source=CFG.stream, position="5")])
    entries = ledger.pending(10)
    assert [e.op for e in entries] == ["ban", "unban"]
    assert ledger.position() == 5
    assert ledger.reports(NOW - 1) == [("sshd", "203.0.113.8/32", "a", "ban", NOW, None)]
    assert ledger.members() == {"a": []}
    ledger.done([e.id for e in entries])
    assert ledger.outbox_size() == 0


def test_check_config_names_the_line_of_a_bad_fleet_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "journalban.yaml"
    path.write_text("fleet:\n  servers: [nats://n1:4222]\n  name: prod\n  host: 'web 1'\n")
    assert main(["check-config", str(path)]) == 1
    assert f"{path}:4: fleet.host" in capsys.readouterr().err
    path.write_text("fleet:\n  name: prod\n")
    assert main(["check-config", str(path)]) == 1
    assert "fleet.servers is required" in capsys.readouterr().err
    path.write_text("fleet:\n  servers: [http://n1]\n  name: prod\n")
    assert main(["check-config", str(path)]) == 1
    assert f"{path}:2: fleet.servers" in capsys.readouterr().err
    path.write_text(
        "fleet:\n  servers: [nats://n1:4222]\n  name: prod\n  addresses: [10.0.0.0/8]\n"
    )
    assert main(["check-config", str(path)]) == 1
    assert f"{path}:4: fleet.addresses: addresses, not prefixes" in capsys.readouterr().err
    path.write_text("fleet:\n  servers: [nats://n1:4222]\n  name: prod\n  quorum: 2\n")
    assert main(["check-config", str(path)]) == 0
    path.write_text("fleet:\n  servers: [nats://n1:4222]\n  name: prod\n  purge: {every: 1h}\n")
    assert main(["check-config", str(path)]) == 1
    assert f"{path}:4: fleet.purge: give the administrator's" in capsys.readouterr().err


class _NoPort:
    async def apply_remote(self, orders: object, stream: str, seq: int) -> object:
        raise AssertionError("not called")


def test_a_clock_off_the_servers_is_reported_and_corrected(tmp_path: Path) -> None:
    from journalban.fleet.ledger import OutboxEntry
    from journalban.fleet.service import FleetService

    store = StateStore(tmp_path / "state.sqlite")
    service = FleetService(CFG, _NoPort(), FleetLedger(CFG, store.path), FakeClock(NOW), [])  # type: ignore[arg-type]
    service._measured(0.4, 0.01)  # within max_clock_offset: no correction
    assert service.status.clock_ok
    assert service.offset == 0.0
    service._measured(3600.0, 0.01)  # this host is an hour fast
    assert not service.status.clock_ok
    entry = OutboxEntry(1, "ban", "sshd", "203.0.113.5/32", NOW, NOW + 600, "failures")
    subject, body, msg_id = service._message(entry)
    assert subject == "journalban.prod.bans.b.sshd.203-0-113-5_32"
    assert json.loads(body)["exp"] == NOW + 600 - 3600  # published in the servers' time
    assert msg_id == f"b-1-{int(NOW * 1000)}"
    order = service.intake.take(*_ban("a", "203.0.113.6", exp=NOW + 600 - 3600), NOW - 3600)
    assert order is not None
    assert order.expires_at == NOW + 600  # applied in this host's time
    assert service.status_dict()["clock_offset"] == 3600.0


def test_unbans_need_the_quorum_and_have_their_own_rate() -> None:
    cfg = FleetConfig(servers=CFG.servers, name="prod", host="b", quorum=2, unban_burst=1)
    intake = _intake(cfg)
    net = parse_network("203.0.113.5")
    unban = encode_ban("unban", NOW, None, "unban")
    assert intake.take(ban_subject(PREFIX, "a", "sshd", net), unban, NOW) is None
    # a's second unban is over its unban rate, whatever its ban rate.
    assert intake.take(ban_subject(PREFIX, "a", "sshd", net), unban, NOW) is None
    assert intake.counts["rate_limited"] == 1
    order = intake.take(ban_subject(PREFIX, "c", "sshd", net), unban, NOW)
    assert order is not None
    assert order.op == "unban"


def test_the_shipped_dropin_is_the_generated_one_and_names_the_servers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from journalban.cli.fleetadmin import EXAMPLE_SERVERS, dropin_text
    from support.real import REPO

    shipped = (REPO / "units" / "dropins" / "fleet.conf").read_text()
    assert shipped == dropin_text(EXAMPLE_SERVERS)
    path = tmp_path / "journalban.yaml"
    path.write_text(
        "fleet:\n  servers: [nats://127.0.0.1:4222, 'tls://[::1]:4223']\n  name: prod\n"
    )
    assert main(["fleet-dropin", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.endswith("IPAddressAllow=127.0.0.1 ::1\n")
    assert "RestrictAddressFamilies=AF_INET AF_INET6\n" in out
    path.write_text("{}\n")
    assert main(["fleet-dropin", "--config", str(path)]) == 1
    assert "no fleet: section" in capsys.readouterr().err


def test_the_core_never_imports_nats() -> None:
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['nats'] = None\n"  # any import of nats fails
        "import journalban.agent.runtime, journalban.cli.main, journalban.bus.service\n"
        "import journalban.fleet.ledger, journalban.fleet.intake, journalban.cli.fleetadmin\n"
        "from journalban.cli.main import build_parser; build_parser()\n"
        "print('ok')"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, check=False
    )
    assert done.stdout.strip() == "ok", done.stderr
