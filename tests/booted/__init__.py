"""The booted tier: journalban on a Debian 12 container booted with systemd."""
