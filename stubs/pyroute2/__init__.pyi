# Only what journalban uses; add modules beside this file.
