"""``python -m iaf`` entry point."""

import sys

from iaf.cli import main

sys.exit(main())
