"""bench_dbus_agent's verdict: p99 per class of call against issue 16's floors, and per stage.

The floors (issue 16): with 100,000 active bans and while the 1M-line stream
is read, every call answered, p99 of GetStatus, QueryBan, property reads and
a page of 100 bans under 50 ms each, polkit-checked calls (Ban, Unban) under
150 ms.

The stages come from the agent's own timestamps (``JOURNALBAN_CALL_TRACE``,
``journalban/agent/calltrace.py``), matched to the client's calls by
(sender, serial); both sides read ``time.monotonic()``, one clock per machine.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

READ_FLOOR_MS = 50.0
POLKIT_FLOOR_MS = 150.0
CHECKED = ("Ban", "Unban")  # polkit asked every time (never kept)

# (name, from mark, to mark); "sent" and "answered" are the client's own times.
STAGES: tuple[tuple[str, str, str], ...] = (
    ("to agent", "sent", "received"),  # the bus, and the agent's loop reaching the socket
    ("polkit", "received", "authorised"),
    ("caller uid", "authorised", "caller known"),
    ("read", "received", "serving"),  # the agent read it; its task began
    ("wait decisions", "queued", "started"),  # behind the batches being decided
    ("..group decided", "queued", "group decided"),
    ("..group committed", "queued", "group committed"),
    ("decide", "started", "commit"),
    ("commit", "commit", "committed"),
    ("announce", "committed", "handled"),
    ("handle", "authorised", "handled"),  # the whole of it, after polkit
    ("to client", "replied", "answered"),
)


class CallTiming(Protocol):
    label: str
    seconds: float
    error: str
    serial: int
    sent: float


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def call_class(label: str) -> str:
    return label if label in CHECKED else "reads"


def floors(phases: Mapping[str, Sequence[CallTiming]]) -> dict[str, Any]:
    """Per phase: the worst per-method p99 of the reads, Ban's and Unban's p99, met or not."""
    out: dict[str, Any] = {}
    for phase, timings in phases.items():
        if not timings:
            continue
        by_label: dict[str, list[float]] = {}
        for t in timings:
            by_label.setdefault(t.label, []).append(t.seconds * 1000)
        reads = {k: percentile(v, 0.99) for k, v in by_label.items() if call_class(k) == "reads"}
        row: dict[str, Any] = {
            "answered": sum(1 for t in timings if not t.error),
            "calls": len(timings),
            "reads_p99_ms": round(max(reads.values(), default=0.0), 1),
            "worst_read": max(reads, key=reads.__getitem__, default=""),
        }
        row["reads_met"] = row["reads_p99_ms"] < READ_FLOOR_MS
        for name in CHECKED:
            p99 = round(percentile(by_label.get(name, [0.0]), 0.99), 1)
            row[f"{name}_p99_ms"] = p99
            row[f"{name}_met"] = p99 < POLKIT_FLOOR_MS
        row["all_met"] = (
            row["answered"] == row["calls"]
            and row["reads_met"]
            and all(row[f"{n}_met"] for n in CHECKED)
        )
        out[phase] = row
    return out


def read_traces(path: Path, sender: str) -> dict[int, dict[str, float]]:
    """The agent's stage marks of ``sender``'s calls, by serial."""
    marks: dict[int, dict[str, float]] = {}
    if not path.exists():
        return marks
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if record["sender"] == sender:
            marks[record["serial"]] = record["marks"]
    return marks


def stages(
    phases: Mapping[str, Sequence[CallTiming]], traces: Mapping[int, Mapping[str, float]]
) -> dict[str, dict[str, dict[str, list[float]]]]:
    """phase -> class -> stage -> [p50, p99] in ms, over the calls the agent traced."""
    out: dict[str, dict[str, dict[str, list[float]]]] = {}
    for phase, timings in phases.items():
        per_class: dict[str, dict[str, list[float]]] = {}
        for t in timings:
            found = traces.get(t.serial)
            if found is None:
                continue
            marks = {**found, "sent": t.sent, "answered": t.sent + t.seconds}
            spans = per_class.setdefault(call_class(t.label), {})
            for name, begin, end in STAGES:
                if begin in marks and end in marks:
                    spans.setdefault(name, []).append((marks[end] - marks[begin]) * 1000)
        out[phase] = {
            cls: {k: [round(percentile(v, 0.5), 1), round(percentile(v, 0.99), 1)]
                  for k, v in spans.items()}
            for cls, spans in per_class.items()
        }  # fmt: skip
    return out


def report(verdict: Mapping[str, Any], per_stage: Mapping[str, Any]) -> Iterable[str]:
    """Lines for a person: the floors per phase, then where the time went."""
    yield f"floors: reads p99 < {READ_FLOOR_MS:.0f} ms, Ban/Unban p99 < {POLKIT_FLOOR_MS:.0f} ms"
    for phase, row in verdict.items():
        flag = "MET" if row["all_met"] else "NOT MET"
        yield (
            f"  {phase:5} answered {row['answered']}/{row['calls']}  reads p99 "
            f"{row['reads_p99_ms']:7.1f} ms ({row['worst_read']})  Ban p99 {row['Ban_p99_ms']:7.1f}"
            f"  Unban p99 {row['Unban_p99_ms']:7.1f}  -> {flag}"
        )
    yield "stages, p50/p99 ms (agent's marks; 'to agent' includes its loop reaching the socket):"
    for phase, classes in per_stage.items():
        for cls, spans in classes.items():
            parts = "  ".join(f"{k} {v[0]:.1f}/{v[1]:.1f}" for k, v in spans.items())
            yield f"  {phase:5} {cls:6} {parts}"
