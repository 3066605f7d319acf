"""The file reader child's frame body, as the agent takes it apart.

The child marshals its matcher's hits as they are, one tuple each, and the agent's
``FileWorkerSource`` hands that list on as the batch's hits: no columns taken apart
in the child and zipped again in the agent.
"""

from __future__ import annotations

import marshal
import sys
from pathlib import Path

from journalban.agent.filereader import FileJob, _body, dated_file_source
from journalban.agent.fileworker import FileWorkerSource
from journalban.clock import SystemClock
from journalban.matching.dates import DateReader
from journalban.matching.spec import MatcherSpec

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))

import corpora


def test_a_frame_body_holds_the_matchers_hits_as_they_are(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_text("".join(line + "\n" for line, _ in corpora.flagged_lines("sshd", 3000)))
    clock = SystemClock()
    spec = MatcherSpec("sshd", None, None)
    matcher, again = spec.build(clock.now), spec.build(clock.now)
    source = dated_file_source([str(log)], clock, 10 * 365 * 86400.0, None, "k")
    worker = FileWorkerSource(FileJob("k", [str(log)], 60.0, None, spec), clock)
    batches = list(source.blocking_batches(lambda _fd, _t: False))
    assert batches
    found = 0
    for batch in batches:
        body = _body(batch, matcher, None, DateReader(clock.now))
        hits = again.hits(batch)
        found += len(hits)
        fields = marshal.loads(body)  # noqa: S302
        position, read, unreadable, truncated, sent, changed, addresses = fields
        assert (position, read, changed, addresses) == (batch.position, batch.count, [], [])
        assert (unreadable, truncated) == (0, 0)
        assert sent == hits
        assert all(type(hit) is tuple for hit in sent)
        taken = worker._batch(body)
        assert taken.hits == hits
        assert (taken.count, taken.position, taken.sessions) == (batch.count, position, [])
    assert found > 100
