"""The kernel side: backends that put bans into the firewall and take them out."""
