"""The ``metrics:`` section: the Prometheus/OpenMetrics exposition (off by default).

The HTTP endpoint needs no setting: the agent serves it when systemd hands it
the socket of ``journalban-metrics.socket`` (a file descriptor named
``metrics``). ``textfile`` writes the same metrics for node_exporter's
textfile collector instead, every ``textfile_interval``.
"""

from __future__ import annotations

from dataclasses import dataclass

from journalban.config.values import Reader, duration_value, opt_text

METRICS_KEYS = {"textfile", "textfile_interval"}


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    textfile: str | None = None  # e.g. /var/lib/prometheus/node-exporter/journalban.prom
    textfile_interval: float = 15.0


def parse_metrics(top: Reader) -> MetricsConfig:
    """The ``metrics:`` section of the top-level reader (defaults when absent)."""
    if top.data.get("metrics") is None:
        return MetricsConfig()
    r = top.section("metrics", METRICS_KEYS)
    textfile = r.get("textfile", None, opt_text)
    if textfile is not None and not (textfile.startswith("/") and textfile.endswith(".prom")):
        r.report("textfile", "an absolute path ending in .prom (node_exporter reads only those)")
    interval = r.get("textfile_interval", 15.0, duration_value)
    if interval < 1:
        r.report("textfile_interval", "at least 1 second")
    return MetricsConfig(textfile, max(interval, 1.0))
