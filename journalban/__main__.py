import sys

from journalban.cli.main import main

sys.exit(main())
