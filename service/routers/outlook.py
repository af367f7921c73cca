"""`GET /api/v1/basins/{basin_id}/outlook`: the latest spring flood outlook of a basin.

Reads `<home>/outlooks/<issue_date>.json` (written by flows.outlook). The response is the basin's outlook
(volume in million m3 and mm, peak in m3/s, each with value, 80% range, norm and % of norm; the cross-validated
skill; `text`, e.g. "spring flood volume expected at 130% of normal (105-150%), peak 85-120 m3/s"; and
`swe_climatology`: per day the median and 10-90% band of basin SWE on the same day of year, with this season's
SWE), plus `issue_date` and `created_at` of the outlook file. 404 if no outlook covers the basin.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from service.api import HomeDep, PrincipalDep, _check_basin

router = APIRouter(prefix="/api/v1", tags=["api v1"])


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


@router.get(
    "/basins/{basin_id}/outlook",
    summary="latest spring flood outlook of a basin",
    responses={404: {"description": "no outlook for this basin"}},
)
def basin_outlook(
    basin_id: str,
    home: HomeDep,
    principal: PrincipalDep,
    issue_date: Annotated[dt.date | None, Query(description="newest outlook on or before this date")] = None,
) -> dict[str, Any]:
    _check_basin(principal, basin_id)  # a key limited to some basins reads only their outlooks
    out = latest_outlook(home.root, basin_id, issue_date)
    if out is None:
        raise HTTPException(status_code=404, detail=f"no spring flood outlook for basin '{basin_id}'")
    return out
