"""Readable names of the model's category rows: the file's category name(s) hashed to each row."""

from __future__ import annotations

import pandas as pd

from recmodel.data.interactions import Catalogue


def category_row_names(catalogue: Catalogue, rows: int) -> list[str]:
    """[rows] model category row -> the file's category name(s) hashed to it ("A or B" when several share one)."""
    names = [f"(no category in the data, row {r})" for r in range(rows)]
    table = pd.DataFrame({"row": catalogue.category_rows, "name": catalogue.categories}).drop_duplicates()
    for row, group in table.groupby("row"):
        names[int(row)] = " or ".join(sorted(group["name"].astype(str)))
    return names
