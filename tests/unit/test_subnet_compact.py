"""The subnet detector keeps a prefix of one network as a pair, and decides and
writes exactly as when every prefix kept a dict (a model of the earlier form)."""

from __future__ import annotations

import json
import random

from journalban.config.detectors import SubnetConfig
from journalban.jails.detector import SUBNET, Seen, Verdict
from journalban.jails.subnet import SubnetCrowd


class DictModel:
    """Every prefix's networks in a dict, forgotten as the detector forgets them."""

    def __init__(self, config: SubnetConfig) -> None:
        self.config = config
        self.prefixes: dict[str, dict[str, float]] = {}
        self.dirty: set[str] = set()

    def observe(self, prefix: str, seen: Seen) -> list[Verdict]:
        cfg = self.config
        networks = self.prefixes.setdefault(prefix, {})
        last = networks.get(seen.key)
        networks[seen.key] = seen.when if last is None or seen.when > last else last
        self.dirty.add(prefix)
        if len(networks) >= cfg.addresses:
            for old in [k for k, t in networks.items() if t <= seen.when - cfg.findtime]:
                del networks[old]
        if len(networks) < cfg.addresses:
            return []
        del self.prefixes[prefix]
        return [Verdict(SUBNET, prefix, len(networks), cfg.bantime, None, tuple(networks))]

    def changes(self) -> dict[str, dict[str, float] | None]:
        rows = {p: self.prefixes.get(p) for p in self.dirty}
        self.dirty.clear()
        return rows


def test_pairs_and_dicts_decide_and_write_as_dicts_did() -> None:
    rng = random.Random(19)
    config = SubnetConfig(prefix4=24, addresses=3, findtime=600.0)
    crowd = SubnetCrowd(config, 100_000)
    model = DictModel(config)
    when = 1_700_000_000.0
    pairs = 0
    for step in range(5_000):
        when += rng.choice((0.0, 1.0, 30.0, 400.0))
        net = f"198.51.{rng.randrange(40)}.{rng.randrange(6)}/32"
        seen = Seen(net, None, when - rng.choice((0.0, 0.0, 900.0)))
        assert list(crowd.observe(seen)) == model.observe(crowd.prefix_of(net), seen), step
        if step % 7 == 0:
            written = {key: None if text is None else json.loads(text)
                       for key, text in crowd.changes()}  # fmt: skip
            assert written == model.changes()
        pairs += sum(isinstance(v, tuple) for _, v in crowd.prefixes.items())
    assert pairs > 1_000  # the pair form was taken, and checked by the steps above
    kept = dict(crowd.prefixes.items())
    assert {p: dict([v]) if isinstance(v, tuple) else v for p, v in kept.items()} == model.prefixes


def test_a_steps_failures_handed_at_once_decide_as_one_by_one() -> None:
    """``observe_all`` (a step's failures in one call: ``JailDetection.crowd_verdicts``)
    decides, keeps and writes as the dict model failure by failure, and as a twin handed
    each failure alone, each verdict with its failure's time; with a cap small enough that
    the map fills within a step (it is then an OrderedDict, its ``take`` another method:
    read for each failure, not once for the step), known-good failures skipped."""
    rng = random.Random(23)
    config = SubnetConfig(prefix4=24, prefix6=48, addresses=3, findtime=600.0)
    for cap in (100_000, 12):
        crowd, twin = SubnetCrowd(config, cap * 3), SubnetCrowd(config, cap * 3)
        model = DictModel(config) if cap == 100_000 else None
        when = 1_700_000_000.0
        verdicts = 0
        for step in range(400):
            failures: list[tuple[str, str | None, float, bool]] = []
            for _ in range(300 if step % 100 == 0 else rng.randrange(1, 30)):
                when += rng.choice((0.0, 1.0, 30.0, 400.0))
                if rng.random() < 0.2:
                    net = f"2001:db8:{rng.randrange(8):x}:{rng.randrange(4):x}::/64"
                else:
                    net = f"198.51.{rng.randrange(40)}.{rng.randrange(6)}/32"
                failures.append(
                    (net, None, when - rng.choice((0.0, 0.0, 900.0)), rng.random() < 0.05)
                )
            found = crowd.observe_all(failures)
            alone = [(f[2], v) for f in failures if (v := twin.observe(f))]
            assert [(t, list(v)) for t, v in found] == [(t, list(v)) for t, v in alone], step
            verdicts += len(found)
            if model is not None:
                expected = [
                    (f[2], model.observe(crowd.prefix_of(f[0]), Seen(*f)))
                    for f in failures
                    if not f[3]
                ]
                assert [(t, list(v)) for t, v in found] == [(t, v) for t, v in expected if v]
            assert list(crowd.prefixes.items()) == list(twin.prefixes.items())  # (the use order)
            assert crowd.prefixes.evicted == twin.prefixes.evicted
            assert crowd.changes() == twin.changes()
        assert verdicts > 20
        if cap == 12:
            assert crowd.prefixes.evicted > 100
