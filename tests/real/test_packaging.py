"""The sdist, the Arch and Fedora recipes, and the manual pages, with the real tools.

docs/packaging/files.txt is the one list of what a package installs beside the
Python package; every recipe is held to it exactly (paths, modes, config files):
the PKGBUILD is built for real by makepkg from the sdist (as an unprivileged
user, under fakeroot), and its package() alone is run too; the RPM spec is
built for real by rpmbuild (Fedora's macros that Debian's rpm lacks defined
here), rendered by rpmspec -P with its %build and %install run against the
unpacked sdist, and its %files lines are read against the list.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable
from pathlib import Path

import pytest

import journalban
from support import install
from support.real import REPO, missing_real, need_root, need_tool

RECIPES = REPO / "docs" / "packaging"
MAN_PAGES = sorted((REPO / "docs" / "man").glob("*.[0-9]"))
# Fedora macros that Debian's rpm lacks: paths as Fedora sets them, build and
# scriptlet macros as no-ops (they only matter inside a real rpmbuild).
FEDORA_DEFINES = {
    "_unitdir": "/usr/lib/systemd/system",
    "_userunitdir": "/usr/lib/systemd/user",
    "_sysusersdir": "/usr/lib/sysusers.d",
    "_tmpfilesdir": "/usr/lib/tmpfiles.d",
    "_sharedstatedir": "/var/lib",
    "python3_sitelib": "/usr/lib/python3.13/site-packages",
    "python3_sitearch": "/usr/lib64/python3.13/site-packages",
    "pyproject_files": "/dev/null",
    "pyproject_wheel": ":",
    "pyproject_install": ":",
    "pyproject_save_files()": ":",
    "pyproject_buildrequires": ":",
    "systemd_post()": ":",
    "systemd_preun()": ":",
    "systemd_postun_with_restart()": ":",
    "selinux_requires": "%{nil}",
    "selinux_relabel_pre(s:)": ":",
    "selinux_relabel_post(s:)": ":",
    "selinux_modules_install(s:p:)": ":",
    "selinux_modules_uninstall(s:p:)": ":",
}
# What the %files lines name that the wheel, not docs/packaging/files.txt, brings.
WHEEL_PROVIDED = {"/usr/bin/journalban"}
# The agent's one C module (setup.py), which both packages build and must hold.
BUILD_ID = "/usr/lib/.build-id"  # where rpm links an ELF file by its build id
NATIVE_MODULE = re.compile(r"site-packages/journalban/sources/_journalfile\.cpython-[^/]*\.so")
# The second (issue 19, fscan): the file scan's inner loop (journalban.matching._linescan).
SCAN_MODULE = re.compile(r"site-packages/journalban/matching/_linescan\.cpython-[^/]*\.so")
# The third to fifth (issue 19, session 20): a commit's ban columns, a decided ban's
# announcing, a network's first ban; the sixth to eighth (session 21): a jail's detectors,
# the deciding's per-failure loop, an IPv6 text's keys; the ninth (session 22): the subnet
# detector's step and the detectors' rows; the tenth (session 22): the file lines' matching
# loop; the eleventh (session 23): a commit's statements stepped in C (also a SQLite
# loadable extension, built against sqlite3ext.h).
PER_BAN_MODULES = [
    re.compile(rf"site-packages/journalban/{name}\.cpython-[^/]*\.so")
    for name in (
        "state/_rowvalues",
        "_announce",
        "decisions/_banrun",
        "jails/_detectors",
        "decisions/_hitloop",
        "_addrkey",
        "jails/_crowd",
        "matching/_texthits",
        "state/_commitext",
    )
]

pytestmark = pytest.mark.real


@pytest.fixture(scope="module")
def sdist_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist built by `python -m build --sdist`, unpacked; its top directory."""
    out = tmp_path_factory.mktemp("sdist")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--outdir", str(out), str(REPO)],
        capture_output=True,
        text=True,
        check=False,
    )
    if "No module named build" in result.stderr:
        missing_real("the `build` package is not installed (pip install -e '.[test]')")
    assert result.returncode == 0, result.stderr
    (archive,) = out.glob("journalban-*.tar.gz")
    subprocess.run(["tar", "-xzf", str(archive), "-C", str(out)], check=True)
    return out / f"journalban-{journalban.__version__}"


