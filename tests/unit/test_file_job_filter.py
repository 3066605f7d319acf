"""A file jail's reader child gets the agent's FilterDef, not the filter's name to load.

The child then builds the same matcher without reading YAML or importing PyYAML
(docs/benchmarks.md, "Memory"): every filter must survive the trip unchanged.
"""

from __future__ import annotations

import base64
import pickle
import subprocess
import sys

from journalban.agent.fileworker import FileJob
from journalban.matching.library import FilterLibrary
from journalban.matching.spec import MatcherSpec


def test_every_packaged_filter_reaches_the_child_unchanged() -> None:
    library = FilterLibrary(None)
    names = library.names()
    assert len(names) > 50
    for name in names:
        fdef = library.load(name)
        spec = MatcherSpec(name, None, None)
        job = FileJob("files:/x", ["/x"], 60.0, None, spec, (), FileJob.pickled(fdef))
        back = FileJob.decode(job.encode())
        assert back.filter_def is not None
        assert back.filter_def == job.filter_def
        assert pickle.loads(base64.b64decode(back.filter_def)) == fdef  # noqa: S301


def test_a_job_without_the_definition_still_decodes() -> None:
    spec = MatcherSpec("sshd", None, None)
    job = FileJob("files:/x", ["/x"], 60.0, None, spec)
    assert FileJob.decode(job.encode()).filter_def is None


def test_the_file_reader_child_imports_no_yaml() -> None:
    code = (
        "import sys, journalban.agent.fileworker; "
        "print(sorted(m for m in sys.modules if m == 'yaml' or m.startswith('yaml.')"
        " or m == 'importlib.resources'))"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
