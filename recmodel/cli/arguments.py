"""Argument types that validate ranges in the parser (argparse prints one line and exits 2)."""

from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    """An integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def add_served_run(parser: argparse.ArgumentParser) -> None:
    """``--run``, ``--data`` and ``--model``: a finished run's model over a partner's own events file, as every
    serving command (recommend, audience, profile, serve) takes them (``recmodel.model.served_model``)."""
    parser.add_argument("--run", required=True,
                        help="run directory holding model.pt and model.json (or one of its selected/round-R folders)")
    parser.add_argument("--data", required=True, help="the partner's events file (Parquet/CSV, events schema)")
    parser.add_argument("--model", choices=("selected", "last"), default="selected",
                        help="which of the run's models: selected (the round validation chose; default) or last "
                             "(the last round's); a selected/round-R folder given as --run is served as it is")
