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
    ("..to socket", "replied", "written"),  # the agent's writer putting it in the socket
    ("..bus to client", "written", "answered"),  # dbus-daemon, and the client's loop reading it
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


def read_traces(
    path: Path, sender: str
) -> tuple[dict[int, dict[str, float]], list[dict[str, Any]]]:
    """The agent's stage marks of ``sender``'s calls, by serial; and its pauses (gc, stalls)."""
    marks: dict[int, dict[str, float]] = {}
    pauses: list[dict[str, Any]] = []
    if not path.exists():
        return marks, pauses
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if "marks" not in record:
            pauses.append(record)
        elif record["sender"] == sender:
            marks[record["serial"]] = record["marks"]
    return marks, pauses


def pauses_by_phase(
    phases: Mapping[str, Sequence[CallTiming]], pauses: Sequence[Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Per phase (from its first call sent to its last answered): the agent's pauses over 20 ms.

    ``gc``: collections (count, longest, summed, per generation); ``stalls``: the loop
    late to a 10 ms timer (count, longest, summed).
    """
    out: dict[str, dict[str, Any]] = {}
    for phase, timings in phases.items():
        if not timings:
            continue
        begin = min(t.sent for t in timings)
        end = max(t.sent + t.seconds for t in timings)
        inside = [p for p in pauses if begin <= p["at"] <= end]
        gcs = [p for p in inside if "gc" in p]
        commits = sorted(p["commit"] * 1000 for p in inside if "commit" in p)
        stalls = [p["stall"] * 1000 for p in inside if "stall" in p]
        stall_cpu = [p.get("cpu", 0.0) * 1000 for p in inside if "stall" in p]
        out[phase] = {
            "seconds": round(end - begin, 1),
            "gc": len(gcs),
            "gc_max_ms": round(max((p["seconds"] * 1000 for p in gcs), default=0.0), 1),
            "gc_sum_ms": round(sum(p["seconds"] * 1000 for p in gcs), 1),
            "gc_generations": sorted({p["gc"] for p in gcs}),
            "gc_cpu_ms": round(sum(p.get("cpu", 0.0) * 1000 for p in gcs), 1),
            "stalls": len(stalls),
            "stall_max_ms": round(max(stalls, default=0.0), 1),
            "stall_sum_ms": round(sum(stalls), 1),
            # the loop thread's CPU during them: the rest it waited for a core or the GIL
            "stall_cpu_ms": round(sum(stall_cpu), 1),
            # the decisions task's commits (a thread), wall time
            "commits": len(commits),
            "commit_p50_ms": round(percentile(commits, 0.5), 1) if commits else 0.0,
            "commit_p99_ms": round(percentile(commits, 0.99), 1) if commits else 0.0,
        }
    return out


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


def report(
    verdict: Mapping[str, Any], per_stage: Mapping[str, Any], pauses: Mapping[str, Any]
) -> Iterable[str]:
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
    yield "the agent's pauses over 20 ms (collector; event loop late to a 10 ms timer):"
    for phase, p in pauses.items():
        yield (
            f"  {phase:5} {p['seconds']:5.1f}s  gc {p['gc']} (max {p['gc_max_ms']} ms, sum "
            f"{p['gc_sum_ms']} ms, of which CPU {p.get('gc_cpu_ms', 0.0)} ms, generations "
            f"{p['gc_generations']})  stalls {p['stalls']} "
            f"(max {p['stall_max_ms']} ms, sum {p['stall_sum_ms']} ms, of which the loop's CPU "
            f"{p['stall_cpu_ms']} ms)  commits {p['commits']} (p50 {p['commit_p50_ms']} ms, "
            f"p99 {p['commit_p99_ms']} ms)"
        )
