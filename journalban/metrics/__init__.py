"""Prometheus/OpenMetrics exposition of the agent's counters (the ``metrics`` extra).

An edge package: it reads the counters the agent keeps (``AgentControl``) at
each scrape, and tallies the events every controller receives (``AgentListener``);
it keeps nothing inside decisions and the core never imports it. Labels are
jails, sources and reason classes only: never addresses nor user names
(unbounded, and user names are private).

    collector.py  the agent's counters and settings, read at each scrape
    tally.py      ban decisions by reason class, latencies (from the agent's events)
    serve.py      the HTTP endpoint on systemd's socket, the node_exporter textfile
"""
