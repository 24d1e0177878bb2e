"""`python -m chat_server` is the `firstcontact` command."""

import sys

from chat_server.cli import main

sys.exit(main())
