"""The sdist, the Arch and Fedora recipes, and the manual pages, with the real tools.

The recipes' install steps are run for real against the unpacked sdist (with
the Python build steps and the distribution's scriptlet macros stubbed out),
so a file a recipe installs but the sdist lacks fails the install itself.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import journalban
from support.real import REPO, missing_real, need_root, need_tool

RECIPES = REPO / "docs" / "packaging"
MAN_PAGES = sorted((REPO / "docs" / "man").glob("*.[0-9]"))
# Fedora macros that Debian's rpm lacks: paths as Fedora sets them, build and
# scriptlet macros as no-ops (they only matter inside a real rpmbuild).
FEDORA_DEFINES = {
    "_unitdir": "/usr/lib/systemd/system",
    "_sysusersdir": "/usr/lib/sysusers.d",
    "_tmpfilesdir": "/usr/lib/tmpfiles.d",
    "_sharedstatedir": "/var/lib",
    "python3_sitelib": "/usr/lib/python3.13/site-packages",
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
# Where both recipes must put the files a distribution package is judged by.
STANDARD_PLACES = [
    "usr/lib/systemd/system/journalban.service",
    "usr/lib/sysusers.d/journalban.conf",
    "usr/lib/tmpfiles.d/journalban.conf",
    "usr/share/dbus-1/system.d/org.jailban.conf",
    "usr/share/dbus-1/system-services/org.jailban.service",
    "usr/share/polkit-1/actions/org.jailban.policy",
    "etc/journalban/journalban.yaml",
    "usr/share/man/man8/journalban.8",
    "usr/share/man/man5/journalban.yaml.5",
    "usr/share/man/man5/journalban-filters.5",
    "usr/share/journalban/units/dedicated-user/journalban.service",
    "usr/share/journalban/units/dropins/inet.conf",
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
        rf"^%{re.escape(name)}(?: -\S.*)?\n(.*?)(?=^%(?:pre|post|preun|postun|posttrans|files|changelog|install|build|check)\b)",
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
    ]:
        assert (sdist_tree / path).is_file(), path


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


def test_pkgbuild_installs_every_file_from_the_sdist(sdist_tree: Path, tmp_path: Path) -> None:
    pkgdir = tmp_path / "pkg"
    _run_pkgbuild_package(sdist_tree, pkgdir)
    installed = _installed(pkgdir)
    for path in STANDARD_PLACES:
        assert path in installed, path


def test_spec_parses_with_fedora_paths_expanded() -> None:
    parsed = _parsed_spec()
    assert f"Version:        {journalban.__version__}" in parsed
    install = _spec_section(parsed, "install")
    assert "%{" not in install
    assert "/usr/lib/systemd/system/journalban.service" in install
    assert "-selinux" in parsed or "%package        selinux" in parsed


def test_spec_installs_every_file_from_the_sdist(sdist_tree: Path, tmp_path: Path) -> None:
    buildroot = tmp_path / "buildroot"
    parsed = _run_spec_build_and_install(sdist_tree, buildroot)
    installed = _installed(buildroot)
    for path in [*STANDARD_PLACES, "usr/share/selinux/packages/targeted/journalban.pp.bz2"]:
        assert path in installed, path
    for line in (
        _spec_section(parsed, "files").splitlines()
        + _spec_section(parsed, "files selinux").splitlines()
    ):
        if line.startswith("/") and "%" not in line:
            path = line.split()[-1]
            assert list(
                buildroot.glob(path.lstrip("/") + ("*" if not path.endswith("/") else ""))
            ), path


def test_recipes_install_the_same_files(sdist_tree: Path, tmp_path: Path) -> None:
    pkgdir = tmp_path / "pkg"
    _run_pkgbuild_package(sdist_tree, pkgdir)
    buildroot = tmp_path / "buildroot"
    _run_spec_build_and_install(sdist_tree, buildroot)
    distro_specific = ("usr/share/selinux/", "usr/share/licenses/", "usr/share/doc/")

    def common(paths: set[str]) -> set[str]:
        return {p for p in paths if not p.startswith(distro_specific)}

    assert common(_installed(pkgdir)) == common(_installed(buildroot))


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
