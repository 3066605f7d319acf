"""bench_agent.ProcessWatch on a real process tree: what each memory figure counts.

A parent fills 64 MiB and forks: the child shares those pages until it writes
its own copy. Summed VmHWM counts them twice from the start; Pss_Anon (what the
agent's floor against fail2ban-server is judged on) counts them once while they
are shared and twice once the child has written them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))

from bench_agent import ProcessWatch

MIB = 1024
SIZE_MIB = 64

TREE = f"""
import os, sys
buf = bytearray(b"\\x01") * ({SIZE_MIB} << 20)
go_r, go_w = os.pipe()
done_r, done_w = os.pipe()
pid = os.fork()
if pid == 0:
    os.read(go_r, 1)
    for i in range(0, len(buf), 4096):
        buf[i] = 2
    os.write(done_w, b"x")
    os.read(go_r, 1)
    os._exit(0)
print(pid, flush=True)
sys.stdin.readline()
os.write(go_w, b"w")
os.read(done_r, 1)
print("written", flush=True)
sys.stdin.readline()
os.write(go_w, b"q")
os.waitpid(pid, 0)
"""


def test_pss_counts_shared_pages_once_and_vmhwm_twice() -> None:
    with subprocess.Popen(
        [sys.executable, "-c", TREE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as proc:
        try:
            check_tree(proc)
        finally:
            proc.kill()


def check_tree(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    assert proc.stdout is not None
    child = int(proc.stdout.readline())
    watch = ProcessWatch(proc.pid)
    assert watch.children() == [child]
    watch.sample()
    shared_hwm = watch.status_kb("VmHWM")
    shared_pss_anon = watch.peak_pss_anon_kb
    assert shared_hwm >= 2 * SIZE_MIB * MIB  # both processes' own peaks, summed
    assert SIZE_MIB * MIB <= shared_pss_anon < (SIZE_MIB + 24) * MIB
    assert watch.peak_pss_kb >= shared_pss_anon

    proc.stdin.write("write\n")
    proc.stdin.flush()
    assert proc.stdout.readline().strip() == "written"
    watch.sample()
    assert watch.peak_pss_anon_kb >= 2 * SIZE_MIB * MIB  # now two copies
    assert watch.peak_anon_kb >= 2 * SIZE_MIB * MIB
    proc.stdin.write("quit\n")
    proc.stdin.flush()
    assert proc.wait(timeout=30) == 0
