"""Moving a fail2ban host over: read its configuration, write journalban's.

``inifile`` reads fail2ban's INI files the way fail2ban does (includes, .local
overrides, ``%(name)s`` and ``<tag>`` substitution); ``regexconv`` and
``filterconv`` turn a fail2ban filter into a journalban filter or a reason why
not; ``jailconv`` and ``actionconv`` map jails and actions; ``bans`` reads
fail2ban's SQLite database; ``layout`` writes the result; ``report`` says what
became of everything.
"""
