"""A file jail's reader child gets the agent's FilterDef, not the filter's name to load.

The child then builds the same matcher without reading YAML or importing PyYAML
(docs/benchmarks.md, "Memory"): every filter must survive the trip unchanged.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import pickle
import re
import subprocess
import sys

import pytest

from journalban.agent.filereader import FileJob
from journalban.agent.journalreader import finder
from journalban.matching.library import FilterLibrary
from journalban.matching.literals import parsed_pattern
from journalban.matching.spec import MatcherSpec, pickle_filter, unpickle_filter
from support.imports import modules_after


def test_every_packaged_filter_reaches_the_child_unchanged() -> None:
    library = FilterLibrary(None)
    names = library.names()
    assert len(names) > 50
    for name in names:
        fdef = library.load(name)
        spec = MatcherSpec(name, None, None)
        job = FileJob("files:/x", ["/x"], 60.0, None, spec, (), pickle_filter(fdef))
        back = FileJob.decode(job.encode())
        assert back.filter_def is not None
        assert back.filter_def == job.filter_def
        assert unpickle_filter(back.filter_def) == fdef


def test_a_job_without_the_definition_still_decodes() -> None:
    spec = MatcherSpec("sshd", None, None)
    job = FileJob("files:/x", ["/x"], 60.0, None, spec)
    assert FileJob.decode(job.encode()).filter_def is None


def test_the_file_reader_child_imports_neither_yaml_nor_asyncio() -> None:
    loaded = modules_after("import journalban.agent.filereader")
    unwanted = {m for m in loaded if m.split(".")[0] in ("yaml", "asyncio", "ssl")}
    assert unwanted | ({"importlib.resources"} & loaded) == set()


def test_the_file_reader_child_leaves_out_what_it_does_not_use() -> None:
    # Each of these cost 0.5-2 MB in every reader child (issue 19): ctypes.util's
    # find_library (shutil, subprocess, tempfile, bz2, lzma), logging, hashlib's
    # OpenSSL, calendar (locale, datetime) and socket.py.
    heavy = ("logging", "ctypes.util", "subprocess", "tempfile", "shutil", "hashlib",
             "calendar", "socket", "datetime")  # fmt: skip
    assert set(heavy) & modules_after("import journalban.agent.filereader") == set()


def test_something_else_pickled_is_refused() -> None:
    with pytest.raises(TypeError):
        unpickle_filter(base64.b64encode(pickle.dumps({"filter": "sshd"})).decode())


JOURNAL_CHILD = """
import json, sys, time
from journalban.agent.journalfinder import JailFinder
finder = JailFinder(json.loads(sys.stdin.read()))
found = finder(["Failed password for root from 203.0.113.7 port 22 ssh2"], [time.time()], [None])
print(json.dumps({"hosts": [hit[1] for hit in found[0]], "yaml": sorted(m for m in sys.modules if "yaml" in m)}))
"""


def test_a_journal_reader_built_from_the_definition_finds_failures_without_yaml() -> None:
    spec = MatcherSpec("sshd", None, None).to_json()
    spec["filter_def"] = pickle_filter(FilterLibrary(None).load("sshd"))
    out = subprocess.run(
        [sys.executable, "-I", "-c", JOURNAL_CHILD], input=json.dumps(spec),
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    result = json.loads(out)
    assert result["hosts"] == ["203.0.113.7"]
    assert result["yaml"] == ["journalban.config.yamlsource"]  # the module, not PyYAML


def _patterns(value: object) -> list[re.Pattern[str]]:
    if isinstance(value, re.Pattern):
        return [value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = [getattr(value, f.name) for f in dataclasses.fields(value)]
    if isinstance(value, dict):
        value = [*value.keys(), *value.values()]
    if isinstance(value, list | tuple | set | frozenset):
        return [p for item in value for p in _patterns(item)]
    return []


def test_the_regexes_compiled_from_the_shared_parse_are_re_compiles_own() -> None:
    # Issue 19: the child compiles the filter's regexes from the parses its analyses
    # share (literals.parsed_pattern); the result must be what re.compile makes.
    library = FilterLibrary(None)
    compared = 0
    for name in library.names():
        fdef = library.load(name)
        theirs = _patterns(unpickle_filter(pickle_filter(fdef)))
        ours = _patterns(fdef)
        assert len(theirs) == len(ours)
        for mine, sent in zip(ours, theirs, strict=True):
            assert sent == mine  # the same pattern, flags and compiled code
            assert (sent.groups, sent.groupindex) == (mine.groups, mine.groupindex)
            assert sent is not mine
            compared += 1
    assert compared > 100


def test_the_journal_child_drops_the_shared_parses_once_its_finder_is_built() -> None:
    # The parse trees serve only the build (0.3-0.5 MB of the child's heap on sshd).
    spec = MatcherSpec("sshd", None, None).to_json()
    spec["filter_def"] = pickle_filter(FilterLibrary(None).load("sshd"))
    built = finder(spec)
    assert parsed_pattern.cache_info().currsize == 0
    found = built(["Failed password for root from 203.0.113.9 port 22 ssh2"], [1.0e9], [None])
    assert [hit[1] for hit in found[0]] == ["203.0.113.9"]


def test_an_unpickled_filter_falls_back_to_re_compile_when_sre_differs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a Python whose sre internals differ (their signature), the child still compiles
    every regex, by re.compile itself, rather than failing to start."""
    from journalban.matching import spec

    def differs(*_args: object) -> object:
        raise TypeError("compile() takes exactly 5 arguments (6 given)")

    fdef = FilterLibrary(None).load("sshd")
    parsed_pattern.cache_clear()
    monkeypatch.setattr(spec, "compile_parsed", differs)
    again = _patterns(unpickle_filter(pickle_filter(fdef)))
    assert again == _patterns(fdef)
    assert again
