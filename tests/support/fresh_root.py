"""A fresh Debian 12 root file system, and the README's install steps run in it.

The base (``debootstrap --variant=minbase bookworm``) is built once and cached
under /var/cache/journalban-tests/, keyed by how it is made; every run lays an
overlay on it, so what scripts/setup installs starts from nothing each time
(downloaded .deb files and wheels are cached; apt and pip check them). The
work itself is tests/support/fresh_setup.sh, run in a mount and pid
namespace of its own so that no mount and no process outlives it.

A successful run is recorded under a key made of everything it proves
(scripts/setup, pyproject.toml, setup.py, the required-tools list, these scripts, the
base): changing any of them proves it again. JOURNALBAN_FRESH_SETUP=always
ignores the record.

It takes minutes, mostly waiting on apt, dpkg and pip, so when the test is
among those collected, tests/conftest.py starts it in the background (niced)
right after collection and the test collects the result (``result()``): the
rest of the suite runs meanwhile.
"""

from __future__ import annotations

import ctypes
import fcntl
import hashlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Final

from support import tools
from support.real import REPO

CACHE: Final = Path(os.environ.get("JOURNALBAN_TEST_CACHE", "/var/cache/journalban-tests"))
MIRROR: Final = "http://deb.debian.org/debian"
DEBOOTSTRAP_ARGS: Final = ("--variant=minbase", "bookworm")
SCRIPT: Final = Path(__file__).with_name("fresh_setup.sh")
# What a run proves depends on these files of the checkout.
PROVEN_BY: Final = (
    "scripts/setup",
    "pyproject.toml",
    "setup.py",
    "tests/support/tools.py",
    "tests/support/fresh_setup.sh",
    "tests/support/fresh_root.py",
)
TIMEOUT: Final = 1500.0
# In the base's root directory once debootstrap finished.
BASE_COMPLETE: Final = ".complete"
# Downloaded .deb files, shared by every debootstrap and apt run of the tests.
ARCHIVES: Final = CACHE / "apt-archives"
MACHINE_ARCHIVES: Final = Path("/var/cache/apt/archives")


@dataclass
class FreshRun:
    """What fresh_setup.sh reported."""

    returncode: int
    output: str
    phases: dict[str, float] = field(default_factory=dict)
    missing_tools: list[str] = field(default_factory=list)
    missing_modules: list[str] = field(default_factory=list)
    base_seconds: float = 0.0
    key: str = ""  # setup_key() when the run began

    @property
    def markers(self) -> set[str]:
        return {line[3:] for line in self.output.splitlines() if line.startswith("== ")}

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.output.splitlines()[-lines:])


