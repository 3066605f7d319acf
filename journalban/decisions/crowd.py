"""``subnet``'s verdicts after the engine's loop over a step (decisions.detecting).

A prefix ban never bans a network a failure is counted by (its prefix holds at least two
distinct networks of the jail, so it is shorter than their keys), so no failure of the
step counts otherwise for it coming later; what it reads is its own prefix's bans and
history, the ignore list, and the known-good networks, which only a login changes. The
crowd's verdicts are applied at the step's end, and before a login of the step that adds
a known-good pair: the same bans as when each came with its failure, in another order
within the step's lists (the state holds the same rows).
"""

from __future__ import annotations

from journalban.decisions.banning import BanDeciding
from journalban.decisions.detecting import JailDetection
from journalban.decisions.runtime import Changes, JailRuntime
from journalban.state.store import BatchCommit


class CrowdDeciding(BanDeciding):
    """The engine's steps around the crowd's verdicts (a mixin of ``DecisionEngine``)."""

    def _logged_in(
        self,
        rt: JailRuntime,
        login: tuple[str, str | None, float],
        commit: BatchCommit,
        changes: Changes,
        now: float,
        source: str,
    ) -> None:
        """An accepted login (network key, user, time) that ``JailDetection.succeeded``
        left for after the crowd's verdicts held so far (their narrowing reads the known-good
        networks, which its new pair may change): those, then the login."""
        detection = rt.detection
        if detection is not None:
            self._crowd_verdicts(rt, detection, commit, changes, now, source)
            detection.succeeded(*login)

    def _crowd_then_rows(
        self, rt: JailRuntime, commit: BatchCommit, changes: Changes, now: float, source: str
    ) -> None:
        """The step's crowd verdicts, then its detectors' rows unless left to
        decisions.rowbatch."""
        detection = rt.detection
        if detection is None:
            return
        self._crowd_verdicts(rt, detection, commit, changes, now, source)
        if not detection.deferred:
            detection.add_rows(commit.detector_rows, commit.detector_changes)

    def _crowd_verdicts(
        self,
        rt: JailRuntime,
        detection: JailDetection,
        commit: BatchCommit,
        changes: Changes,
        now: float,
        source: str,
    ) -> None:
        found = detection.crowd_verdicts()
        if not found:
            return
        jail = rt.config.name
        banned, virtual = self.bans.texts_of(jail), self._virtual.of(jail)  # (the loop's own)
        for when, verdicts in found:
            self._apply_verdicts(rt, verdicts, when, source, commit, changes, now, banned, virtual)
