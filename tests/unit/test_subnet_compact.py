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