def base_key() -> str:
    text = json.dumps([DEBOOTSTRAP_ARGS, MIRROR, _debootstrap_version()])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def setup_key() -> str:
    """The key of a run: the base and every file whose change must prove it again."""
    digest = hashlib.sha256(base_key().encode())
    for name in PROVEN_BY:
        digest.update(name.encode() + b"\0" + (REPO / name).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def record_path() -> Path:
    return CACHE / f"fresh-setup-{setup_key()}.json"


def recorded() -> dict[str, object] | None:
    """The record of a successful run with the same key, unless told to run anyway."""
    if os.environ.get("JOURNALBAN_FRESH_SETUP") == "always":
        return None
    try:
        data = json.loads(record_path().read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def record(run: FreshRun) -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"fresh-setup-{run.key}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(
        json.dumps({"key": run.key, "phases": run.phases, "base_seconds": run.base_seconds})
    )
    tmp.rename(path)


def base_root() -> tuple[Path, float]:
    """The cached debootstrap base (built now if missing) and the seconds spent building it."""
    path = CACHE / f"fresh-base-{base_key()}"
    with _locked(CACHE / ".fresh-base.lock"):
        if (path / BASE_COMPLETE).exists():
            return path, 0.0
        started = time.monotonic()
        tmp = path.with_name(path.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        # The .debs the machine's own apt downloaded, and those of earlier runs:
        # debootstrap checks each against the mirror's lists before using it.
        _link_machine_debs()
        subprocess.run(
            ["debootstrap", f"--cache-dir={ARCHIVES}", *DEBOOTSTRAP_ARGS, str(tmp), MIRROR],
            check=True,
            capture_output=True,
            timeout=900,
        )
        (tmp / BASE_COMPLETE).write_text(base_key() + "\n")
        shutil.rmtree(path, ignore_errors=True)
        tmp.rename(path)
        return path, time.monotonic() - started


def run_fresh_setup(work_parent: Path = Path("/var/tmp")) -> FreshRun:
    """Build (or reuse) the base, then run fresh_setup.sh on a copy of this checkout.

    Its small work directory is made in ``work_parent`` (the background run's
    result directory, which ``stop_background`` removes even after a kill).
    """
    key = setup_key()
    base, base_seconds = base_root()
    _link_machine_debs()
    with tempfile.TemporaryDirectory(prefix="journalban-fresh-", dir=work_parent) as workdir:
        work = Path(workdir)
        (work / "files").write_bytes(b"".join(f"{n}\0".encode() for n in _checkout_files()))
        (work / "tools.txt").write_text("".join(f"{t}\n" for t in tools.REQUIRED_TOOLS))
        (work / "modules.txt").write_text("".join(f"{m}\n" for m in tools.REQUIRED_MODULES))
        try:
            result = subprocess.run(
                [
                    "unshare",
                    "--mount",
                    "--pid",
                    "--fork",
                    "--kill-child",
                    "bash",
                    str(SCRIPT),
                    str(base),
                    str(work),
                    str(REPO),
                    str(CACHE),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=TIMEOUT,
                check=False,
                preexec_fn=_die_with_parent,
            )
            output, returncode = result.stdout, result.returncode
        except subprocess.TimeoutExpired as exc:
            text = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            output, returncode = text + f"\n== TIMEOUT after {TIMEOUT}s", -1
    return _parse(FreshRun(returncode, output, base_seconds=base_seconds, key=key))


@dataclass
class _Started:
    process: subprocess.Popen[bytes]
    out: Path


_started: list[_Started] = []


def start_in_background() -> bool:
    """Start a run in a niced child process unless one is recorded or cannot run here."""
    if _started or recorded() is not None or os.geteuid() != 0:
        return False
    if not (shutil.which("debootstrap") and shutil.which("unshare")):
        return False
    out = Path(tempfile.mkdtemp(prefix="journalban-fresh-result-")) / "run.json"
    code = (
        f"import sys; sys.path.insert(0, {str(REPO / 'tests')!r}); "
        f"from support import fresh_root; fresh_root.main({str(out)!r})"
    )
    with out.with_suffix(".log").open("wb") as log:
        process = subprocess.Popen(
            ["nice", "-n", "10", sys.executable, "-c", code],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
    _started.append(_Started(process, out))
    return True


def stop_background() -> None:
    """Kill a background run still going (pytest is ending); its namespace goes with it."""
    for started in _started:
        if started.process.poll() is None:
            os.killpg(started.process.pid, signal.SIGKILL)
            started.process.wait()
        shutil.rmtree(started.out.parent, ignore_errors=True)
    _started.clear()


def result() -> FreshRun:
    """The background run's result, waiting for it; or a run now if none was started."""
    if not _started:
        return run_fresh_setup()
    started = _started[0]
    try:
        started.process.wait(timeout=TIMEOUT + 900)
    except subprocess.TimeoutExpired:
        stop_background()
        return FreshRun(-1, f"== TIMEOUT: no result after {TIMEOUT + 900}s")
    try:
        return FreshRun(**json.loads(started.out.read_text()))
    except (OSError, ValueError, TypeError):
        log = started.out.with_suffix(".log")
        text = log.read_text(errors="replace") if log.exists() else ""
        return FreshRun(started.process.returncode or -1, f"== NO RESULT\n{text}")


def main(out: str) -> None:
    """Run and write the result as JSON (the background child's entry point)."""
    run = run_fresh_setup(work_parent=Path(out).parent)
    Path(out).write_text(json.dumps(asdict(run)))


def _parse(run: FreshRun) -> FreshRun:
    stamps: list[tuple[str, float]] = []
    for line in run.output.splitlines():
        if found := re.fullmatch(r"== PHASE (\S+) ([\d.]+)", line):
            stamps.append((found.group(1), float(found.group(2))))
        elif line.startswith("== MISSING-TOOL "):
            run.missing_tools.append(line.split(maxsplit=2)[2])
        elif line.startswith("== MISSING-MODULE "):
            run.missing_modules.append(line.split(maxsplit=2)[2])
    for (name, start), (_, end) in itertools.pairwise(stamps):
        run.phases[name] = round(end - start, 1)
    return run


def _link_machine_debs() -> None:
    """The .deb files the machine's apt downloaded (for its own scripts/setup), linked
    into the tests' archive: a fresh CI machine then downloads them once, not twice.
    apt and debootstrap check each against the root's own package lists before using it."""
    (ARCHIVES / "partial").mkdir(parents=True, exist_ok=True)
    _link_all(MACHINE_ARCHIVES, ARCHIVES)


def lend_debs(archives: Path) -> None:
    """Every .deb downloaded so far, linked into a root's own apt archive (``archives``).

    Linked, not bind-mounted: each apt run keeps its own lock, so builds in
    parallel do not wait on one another.
    """
    _link_machine_debs()
    (archives / "partial").mkdir(parents=True, exist_ok=True)
    _link_all(ARCHIVES, archives)


def keep_debs(archives: Path) -> None:
    """The .debs a root's apt downloaded, kept in the tests' archive for the next build."""
    _link_all(archives, ARCHIVES)


def _link_all(source: Path, target: Path) -> None:
    for deb in source.glob("*.deb"):
        dest = target / deb.name
        if dest.exists():
            continue
        try:
            os.link(deb, dest)
        except FileExistsError:
            continue  # linked by a build beside this one
        except OSError:
            return  # another file system: only downloads are saved, nothing lost


def _checkout_files() -> list[str]:
    """The checkout's files as a fresh clone has them (plus new files not yet committed)."""
    listed = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=False,
    )
    if listed.returncode == 0:
        names = listed.stdout.decode().split("\0")
    else:  # not a git checkout (an unpacked sdist): all but the venv and caches
        names = [
            str(p.relative_to(REPO))
            for p in REPO.rglob("*")
            if not {".venv", "__pycache__", ".mypy_cache"} & set(p.relative_to(REPO).parts)
        ]
    return [n for n in names if n and ((REPO / n).is_file() or (REPO / n).is_symlink())]


def _debootstrap_version() -> str:
    found = shutil.which("debootstrap")
    if not found:
        return "absent"
    result = subprocess.run([found, "--version"], capture_output=True, text=True, check=False)
    return result.stdout.strip()


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the parent dies (pytest killed, say).

    The chain ends the whole run: pytest -> the background python -> unshare,
    whose --kill-child then kills the namespace's first process and with it
    every process in the namespace.
    """
    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