def _rpmspec_defines() -> list[str]:
    argv = []
    for name, value in FEDORA_DEFINES.items():
        argv += ["--define", f"{name} {value}"]
    return argv


def _parsed_spec(buildroot: Path | None = None) -> str:
    rpmspec = need_tool("rpmspec")
    defines = _rpmspec_defines()
    if buildroot is not None:
        defines += ["--define", f"buildroot {buildroot}"]
    result = subprocess.run(
        [rpmspec, "-P", *defines, str(RECIPES / "journalban.spec")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


def _spec_section(parsed: str, name: str) -> str:
    """The body of one %section of a parsed spec, up to the next section."""
    match = re.search(
        rf"^%{re.escape(name)}(?: -\S[^\n]*)?\n(.*?)(?=^%(?:pre|post|preun|postun|posttrans|files|changelog|install|build|check)\b)",
        parsed,
        re.M | re.S,
    )
    assert match, f"no %{name} section"
    return match.group(1)


def _run_spec_build_and_install(sdist_tree: Path, buildroot: Path) -> str:
    need_tool("make")
    need_tool("bzip2")
    parsed = _parsed_spec(buildroot)
    tree = buildroot.parent / "rpm-src"
    shutil.copytree(sdist_tree, tree)
    script = (
        "set -euo pipefail\n" + _spec_section(parsed, "build") + _spec_section(parsed, "install")
    )
    result = subprocess.run(
        ["bash", "-c", script], cwd=tree, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return parsed


def _run_pkgbuild_package(sdist_tree: Path, pkgdir: Path) -> None:
    """Run package() from the PKGBUILD on the sdist, with the wheel install stubbed."""
    srcdir = pkgdir.parent / "arch-src"
    srcdir.mkdir()
    shutil.copytree(sdist_tree, srcdir / sdist_tree.name)
    script = (
        "set -euo pipefail\n"
        f"source {RECIPES / 'PKGBUILD'}\n"
        "python() { :; }\n"
        f'pkgdir={pkgdir}; srcdir={srcdir}; cd "$srcdir"\n'
        "package\n"
    )
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def _installed(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def _listed(kinds: frozenset[str] | set[str]) -> dict[str, int]:
    """Listed files (not directories) of ``kinds``: relative path -> mode."""
    return {e.relpath: e.mode for e in install.entries(kinds) if e.kind != "dir"}


def _listed_dirs() -> list[str]:
    return [e.relpath for e in install.entries({"dir"})]


def _modes(root: Path, paths: Iterable[str]) -> dict[str, int]:
    return {p: stat.S_IMODE((root / p).stat().st_mode) for p in paths}


def _spec_files_section(parsed: str) -> list[str]:
    """The lines of every %files section of a parsed spec."""
    lines: list[str] = []
    for name in ("files", "files selinux"):
        lines += [ln.strip() for ln in _spec_section(parsed, name).splitlines() if ln.strip()]
    return lines


def _spec_files_entries(lines: list[str]) -> set[tuple[str, str]]:
    """(kind, installed path) for what the %files lines claim, in the list's terms.

    A directory line (``/usr/share/journalban/``) claims every listed file
    under it; ``NAME*`` on a manual page claims NAME (rpm compresses it);
    %doc and %license name files of the build directory, which rpm puts in
    /usr/share/doc/NAME and /usr/share/licenses/NAME.
    """
    listed = install.entries()
    claimed: set[tuple[str, str]] = set()
    for line in lines:
        words = line.split()
        if words[0] == "%ghost" or line in WHEEL_PROVIDED:
            continue
        if words[0] in ("%doc", "%license"):
            where = "doc" if words[0] == "%doc" else "licenses"
            kind = words[0][1:]
            claimed |= {(kind, f"/usr/share/{where}/journalban/{Path(w).name}") for w in words[1:]}
            continue
        if words[0] == "%dir":
            claimed.add(("dir", words[1]))
            continue
        if words[0] == "%config(noreplace)":
            claimed.add(("config", words[1]))
            continue
        assert len(words) == 1, line
        assert not words[0].startswith("%"), line
        path = words[0]
        if path.endswith("/"):
            under = [e for e in listed if e.path.startswith(path) and e.kind != "dir"]
            assert under, f"{line} claims no listed file"
            claimed |= {("file", e.path) for e in under}
        elif path.endswith("*"):
            assert path.startswith("/usr/share/man/"), f"only manual pages end in *: {line}"
            claimed.add(("file", path[:-1]))
        else:
            claimed.add(("selinux" if "/selinux/" in path else "file", path))
    return claimed


def test_sdist_carries_units_dbus_selinux_docs_and_default_config(sdist_tree: Path) -> None:
    for path in [
        "units/journalban.service",
        "units/dedicated-user/journalban.service",
        "units/sysusers.d/journalban.conf",
        "dbus/org.jailban.conf",
        "selinux/journalban.te",
        "selinux/journalban.fc",
        "selinux/journalban.if",
        "docs/hardening.md",
        "docs/packaging/journalban.spec",
        "docs/packaging/PKGBUILD",
        "filters/sshd.yaml",
        "journalban/data/default.yaml",
        # the C modules' sources and interfaces, and what builds them
        "setup.py",
        "journalban/sources/_journalfile.c",
        "journalban/sources/_journalfile.pyi",
        "journalban/matching/_linescan.c",
        "journalban/matching/_linescan.pyi",
        "journalban/matching/_texthits.c",
        "journalban/matching/_texthits.pyi",
        "journalban/state/_rowvalues.c",
        "journalban/state/_rowvalues.pyi",
        "journalban/state/_commitext.c",
        "journalban/state/_commitext.pyi",
        "journalban/decisions/_banrun.c",
        "journalban/decisions/_banrun.pyi",
        "journalban/_announce.c",
        "journalban/_announce.pyi",
        "journalban/jails/_detectors.c",
        "journalban/jails/_detectors.pyi",
        "journalban/decisions/_hitloop.c",
        "journalban/decisions/_hitloop.pyi",
        "journalban/_addrkey.c",
        "journalban/_addrkey.pyi",
    ]:
        assert (sdist_tree / path).is_file(), path
    assert not list(sdist_tree.rglob("*.so")), "a built module in the sdist"


def test_pkgbuild_parses_with_makepkg_as_an_unprivileged_user() -> None:
    need_root()
    makepkg = need_tool("makepkg")
    setpriv = need_tool("setpriv")
    # pytest's own temporary directories are closed to other users.
    with tempfile.TemporaryDirectory() as workdir:
        shutil.copy(RECIPES / "PKGBUILD", Path(workdir) / "PKGBUILD")
        os.chown(workdir, 65534, 65534)
        result = subprocess.run(
            [
                setpriv,
                "--reuid=nobody",
                "--regid=nogroup",
                "--clear-groups",
                makepkg,
                "--printsrcinfo",
            ],
            cwd=workdir,
            env={"PATH": "/usr/bin:/bin", "HOME": workdir},
            capture_output=True,
            text=True,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    assert f"pkgver = {journalban.__version__}\n" in result.stdout
    assert "backup = etc/journalban/journalban.yaml" in result.stdout


def test_spec_parses_with_fedora_paths_expanded() -> None:
    parsed = _parsed_spec()
    assert f"Version:        {journalban.__version__}" in parsed
    install = _spec_section(parsed, "install")
    assert "%{" not in install
    assert "/usr/lib/systemd/system/journalban.service" in install
    assert "-selinux" in parsed or "%package        selinux" in parsed


def test_files_list_parses_and_names_existing_sources() -> None:
    entries = install.entries()
    assert {e.kind for e in entries} == install.KINDS
    for entry in entries:
        if entry.source is not None and entry.source != "selinux/journalban.pp.bz2":
            assert (REPO / entry.source).is_file(), entry.source


def test_files_list_rejects_a_malformed_line() -> None:
    with pytest.raises(install.FilesListError, match=r"x\.txt:2: unknown kind 'unit'"):
        install.parse("# comment\nunit 0644 a /b\n", "x.txt")
    with pytest.raises(install.FilesListError, match="listed twice"):
        install.parse("file 0644 a /b\nfile 0644 c /b\n")
    with pytest.raises(install.FilesListError, match="not absolute"):
        install.parse("file 0644 a b\n")


def test_install_into_puts_the_listed_files_with_their_modes(tmp_path: Path) -> None:
    done = install.install_into(tmp_path)
    assert {e.kind for e in done} == install.NO_SELINUX
    assert _installed(tmp_path) == set(_listed(install.NO_SELINUX))
    assert _modes(tmp_path, _listed(install.NO_SELINUX)) == _listed(install.NO_SELINUX)
    for directory in _listed_dirs():
        assert (tmp_path / directory).is_dir(), directory
    unit = tmp_path / "usr/lib/systemd/system/journalban.service"
    assert unit.read_bytes() == (REPO / "units/journalban.service").read_bytes()


def test_sdist_has_every_listed_source(sdist_tree: Path) -> None:
    for entry in install.entries(install.NO_SELINUX - {"dir"}):
        assert entry.source is not None
        assert (sdist_tree / entry.source).is_file(), entry.source


def test_pkgbuild_package_installs_exactly_the_shared_list(
    sdist_tree: Path, tmp_path: Path
) -> None:
    pkgdir = tmp_path / "pkg"
    _run_pkgbuild_package(sdist_tree, pkgdir)
    listed = _listed(install.NO_SELINUX)
    assert _installed(pkgdir) == set(listed)
    assert _modes(pkgdir, listed) == listed
    for directory in _listed_dirs():
        assert (pkgdir / directory).is_dir(), directory


def test_makepkg_builds_the_package_from_the_sdist_with_exactly_the_shared_list(
    sdist_tree: Path, tmp_path: Path
) -> None:
    """makepkg (as nobody, under fakeroot) runs build() and package() for real."""
    need_root()
    makepkg = need_tool("makepkg")
    setpriv = need_tool("setpriv")
    need_tool("fakeroot")
    need_tool("bsdtar")
    with tempfile.TemporaryDirectory() as workdir:
        work = Path(workdir)
        # The sdist archive itself, as built by `python -m build --sdist`.
        archive_name = f"{sdist_tree.name}.tar.gz"
        shutil.copy(sdist_tree.parent / archive_name, work / archive_name)
        shutil.copy(RECIPES / "PKGBUILD", work / "PKGBUILD")
        # Arch's `python` is python 3 with build, installer, setuptools and
        # wheel (makedepends); here that is this venv's interpreter.
        (work / "bin").mkdir()
        (work / "bin" / "python").write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
        (work / "bin" / "python").chmod(0o755)
        for path in [work, *work.rglob("*")]:
            os.chown(path, 65534, 65534)
        result = subprocess.run(
            [
                setpriv,
                "--reuid=nobody",
                "--regid=nogroup",
                "--clear-groups",
                makepkg,
                "--nodeps",  # Arch's python-* packages are not in a pacman db here
                "--noconfirm",
                "--noprogressbar",
            ],
            cwd=work,
            env={
                "PATH": f"{work / 'bin'}:/usr/bin:/bin",
                "HOME": workdir,
                "PKGDEST": workdir,
                "SRCDEST": workdir,
                "BUILDDIR": str(work / "build"),
                "PKGEXT": ".pkg.tar.gz",
                "LANG": "C.UTF-8",
            },
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        # Arch-specific (the C module): named for makepkg's CARCH, one of arch=().
        (package,) = work.glob(f"journalban-{journalban.__version__}-1-*.pkg.tar.gz")
        with tarfile.open(package) as archive:
            members = {m.name.rstrip("/"): m for m in archive.getmembers()}
            pkginfo_file = archive.extractfile(".PKGINFO")
            assert pkginfo_file is not None
            pkginfo = set(pkginfo_file.read().decode().splitlines())
    # The wheel lands under the interpreter's prefix (/usr on Arch, the venv here).
    prefix = sys.prefix.lstrip("/") + "/"
    python_files = {n for n in members if n.startswith(prefix)}
    assert f"{prefix}bin/journalban" in python_files
    assert any(n.endswith("site-packages/journalban/agent/__init__.py") for n in python_files)
    assert package.name.removesuffix(".pkg.tar.gz").rsplit("-", 1)[1] in _pkgbuild_arches()
    assert len([n for n in python_files if NATIVE_MODULE.search(n)]) == 1, sorted(python_files)
    assert len([n for n in python_files if SCAN_MODULE.search(n)]) == 1, sorted(python_files)
    for module in PER_BAN_MODULES:
        assert len([n for n in python_files if module.search(n)]) == 1, sorted(python_files)
    assert f"arch = {package.name.removesuffix('.pkg.tar.gz').rsplit('-', 1)[1]}" in pkginfo
    files = {
        n.removesuffix(".gz") if n.startswith("usr/share/man/") else n: m
        for n, m in members.items()
        if m.isfile() and n not in python_files and not n.startswith(".")
    }
    listed = _listed(install.NO_SELINUX)
    assert set(files) == set(listed)
    assert {n: m.mode for n, m in files.items()} == listed
    assert all(m.uid == 0 and m.gid == 0 for m in files.values())
    for directory in _listed_dirs():
        assert members[directory].isdir(), directory
    assert {ln.split(" = ")[1] for ln in pkginfo if ln.startswith("backup = ")} == {
        e.relpath for e in install.entries({"config"})
    }
    assert "depend = iana-etc" in pkginfo


def _rpmbuild_defines(topdir: Path) -> list[str]:
    """Fedora's macros for a real rpmbuild on Debian: paths as Fedora sets them,
    the pyproject macros done with this venv's build and installer, scriptlets none."""
    py = sys.executable
    save_files = topdir / "save-files.sh"
    save_files.write_text(
        "# %pyproject_save_files: the wheel's files as %files lines\n"
        'cd "$1" && find usr/lib -path "*site-packages*" -type f | sed "s,^,/," > "$2"\n'
    )
    defines = {
        **{k: v for k, v in FEDORA_DEFINES.items() if not k.startswith("pyproject")},
        "_topdir": str(topdir),
        "_docdir_fmt": "%%{NAME}",
        "pyproject_files": str(topdir / "pyproject-files"),
        "pyproject_wheel": f"{py} -m build --wheel --no-isolation --outdir dist .",
        "pyproject_install": f"{py} -m installer --destdir=%{{buildroot}} --prefix=/usr dist/*.whl",
        "pyproject_save_files()": f"sh {save_files} %{{buildroot}} {topdir / 'pyproject-files'}",
        "pyproject_buildrequires": ":",
    }
    argv = []
    for name, value in defines.items():
        argv += ["--define", f"{name} {value}"]
    return argv


def _rpm_files(package: Path) -> dict[str, tuple[str, int]]:
    """path -> (kind in the list's terms, permission bits) of one built RPM."""
    result = subprocess.run(
        ["rpm", "-qp", "--qf", "[%{FILENAMES}\t%{FILEMODES}\t%{FILEFLAGS:fflags}\n]", str(package)],
        capture_output=True,
        text=True,
        check=True,
    )
    files: dict[str, tuple[str, int]] = {}
    for line in result.stdout.splitlines():
        path, mode_text, flags = line.split("\t")
        mode = int(mode_text) & 0o177777
        if stat.S_ISDIR(mode):
            kind = "dir"
        elif "g" in flags:
            kind = "ghost"
        elif "c" in flags:
            kind = "config"
        elif "d" in flags and not path.startswith("/usr/share/man/"):
            kind = "doc"  # (rpm flags manual pages as documentation by itself)
        elif "l" in flags:
            kind = "license"
        else:
            kind = "selinux" if "/selinux/" in path else "file"
        files[path] = (kind, stat.S_IMODE(mode))
    return files


def test_rpmbuild_builds_both_packages_with_exactly_the_shared_list(
    sdist_tree: Path, tmp_path: Path
) -> None:
    """A real rpmbuild from the sdist: rpm itself refuses a file installed but not
    in %files, or in %files but not installed; the packages hold exactly the list."""
    rpmbuild = need_tool("rpmbuild")
    need_tool("make")
    need_tool("bzip2")
    topdir = tmp_path / "rpmbuild"
    (topdir / "SOURCES").mkdir(parents=True)
    archive = f"{sdist_tree.name}.tar.gz"
    shutil.copy(sdist_tree.parent / archive, topdir / "SOURCES" / archive)
    result = subprocess.run(
        [rpmbuild, "-bb", "--nodeps", *_rpmbuild_defines(topdir), str(RECIPES / "journalban.spec")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    version = journalban.__version__
    # The main package is arch-specific (the C module); the SELinux one stays noarch.
    arch = subprocess.run(
        ["rpm", "--eval", "%{_arch}"], capture_output=True, text=True, check=True
    ).stdout.strip()
    main_rpm = topdir / "RPMS" / arch / f"journalban-{version}-1.{arch}.rpm"
    main = _rpm_files(main_rpm)
    selinux = _rpm_files(topdir / "RPMS" / "noarch" / f"journalban-selinux-{version}-1.noarch.rpm")
    # The wheel's files, and the directories rpm makes for %doc and %license.
    assert main.pop("/usr/bin/journalban") == ("file", 0o755)
    assert any(p.endswith("site-packages/journalban/__init__.py") for p in main)
    assert len([p for p in main if NATIVE_MODULE.search(p)]) == 1, sorted(main)
    assert len([p for p in main if SCAN_MODULE.search(p)]) == 1, sorted(main)
    for module in PER_BAN_MODULES:
        assert len([p for p in main if module.search(p)]) == 1, sorted(main)
    assert not [p for p in selinux if "site-packages" in p]
    made_by_rpm = {"/usr/share/doc/journalban", "/usr/share/licenses/journalban"}
    listed_main = {(e.path, e.kind, e.mode) for e in install.entries(install.KINDS - {"selinux"})}
    got_main = {
        (p.removesuffix(".gz") if p.startswith("/usr/share/man/") else p, kind, mode)
        for p, (kind, mode) in main.items()
        if "site-packages" not in p and p not in made_by_rpm and not p.startswith(BUILD_ID)
    }
    # rpm links each ELF file (the C module) by its build id, as on Fedora.
    assert {p for p in main if p.startswith(BUILD_ID + "/") and p.count("/") == 5}
    # Directories the spec owns beyond the listed ones (the tree of /usr/share/journalban/).
    owned_dirs = {(p, k, m) for p, k, m in got_main - listed_main if k == "dir"}
    assert {p for p, _, _ in owned_dirs} <= {
        "/usr/share/journalban",
        "/usr/share/journalban/units",
        "/usr/share/journalban/units/dedicated-user",
        "/usr/share/journalban/units/dropins",
        "/usr/share/cockpit/journalban",  # the Cockpit page's folder
    }
    assert got_main - owned_dirs == listed_main
    ghosts = {p for p, (kind, _) in selinux.items() if kind == "ghost"}
    assert ghosts == {"/var/lib/selinux/targeted/active/modules/200/journalban"}
    assert {(p, k, m) for p, (k, m) in selinux.items() if p not in ghosts} == {
        (e.path, e.kind, e.mode) for e in install.entries({"selinux"})
    }
    requires = subprocess.run(
        ["rpm", "-qRp", str(main_rpm)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert "/etc/services" in requires


def test_spec_installs_exactly_the_shared_list(sdist_tree: Path, tmp_path: Path) -> None:
    buildroot = tmp_path / "buildroot"
    _run_spec_build_and_install(sdist_tree, buildroot)
    # %doc and %license files are copied by rpmbuild itself, not by %install.
    listed = _listed(install.KINDS - {"doc", "license"})
    assert _installed(buildroot) == set(listed)
    assert _modes(buildroot, listed) == listed
    for directory in _listed_dirs():
        assert (buildroot / directory).is_dir(), directory


def test_spec_files_claim_exactly_the_shared_list() -> None:
    lines = _spec_files_section(_parsed_spec())
    claimed = _spec_files_entries(lines)
    assert claimed == {(e.kind, e.path) for e in install.entries()}
    assert "/usr/bin/journalban" in lines


def _pkgbuild(script: str) -> str:
    """What ``script`` prints after bash sourced the PKGBUILD."""
    return subprocess.run(
        ["bash", "-c", f"source {RECIPES / 'PKGBUILD'}; {script}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _pkgbuild_array(name: str) -> list[str]:
    """The PKGBUILD's array ``name``, an element a line."""
    return [item for item in _pkgbuild(f"printf '%s\\n' \"${{{name}[@]}}\"").splitlines() if item]


def _pkgbuild_arches() -> list[str]:
    return _pkgbuild_array("arch")


def test_both_packages_are_arch_specific_and_require_the_c_module() -> None:
    """The main RPM and the Arch package carry the C module (the SELinux RPM stays
    noarch), and both builds set JOURNALBAN_REQUIRE_NATIVE=1, so a failed compile
    fails them (tests/real/test_native_build.py proves what the variable does)."""
    parsed = _parsed_spec()
    main_header = parsed.split("%package", 1)[0]
    assert not re.search(r"^BuildArch:", main_header, re.M)
    assert re.search(r"^BuildArch:\s+noarch$", _spec_subpackage(parsed, "selinux"), re.M)
    assert re.search(r"^BuildRequires:\s+gcc$", parsed, re.M)
    assert re.search(r"^BuildRequires:\s+python3-devel$", parsed, re.M)
    # (sqlite3ext.h, for journalban.state._commitext: Fedora's sqlite-devel, Arch's sqlite)
    assert re.search(r"^BuildRequires:\s+sqlite-devel$", parsed, re.M)
    makedepends = _pkgbuild_array("makedepends")
    assert "sqlite" in makedepends
    assert "export JOURNALBAN_REQUIRE_NATIVE=1\n" in _spec_section(parsed, "build")
    assert _pkgbuild_arches() == ["x86_64", "aarch64"]
    build = _pkgbuild("declare -f build")
    assert "JOURNALBAN_REQUIRE_NATIVE=1 python -m build --wheel --no-isolation" in build


def _spec_subpackage(parsed: str, name: str) -> str:
    """The preamble of ``%package NAME``, up to its %description."""
    match = re.search(rf"^%package\s+{name}\n(.*?)^%description", parsed, re.M | re.S)
    assert match, f"no %package {name}"
    return match.group(1)


def test_packages_depend_on_what_provides_etc_services() -> None:
    parsed = _parsed_spec()
    assert re.search(r"^Requires:\s+/etc/services$", parsed, re.M)
    assert "iana-etc" in _pkgbuild_array("depends")


# Each optional extra's requirement, as the distributions name it (Arch, Fedora).
EXTRA_PACKAGES = {
    "nats-py": ("python-nats-py", "python3dist(nats-py)"),
    "prometheus-client": ("python-prometheus_client", "python3-prometheus_client"),
}


def _extras() -> dict[str, list[tuple[str, str]]]:
    """pyproject's optional extras but the test one: extra -> [(name, lower bound)]."""
    import tomllib

    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    out: dict[str, list[tuple[str, str]]] = {}
    for extra, reqs in extras.items():
        if extra == "test":
            continue
        for req in reqs:
            found = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*(?:>=\s*([0-9.]+))?", req)
            assert found, f"{extra}: {req!r} is not of the form name or name>=version"
            out.setdefault(extra, []).append((found[1].lower(), found[2] or ""))
    return out


def test_every_optional_extra_is_an_optional_dependency_of_both_packages() -> None:
    optdepends = _pkgbuild_array("optdepends")
    arch_optional = {line.split(":", 1)[0].strip() for line in optdepends}
    parsed = _parsed_spec()
    weak = dict(
        (m[2].split()[0], m[2])
        for m in re.finditer(r"^(Suggests|Recommends):\s+(.*)$", parsed, re.M)
    )
    hard = " ".join(re.findall(r"^Requires:\s+(.*)$", parsed, re.M))
    extras = _extras()
    assert "fleet" in extras
    assert "metrics" in extras
    for extra, reqs in extras.items():
        for name, bound in reqs:
            assert name in EXTRA_PACKAGES, f"extra {extra}: {name} has no distribution names here"
            arch, rpm = EXTRA_PACKAGES[name]
            assert arch in arch_optional, f"PKGBUILD optdepends lacks {arch} ({extra})"
            assert rpm in weak, f"the spec neither suggests nor recommends {rpm} ({extra})"
            if rpm.startswith("python3dist(") and bound:
                assert weak[rpm].split()[1:] == [">=", bound], weak[rpm]
            assert rpm not in hard, f"{rpm} must stay optional in the spec"
    depends = _pkgbuild_array("depends")
    assert not {arch for arch, _ in EXTRA_PACKAGES.values()} & set(depends)


@pytest.mark.parametrize("page", MAN_PAGES, ids=[p.name for p in MAN_PAGES])
def test_manual_page_renders_without_warnings(page: Path) -> None:
    man = need_tool("man")
    result = subprocess.run(
        [man, "--warnings", "-l", str(page)],
        env={**os.environ, "MANWIDTH": "80", "MAN_KEEP_FORMATTING": "0", "PAGER": "cat"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert result.stderr == ""
    assert len(result.stdout.splitlines()) > 20


def test_the_three_manual_pages_exist() -> None:
    assert [p.name for p in MAN_PAGES] == [
        "journalban-filters.5",
        "journalban.8",
        "journalban.yaml.5",
    ]
