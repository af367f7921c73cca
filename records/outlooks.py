"""Reading the published spring flood outlooks (`<home>/outlooks/<issue_date>.json`, written by flows.outlook)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any


def outlook_files(root: Path) -> list[Path]:
    """Outlook files of a home root, newest issue date first."""
    folder = Path(root) / "outlooks"
    if not folder.is_dir():
        return []
    files = []
    for p in folder.glob("*.json"):
        try:
            dt.date.fromisoformat(p.stem)
        except ValueError:
            continue
        files.append(p)
    return sorted(files, key=lambda p: p.stem, reverse=True)


def latest_outlook(root: Path, basin_id: str, issue_date: dt.date | None = None) -> dict[str, Any] | None:
    """The newest outlook of `basin_id` (on or before `issue_date` if given), or None.

    Without a date, the newest outlook that has a result is preferred (after the flood season the newest file only
    says that the season is over); it falls back to the newest one of any status.
    """
    newest_any = None
    for path in outlook_files(root):
        if issue_date is not None and path.stem > issue_date.isoformat():
            continue
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        basin = (doc.get("basins") or {}).get(basin_id)
        if basin is None:
            continue
        found = {**basin, "issue_date": doc.get("issue_date", path.stem), "created_at": doc.get("created_at")}
        if issue_date is not None or basin.get("status") == "ok":
            return found
        newest_any = newest_any or found
    return newest_any
