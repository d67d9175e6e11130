"""``python -m iaf`` entry point."""

import sys

from iaf.cli import main

if __name__ == "__main__":
    sys.exit(main())
