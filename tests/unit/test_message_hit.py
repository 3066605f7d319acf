"""LineMatcher.message_hit (the journal reader's one message at a time, while it stands on
the entry) finds what ``hits`` finds in a batch of the same bare messages, in the same order,
on every packaged filter and mode, with and without success regexes."""

from __future__ import annotations

import pytest

from journalban.events import Hit, LineBatch
from journalban.matching.engine import CompiledFilter, LineMatcher
from journalban.matching.library import FilterLibrary
from support.bare_messages import bare_messages
from support.filter_modes import every_filter_mode

MESSAGES = list(bare_messages())


@pytest.mark.parametrize(("name", "mode"), every_filter_mode())
def test_one_message_at_a_time_finds_what_the_batch_finds(name: str, mode: str) -> None:
    fdef = FilterLibrary(None).load(name)
    for successes in (False, True):
        matcher = LineMatcher(CompiledFilter(fdef, mode, successes=successes), lambda: 0.0)
        times = [1_790_000_000.0 + i for i in range(len(MESSAGES))]
        batch = LineBatch("", MESSAGES, "", times, prefixed=False, read=len(MESSAGES))
        expected = matcher.hits(batch)
        try:
            match, hit_of = matcher.message_hit()
        except LookupError:
            assert (
                matcher.filter.trusted
                or not matcher.filter.literals
                or (matcher.filter._whole is None)
            )
            continue
        found: list[Hit] = []
        for message, when in zip(MESSAGES, times, strict=True):
            m = match(message)
            if m is not None and (hit := hit_of(m, message, when)) is not None:
                found.append(hit)
        assert found == expected, (name, mode, successes)


@pytest.mark.parametrize(("name", "mode"), every_filter_mode())
def test_a_hit_made_from_its_plan_is_the_hit_of_the_match(name: str, mode: str) -> None:
    """``hit_plans``: where a branch has a plan, the hit a reader makes from it is
    ``hit_of``'s, for every message either finds (ignoreregexes and successes included)."""
    fdef = FilterLibrary(None).load(name)
    for successes in (False, True):
        matcher = LineMatcher(CompiledFilter(fdef, mode, successes=successes), lambda: 0.0)
        try:
            match, hit_of = matcher.message_hit()
        except LookupError:
            continue
        plans = matcher.hit_plans()
        assert set(plans) == set(matcher.filter.branches)
        planned = 0
        for message in MESSAGES:
            m = match(message)
            if m is None or (plan := plans[m.lastgroup]) is None:  # type: ignore[index]
                continue
            host_group, user_group, mark = plan
            # As journalrouted reads them: by subscript, ``m.group(name)`` without the call.
            host = m[host_group]
            user = m[user_group] if user_group is not None else None
            made = (message, host, 1.5, user, mark) if host else None
            assert made == hit_of(m, message, 1.5), (name, mode, message)
            planned += 1
        if matcher.filter.ignore:
            assert all(p is None for n, p in plans.items() if not matcher.filter.branches[n].mark)
        assert planned or name != "sshd", mode  # sshd's sample messages have planned hits
