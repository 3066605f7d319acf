"""RecentLines: a network's one line kept as the str, two or more as a list, same answers."""

from __future__ import annotations

import random

from journalban.decisions.recentlines import LINE_CHARS, PER_NETWORK, RecentLines


def test_one_line_then_more_read_back_in_order() -> None:
    recent = RecentLines(max_networks=10)
    recent.add("192.0.2.1/32", "first")
    assert recent.lines_of("192.0.2.1/32") == ["first"]
    assert recent.lines_of("192.0.2.9/32") == []
    recent.add("192.0.2.1/32", "second")
    recent.add("192.0.2.1/32", "third")
    assert recent.lines_of("192.0.2.1/32") == ["first", "second", "third"]
    assert recent.bytes == len("first") + len("second") + len("third")
    assert recent.pop("192.0.2.1/32") == ("first", "second", "third")  # a ban's lines
    assert recent.pop("192.0.2.1/32") == ()
    assert recent.bytes == 0
    assert len(recent) == 0


def test_a_single_line_popped_is_a_tuple_and_its_bytes_go() -> None:
    recent = RecentLines(max_networks=10)
    recent.add("192.0.2.1/32", "héllo")  # non-ASCII: counted at 4 bytes a character
    assert recent.bytes == 4 * len("héllo")
    got = recent.pop("192.0.2.1/32")
    assert got == ("héllo",)
    assert recent.bytes == 0


def test_lines_of_is_a_copy() -> None:
    recent = RecentLines(max_networks=10)
    recent.add("a", "one")
    recent.lines_of("a").append("not kept")
    recent.add("a", "two")
    copy = recent.lines_of("a")
    copy.append("not kept")
    assert recent.lines_of("a") == ["one", "two"]


def test_per_network_cap_and_cut_lines() -> None:
    recent = RecentLines(max_networks=10)
    for n in range(PER_NETWORK + 5):
        recent.add("a", f"line {n}")
    assert recent.lines_of("a") == [f"line {n}" for n in range(5, PER_NETWORK + 5)]
    recent.add("b", "x" * (LINE_CHARS + 100))
    (cut,) = recent.lines_of("b")
    assert len(cut) == LINE_CHARS
    assert cut.endswith(" [...]")
    assert recent.bytes == sum(len(line) for key in ("a", "b") for line in recent.lines_of(key))


def test_eviction_of_single_line_networks_by_count_and_bytes() -> None:
    recent = RecentLines(max_networks=3)
    for n in range(5):
        recent.add(f"n{n}", f"line {n}")
    assert [k for k in ("n0", "n1", "n2", "n3", "n4") if k in recent] == ["n2", "n3", "n4"]
    assert recent.evicted == 2
    assert recent.bytes == 3 * len("line 0")
    by_bytes = RecentLines(max_networks=100, max_bytes=25)
    by_bytes.add("old", "0123456789")  # one line, a str
    by_bytes.add("two", "0123456789")
    by_bytes.add("two", "abc")  # now a list
    by_bytes.add("new", "0123456789")  # 33 bytes: the oldest network goes
    assert "old" not in by_bytes
    assert by_bytes.lines_of("two") == ["0123456789", "abc"]
    assert by_bytes.bytes == 23


def _model_add(model: dict[str, list[str]], key: str, line: str, most: int, budget: int) -> int:
    """A model's add: the line (cut), the network last, its oldest lines past PER_NETWORK
    gone, then the least recently added networks until both caps hold; its evictions."""
    if len(line) > LINE_CHARS:
        line = line[: LINE_CHARS - len(" [...]")] + " [...]"
    lines = model.pop(key, [])
    model[key] = [*lines, line][-PER_NETWORK:]
    evicted = 0
    while len(model) > most or _bytes(model) > budget:
        del model[next(iter(model))]
        evicted += 1
    return evicted


def _bytes(model: dict[str, list[str]]) -> int:
    return sum(len(x) if x.isascii() else 4 * len(x) for lines in model.values() for x in lines)


def test_add_as_a_model_of_capped_networks_and_bytes() -> None:
    # A network kept already may pass the bytes alone (its number is the same): a line of
    # it, long, non-ASCII or past PER_NETWORK, evicts the others as a new network's would.
    rng = random.Random(15)
    for most, budget in ((3, 10**9), (50, 300), (4, 120), (8, 6000)):
        recent, evicted = RecentLines(most, budget), 0
        model: dict[str, list[str]] = {}
        for _ in range(600):
            key = f"n{rng.randrange(10)}"
            size = rng.choice((1, 5, 20, 40, LINE_CHARS + 3))
            line = rng.choice(("x", "é")) * size
            evicted += _model_add(model, key, line, most, budget)
            recent.add(key, line)
            assert [k for k in recent.kept] == list(model)
            assert {k: recent.lines_of(k) for k in model} == model
            assert recent.bytes == _bytes(model)
            assert recent.evicted == evicted
