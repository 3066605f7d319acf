"""Debian's real Apache httpd, run by a test with a configuration of its own, in the server namespace.

No file of /etc/apache2 is read: the configuration loads its few modules by
absolute path; pid file and logs are the test's. The location answers with
mod_status (a 200 without any document), and includes journalban's deny file.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from support.netpair import NetPair
from support.real import need_tool

MODULES = "/usr/lib/apache2/modules"


def apache_conf(root: Path, server: str, server6: str, deny_file: Path) -> str:
    modules = "".join(
        f"LoadModule {name}_module {MODULES}/mod_{name}.so\n"
        for name in ("mpm_event", "authz_core", "authz_host", "status")
    )
    return f"""{modules}ServerName web.test
ServerRoot {root}
PidFile {root}/apache.pid
ErrorLog {root}/error.log
Mutex file:{root}
Listen {server}:80
Listen [{server6}]:80
User www-data
Group www-data
<Location "/">
    SetHandler server-status
    Include {deny_file}
</Location>
"""


@contextmanager
def running_apache(root: Path, pair: NetPair, deny_file: Path) -> Iterator[list[str]]:
    """Apache on ``pair.server``:80; yields the argv that reloads it gracefully."""
    apache = need_tool("apache2")
    root.mkdir(parents=True)
    conf = root / "apache2.conf"
    conf.write_text(apache_conf(root, pair.server, pair.server6, deny_file))
    out = (root / "apache.out").open("wb")
    proc = subprocess.Popen(
        pair.server_argv([apache, "-f", str(conf), "-DFOREGROUND"]),
        stdout=out, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not (root / "apache.pid").exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                log = root / "error.log"
                text = log.read_text(errors="replace") if log.exists() else ""
                raise AssertionError((root / "apache.out").read_text(errors="replace") + text)
            time.sleep(0.05)
        yield [apache, "-f", str(conf), "-k", "graceful"]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        out.close()
