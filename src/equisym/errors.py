"""User-facing errors.

Every problem a user can cause (a bad config key, a missing file, NaN coordinates, an
unknown group symbol...) raises :class:`EquisymError` with a message that names the
problem and, where possible, the fix. The CLI prints that message on one line and writes
the traceback to ``error.log``; anything else is treated as a bug.
"""


class EquisymError(ValueError):
    """An error caused by the user's input, with a message meant to be read by them."""
