"""The SELinux module, built with the refpolicy devel Makefile and linked
against the full reference policy in a throwaway store.

The Makefile compiles the .te file but never checks the .fc file: only linking
(semodule, into a copy of Debian's selinux-policy-default store, never the
machine's own) resolves the types the file contexts name.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.real import REPO, missing_real, need_tool

SELINUX_SOURCES = REPO / "selinux"
DEVEL_MAKEFILE = Path("/usr/share/selinux/devel/Makefile")
POLICY_STORE = Path("/var/lib/selinux/default")
POLICY_CONFIG = Path("/etc/selinux")

pytestmark = pytest.mark.real


def _build(tmp_path: Path, distro: str | None = None, sources: Path = SELINUX_SOURCES) -> Path:
    """Compile journalban.pp in a copy of the sources; returns the package."""
    make = need_tool("make")
    need_tool("checkmodule")
    if not DEVEL_MAKEFILE.is_file():
        missing_real(f"{DEVEL_MAKEFILE} is missing (package selinux-policy-dev)")
    workdir = tmp_path / f"build-{distro or 'refpolicy'}"
    shutil.copytree(sources, workdir, ignore=shutil.ignore_patterns("tmp", "*.pp"))
    argv = [make, "-f", str(DEVEL_MAKEFILE), "journalban.pp"]
    if distro:
        argv.append(f"DISTRO={distro}")
    result = subprocess.run(argv, cwd=workdir, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return workdir / "journalban.pp"


@pytest.fixture(scope="module")
def throwaway_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A root holding a copy of the full policy store and its configuration."""
    need_tool("semodule")
    if not (POLICY_STORE / "active").is_dir():
        missing_real(f"{POLICY_STORE} is missing (package selinux-policy-default)")
    root = tmp_path_factory.mktemp("selinux-root")
    shutil.copytree(POLICY_STORE, root / "var/lib/selinux/default", symlinks=True)
    shutil.copytree(POLICY_CONFIG, root / "etc/selinux", symlinks=True)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _link(root: Path, package: Path) -> subprocess.CompletedProcess[str]:
    semodule = need_tool("semodule")
    return subprocess.run(
        [semodule, "-p", str(root), "-s", "default", "-n", "-i", str(package)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_module_compiles_for_refpolicy(tmp_path: Path) -> None:
    assert _build(tmp_path).stat().st_size > 0


def test_module_compiles_with_fedora_branches(tmp_path: Path) -> None:
    assert _build(tmp_path, distro="redhat").stat().st_size > 0


def test_module_links_into_the_full_policy(tmp_path: Path, throwaway_root: Path) -> None:
    result = _link(throwaway_root, _build(tmp_path))
    assert result.returncode == 0, result.stderr
    file_contexts = throwaway_root / "etc/selinux/default/contexts/files/file_contexts"
    assert "journalban_var_lib_t" in file_contexts.read_text()
    assert not (POLICY_STORE / "active/modules/400/journalban").exists()


def test_module_with_fedora_branches_links_into_the_full_policy(
    tmp_path: Path, throwaway_root: Path
) -> None:
    result = _link(throwaway_root, _build(tmp_path, distro="redhat"))
    assert result.returncode == 0, result.stderr


def test_linking_catches_an_unknown_type_in_file_contexts(
    tmp_path: Path, throwaway_root: Path
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(SELINUX_SOURCES, broken, ignore=shutil.ignore_patterns("tmp", "*.pp"))
    fc = broken / "journalban.fc"
    fc.write_text(fc.read_text().replace("journalban_etc_t", "journalban_etcc_t"))
    result = _link(throwaway_root, _build(tmp_path, sources=broken))
    assert result.returncode != 0
    assert "filecon" in result.stderr


def test_default_policy_executes_nothing_but_its_interpreter() -> None:
    """Outside the tunables, no rule lets the domain execve a program."""
    te = (SELINUX_SOURCES / "journalban.te").read_text()
    rules = "\n".join(line for line in te.splitlines() if not line.lstrip().startswith("#"))
    unconditional = rules.split("tunable_policy(", 1)[0]
    # The journal reader child: the agent runs its own interpreter (bin_t), nothing else.
    interpreter = (
        "allow journalban_t bin_t:file { read open getattr map execute execute_no_trans };"
    )
    assert unconditional.count(interpreter) == 1
    unconditional = unconditional.replace(interpreter, "")
    for forbidden in (
        "corecmd_exec_",
        "execute_no_trans",
        "can_exec",
        "mta_send_mail",
        "_domtrans",
    ):
        assert forbidden not in unconditional


def test_every_boolean_is_documented_and_every_drop_in_names_one_that_exists() -> None:
    """What a drop-in opens in the unit, an SELinux boolean opens in the module."""
    te = (SELINUX_SOURCES / "journalban.te").read_text()
    tunables = set(re.findall(r"^gen_tunable\((journalban_\w+), false\)$", te, re.M))
    assert tunables, "no boolean found in journalban.te"
    hardening = (REPO / "docs/hardening.md").read_text()
    for tunable in tunables:
        assert f"| `{tunable}` | off |" in hardening, f"{tunable} missing from docs/hardening.md"
    named: set[str] = set()
    for dropin in sorted((REPO / "units/dropins").glob("*.conf")):
        booleans = re.findall(r"^# SELinux .*: setsebool -P (\w+) on$", dropin.read_text(), re.M)
        assert set(booleans) <= tunables, f"{dropin.name} names a boolean the module lacks"
        opens_network_or_exec = re.search(
            r"^(RestrictAddressFamilies=.*AF_INET|NoExecPaths=$|Sockets=|ReadWritePaths=/var/spool)",
            dropin.read_text(),
            re.M,
        )
        if opens_network_or_exec:
            assert booleans, f"{dropin.name} opens sockets or execution but names no boolean"
        named.update(booleans)
    # hosts.deny is read by other services: no drop-in of the agent opens it.
    assert tunables - named == {"journalban_hosts_deny"}


# Where a package or pip puts the C module (journalban.sources._journalfile):
# Fedora's %{python3_sitearch} (and sitelib), Debian's, pip's under /usr/local.
NATIVE_MODULE_PATHS = (
    "/usr/lib64/python3.13/site-packages/journalban/sources/_journalfile.cpython-313-x86_64-linux-gnu.so",
    "/usr/lib/python3.13/site-packages/journalban/sources/_journalfile.cpython-313-x86_64-linux-gnu.so",
    "/usr/lib/python3/dist-packages/journalban/sources/_journalfile.cpython-311-x86_64-linux-gnu.so",
    "/usr/local/lib/python3.11/dist-packages/journalban/sources/_journalfile.cpython-311-x86_64-linux-gnu.so",
)
# A shared object is opened, read and mapped executable by the dynamic loader.
LOAD_PERMS = {"read", "open", "getattr", "map", "execute"}
RULE_QUERY = """\
import sys, setools
policy = setools.SELinuxPolicy(sys.argv[1])
perms = set()
for rule in setools.TERuleQuery(policy, ruletype=["allow"], source=sys.argv[2],
                                target=sys.argv[3], tclass=["file"]).results():
    perms |= set(rule.perms)
print(" ".join(sorted(perms)))
"""


def _linked_policy(throwaway_root: Path, package: Path) -> Path:
    result = _link(throwaway_root, package)
    assert result.returncode == 0, result.stderr
    (policy,) = (throwaway_root / "etc/selinux/default/policy").glob("policy.*")
    return policy


def test_the_confined_agent_may_load_its_c_module_wherever_it_is_installed(
    tmp_path: Path, throwaway_root: Path
) -> None:
    """Each place the module lands is labelled lib_t, which journalban_t may map executable.

    Labels from the reference policy (Debian's store, which the module is linked
    into); Fedora's labels these directories lib_t alike.
    """
    matchpathcon = need_tool("matchpathcon")
    python3 = need_tool("/usr/bin/python3")
    policy = _linked_policy(throwaway_root, _build(tmp_path))
    contexts = throwaway_root / "etc/selinux/default/contexts/files/file_contexts"
    labels = subprocess.run(
        [matchpathcon, "-n", "-f", str(contexts), *NATIVE_MODULE_PATHS],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert [label.split(":")[2] for label in labels] == ["lib_t"] * len(NATIVE_MODULE_PATHS)
    query = subprocess.run(
        [python3, "-c", RULE_QUERY, str(policy), "journalban_t", "lib_t"],
        capture_output=True,
        text=True,
        check=False,
    )
    if "No module named 'setools'" in query.stderr:
        missing_real("python3-setools is not installed")
    assert query.returncode == 0, query.stderr
    assert set(query.stdout.split()) >= LOAD_PERMS, query.stdout
    # The query tells rights apart: the agent reads its configuration, never executes it.
    other = subprocess.run(
        [python3, "-c", RULE_QUERY, str(policy), "journalban_t", "journalban_etc_t"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "read" in other.stdout.split()
    assert "execute" not in other.stdout.split()
