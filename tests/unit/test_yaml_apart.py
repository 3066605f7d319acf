"""``journalban run`` reads its configuration's YAML in a fork (``config.yamlapart``) and
never imports PyYAML itself; what the fork did not parse, and a reload, it parses with
PyYAML's Python parser and lets go again; errors name their file and line all the same."""

from __future__ import annotations

import base64
import json
import pickle
import subprocess
import sys
from pathlib import Path

from journalban.agent.build import check_jail_actions
from journalban.config.loader import load_config
from journalban.errors import ConfigError, all_errors
from journalban.matching.library import FilterLibrary, filters_dir_for

# As `journalban run` does: the fork early, then the agent's own reading (load_config and
# its jails' filters), then forget_yaml once started; a reload reads again and forgets.
AGENT = r"""
import json, sys
from pathlib import Path
path = Path(sys.argv[1])
from journalban.cli.run import read_configuration_apart
read_configuration_apart(path)
from journalban.agent.build import check_jail_actions
from journalban.config.loader import load_config
from journalban.errors import ConfigError, all_errors
from journalban.config.yamlsource import forget_yaml
from journalban.errors import ConfigError, all_errors
from journalban.matching.library import FilterLibrary, filters_dir_for

def read():
    library = FilterLibrary(filters_dir_for(path))
    try:
        config = load_config(path, check_filter=library.check, check_actions=check_jail_actions)
    except ConfigError as exc:
        return [str(e) for e in all_errors(exc)]
    return [config, *(library.load(j.filter) for j in config.enabled_jails)]

import base64, pickle
out = {"start": base64.b64encode(pickle.dumps(read())).decode(), "yaml at start": "yaml" in sys.modules}
forget_yaml()
out["yaml after"] = sorted(m for m in sys.modules if m.startswith("yaml"))
if len(sys.argv) > 2:  # a reload, with the file rewritten
    path.write_text(sys.argv[2])
    out["reload"] = base64.b64encode(pickle.dumps(read())).decode()
    out["libyaml"] = "yaml._yaml" in sys.modules
    forget_yaml()
    out["yaml after reload"] = sorted(m for m in sys.modules if m.startswith("yaml"))
print(json.dumps(out))
"""

CONFIG = """\
state_dir: /var/lib/x
jails:
  sshd: {maxretry: 3}
  dovecot: {enabled: true, source: files, files: [/var/log/mail.log]}
"""


def _agent(path: Path, *reload: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-I", "-c", AGENT, str(path), *reload],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    result: dict[str, object] = json.loads(out.stdout)
    for key in ("start", "reload"):
        if key in result:
            result[key] = pickle.loads(base64.b64decode(str(result[key])))  # noqa: S301 (ours)
    return result


def _here(path: Path) -> list[object]:
    """What the agent's reading gives in this process (PyYAML with libyaml)."""
    library = FilterLibrary(filters_dir_for(path))
    try:
        config = load_config(path, check_filter=library.check, check_actions=check_jail_actions)
    except ConfigError as exc:
        return [str(e) for e in all_errors(exc)]
    return [config, *(library.load(j.filter) for j in config.enabled_jails)]


def test_the_agent_reads_the_fork_s_parse_and_never_imports_pyyaml(tmp_path: Path) -> None:
    path = tmp_path / "journalban.yaml"
    path.write_text(CONFIG)
    (tmp_path / "filters.d").mkdir()
    local = (Path(__file__).parents[2] / "filters" / "dovecot.yaml").read_text()
    (tmp_path / "filters.d" / "dovecot.yaml").write_text(local)  # (a local filter)
    seen = _agent(path)
    assert seen["start"] == _here(path)  # the same configuration and filters
    assert seen["yaml at start"] is False
    assert seen["yaml after"] == []


def test_what_the_fork_did_not_parse_and_a_reload_are_read_all_the_same(
    tmp_path: Path,
) -> None:
    """A date (marshal cannot carry it) is parsed by the agent itself; so is a reload's
    file, whose error names its line; PyYAML goes again after each."""
    path = tmp_path / "journalban.yaml"
    path.write_text(CONFIG + "firewall: {settings: {since: 2026-12-07}}\n")
    expected = _here(path)
    assert expected == [f"{path}:5: firewall.settings: unknown key (known: backend, dry-run, "
                        "hook, hosts-deny, iptables-ipset, min_prefix_v4, min_prefix_v6, "
                        "nftables, priority, shorewall, verdict)"]  # fmt: skip
    broken = CONFIG.replace("maxretry: 3", "maxretry: [3")
    seen = _agent(path, broken)
    assert seen["start"] == expected
    assert seen["yaml after"] == []
    reload = seen["reload"]
    assert isinstance(reload, list)
    assert len(reload) == 1
    assert reload[0].startswith(f"{path}:")
    assert "invalid YAML" in reload[0]
    assert seen["libyaml"] is False  # (the Python parser: nothing held for good)
    assert seen["yaml after reload"] == []


def test_an_invalid_file_at_start_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "journalban.yaml"
    path.write_text(CONFIG.replace("maxretry: 3", "maxretry: -3"))
    seen = _agent(path)
    assert seen["start"] == [
        f"{path}:3: jails.sshd.maxretry: must be a whole number from 1 to 1000000, not -3"
    ]


HANGS = r"""
import sys, time
from journalban.config import yamlapart
from journalban.config.yamlsource import load_yaml_text
yamlapart.WAIT = 0.3
yamlapart.read_apart(lambda: (load_yaml_text("a: 1", "x"), time.sleep(60)))
started = time.monotonic()
data, marks = load_yaml_text("a: 1", "x")  # the agent's own parse, once it gave up
assert data == {"a": 1} and marks.where == {(): ("x", 1), ("a",): ("x", 1)}, marks.where
assert time.monotonic() - started < 5
print("ok")
"""


def test_a_fork_that_hangs_is_given_up_and_killed() -> None:
    out = subprocess.run([sys.executable, "-I", "-c", HANGS], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
