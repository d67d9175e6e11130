"""The one exception type our validation raises, so callers can tell bad input from bugs."""

from __future__ import annotations


class InputError(ValueError):
    """Input that cannot be used, with a message that says what, where and why.

    Raised at public boundaries (loaders, statistics entry points, the CLI). Callers show the
    message to the user as it is; anything else escaping is a bug.
    """
