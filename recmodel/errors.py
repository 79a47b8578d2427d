"""Error types of expected failures, importable without any heavy dependency (the CLI catches them)."""


class DataError(ValueError):
    """An events file or table cannot be used; the message names file and problem."""
