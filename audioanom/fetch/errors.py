"""The one error type of :mod:`audioanom.fetch`, shared by downloading, extraction and the
per-data-set steps."""


class FetchError(RuntimeError):
    """A download or extraction that cannot be completed; the message says what and where."""
