"""RecentLines: a network's one line kept as the str, two or more as a list, same answers."""

from __future__ import annotations

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
