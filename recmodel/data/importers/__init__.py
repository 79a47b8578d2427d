"""Importers from public and generic formats into the events schema (see ``formats.py``)."""

from recmodel.data.importers.formats import IMPORTERS, ImportOptions, import_events
from recmodel.data.importers.rows import RowReport

__all__ = ["IMPORTERS", "ImportOptions", "RowReport", "import_events"]
