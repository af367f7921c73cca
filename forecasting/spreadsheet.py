"""Text for files people open in a spreadsheet: no cell may be read as a formula.

A cell whose text begins with = + - @ (or a tab or carriage return, which some spreadsheets skip before such a
sign) is run as a formula when the CSV is opened in Excel or LibreOffice; names and ids come from data files, so
they may. `safe_cell` puts a single quote before such text (the spreadsheet convention for "this is text"), the
same rule as records.published.csv_text for the API's CSV. Numbers are left alone (-5 is a number, not a
formula). Files that Tasqyn reads back itself (the ingest log, revisions, confirmations) keep their values as they
are: they are data, not exports.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """`value` with a leading ' when it is text that a spreadsheet would run as a formula; anything else as is."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` with safe_cell applied to its text columns (numeric columns untouched)."""
    out = frame.copy()
    for col in out.columns:
        if not pd.api.types.is_numeric_dtype(out[col]) and not pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].map(safe_cell)
    return out
