# systemd-python: only the parts journalban uses.
