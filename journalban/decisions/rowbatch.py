"""The detectors' state rows once per commit, not once per batch.

A detector reports each key it changed as a row, its value encoded whole (an
address's buckets, a prefix's or an account's networks). While a backlog is
read the agent decides up to ``COMMIT_BATCHES`` batches (each in slices of
``DECIDE_SLICE`` failures) and commits them in one transaction: the same
accounts, prefixes and addresses change in each, and a row per batch encoded
and wrote each of them several times, only the last one mattering (about a
tenth of the agent's time on a flood). Once the agent hands its batches'
changes here, its jails' detectors keep their changes until the commit, which
gets one row per changed key, in the same transaction as every position it
covers: a crash loses or doubles nothing, and the table ends as before.
"""

from __future__ import annotations

from journalban.decisions.engine import Changes, DecisionEngine


def collect_detector_rows(engine: DecisionEngine, changes: Changes) -> None:
    """Add the rows the jails' detectors changed to ``changes`` (to a commit of their jail),
    and from now on leave them to this call: the caller calls it before each commit."""
    last = {commit.jail: commit for commit in changes.commits}
    for name, rt in engine.jails.items():
        detection = rt.detection
        if detection is None:
            continue
        commit = last.get(name)
        if detection.deferred and commit is not None:
            detection.add_rows(commit.detector_rows, commit.detector_changes)
        # A jail without a batch here kept its rows: the next batch's commit takes them.
        detection.deferred = True
