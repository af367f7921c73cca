"""`GET /api/v1/basins/{basin_id}/outlook`: the latest spring flood outlook of a basin.

Reads `<home>/outlooks/<issue_date>.json` (written by flows.outlook). The response is the basin's outlook
(volume in million m3 and mm, peak in m3/s, each with value, 80% range, norm and % of norm; the cross-validated
skill; `text`, e.g. "spring flood volume expected at 130% of normal (105-150%), peak 85-120 m3/s"; and
`swe_climatology`: per day the median and 10-90% band of basin SWE on the same day of year, with this season's
SWE), plus `issue_date` and `created_at` of the outlook file. 404 if no outlook covers the basin.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from records.outlooks import latest_outlook
from service.deps import ReaderDep, SettingsDep

router = APIRouter(prefix="/api/v1", tags=["api v1"])


@router.get(
    "/basins/{basin_id}/outlook",
    summary="latest spring flood outlook of a basin",
    responses={404: {"description": "no outlook for this basin"}},
)
def basin_outlook(
    basin_id: str,
    settings: SettingsDep,
    principal: ReaderDep,
    issue_date: Annotated[dt.date | None, Query(description="newest outlook on or before this date")] = None,
) -> dict[str, Any]:
    if not principal.can_read_basin(basin_id):  # a key limited to some basins reads only their outlooks
        raise HTTPException(403, f"this key or user is not allowed to read basin {basin_id!r}")
    out = latest_outlook(settings.home.root, basin_id, issue_date)
    if out is None:
        raise HTTPException(status_code=404, detail=f"no spring flood outlook for basin '{basin_id}'")
    return out
