"""``journalban.cpus``: the CPU quota read from /proc/self/cgroup, /proc/self/mountinfo and
the cgroup files, written here as a host would have them (v2, v1, a container's mount of
its own cgroup, escaped mount points, nothing readable)."""

from __future__ import annotations

from pathlib import Path

from journalban.cpus import quota_cpus, usable_cpus


def _proc(tmp_path: Path, cgroup: str, mountinfo: str) -> Path:
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "cgroup").write_text(cgroup)
    (proc / "mountinfo").write_text(mountinfo)
    return proc


def _v2_mount(point: Path, root: str = "/") -> str:
    escaped = str(point).replace(" ", "\\040")
    return f"35 24 0:30 {root} {escaped} rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"


def test_v2_the_smallest_quota_up_to_the_mount_counts(tmp_path: Path) -> None:
    top = tmp_path / "cg"
    leaf = top / "system.slice" / "journalban.service"
    leaf.mkdir(parents=True)
    (leaf / "cpu.max").write_text("max 100000\n")
    (top / "system.slice" / "cpu.max").write_text("150000 100000\n")
    (top / "cpu.max").write_text("400000 100000\n")
    (tmp_path / "cpu.max").write_text("10000 100000\n")  # above the mount: not this hierarchy
    proc = _proc(tmp_path, "0::/system.slice/journalban.service\n", _v2_mount(top))
    assert quota_cpus(proc) == 1.5
    assert usable_cpus(proc) == 1


def test_v1_cpu_hierarchy_beside_v2_without_the_controller(tmp_path: Path) -> None:
    cpu, unified = tmp_path / "cpu", tmp_path / "unified"
    (cpu / "box").mkdir(parents=True)
    unified.mkdir()
    (cpu / "box" / "cpu.cfs_quota_us").write_text("-1\n")
    (cpu / "box" / "cpu.cfs_period_us").write_text("100000\n")
    (cpu / "cpu.cfs_quota_us").write_text("250000\n")
    (cpu / "cpu.cfs_period_us").write_text("100000\n")
    mounts = (
        f"30 24 0:26 / {cpu} rw - cgroup cgroup rw,cpu\n"
        f"31 24 0:27 / {tmp_path / 'cpuacct'} rw - cgroup cgroup rw,cpuacct\n" + _v2_mount(unified)
    )
    proc = _proc(tmp_path, "2:cpuacct:/box\n1:cpu:/box\n0::/box\n", mounts)
    assert quota_cpus(proc) == 2.5


def test_a_container_s_mount_of_its_own_cgroup(tmp_path: Path) -> None:
    """The host's cgroup path, the mount's root its prefix: the mount point is that cgroup."""
    top = tmp_path / "with space"
    (top / "inner").mkdir(parents=True)
    (top / "cpu.max").write_text("100000 100000\n")
    (top / "inner" / "cpu.max").write_text("300000 100000\n")
    proc = _proc(tmp_path, "0::/machine/box/inner\n", _v2_mount(top, "/machine/box"))
    assert quota_cpus(proc) == 1.0


def test_a_path_outside_the_mount_s_root_reads_the_mount_point(tmp_path: Path) -> None:
    top = tmp_path / "cg"
    top.mkdir()
    (top / "cpu.max").write_text("50000 100000\n")
    proc = _proc(tmp_path, "0::/elsewhere\n", _v2_mount(top, "/machine/boxes"))
    assert quota_cpus(proc) == 0.5
    assert usable_cpus(proc) == 1


def test_no_quota_or_nothing_readable_is_none(tmp_path: Path) -> None:
    top = tmp_path / "cg"
    top.mkdir()
    (top / "cpu.max").write_text("max 100000\n")
    assert quota_cpus(_proc(tmp_path, "0::/\n", _v2_mount(top))) is None
    assert quota_cpus(tmp_path / "no-proc") is None
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "cpu.max").write_text("lots 100000\n")
    other = tmp_path / "other"
    other.mkdir()
    assert quota_cpus(_proc(other, "0::/\n", _v2_mount(bad))) is None
    assert usable_cpus(tmp_path / "no-proc") >= 1
