"""``memmem`` is looked up (and ``ctypes`` imported) when a text is first searched by it:
a journal reader child whose route decides never does (issue 19: 0.2 MB of its memory)."""

from __future__ import annotations

import subprocess
import sys

from support.imports import modules_after

JOURNAL_CHILD = (
    "from journalban.lazyinspect import lazy_inspect; lazy_inspect(); "
    "import journalban.agent.readerchild, journalban.agent.journalreader as r; r.warm_up(); "
    "import journalban.sources.journalworker"
)


def test_the_journal_child_s_imports_leave_ctypes_out() -> None:
    loaded = modules_after(JOURNAL_CHILD)
    assert "journalban.matching.memfind" in loaded
    assert {"ctypes", "_ctypes"} & loaded == set()


def test_the_first_ascii_text_looks_memmem_up() -> None:
    code = (
        "import sys; from journalban.matching.memfind import ascii_text, first_index\n"
        "assert 'ctypes' not in sys.modules\n"
        "text = 'sshd[1]: Invalid user admin from 192.0.2.1 port 22\\n' * 50\n"
        "raw = ascii_text(text)\n"
        "assert raw is not None and 'ctypes' in sys.modules\n"
        "for word in ('from 192.0.2.1 port', 'refused connect from', 'Invalid user'):\n"
        "    assert first_index(text, raw, word) == text.find(word), word\n"
        "assert ascii_text('caf\\u00e9 from 192.0.2.1') is None\n"
        "print('ok')"
    )
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
