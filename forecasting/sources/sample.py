"""The embedded sample: the Fulda river (Germany), 1979-1988, as shipped by the SPOTPY package on PyPI.

SPOTPY (MIT licence) ships `spotpy/examples/cmf_data/fulda_climate.csv`: daily discharge (m3/s), precipitation
(mm/day) and min/mean/max air temperature (degC) of the Fulda catchment, the data of its CMF tutorial. We read it
from the installed package, convert it to the station-CSV layout and parse it through the station-CSV path, so a
fresh machine has real data to run the demo on without any download.
"""

from __future__ import annotations

import csv
import io
from importlib import resources
from pathlib import Path

import pandas as pd

from forecasting.canonical import AdapterResult
from forecasting.sources import register
from forecasting.sources.station_csv import parse_station_table
from forecasting.sources.text import read_text

STATION_ID = "FULDA"
BASIN_ID = "FULDA"
# The gauge location is approximate (Fulda catchment above Grebenau, Hesse); SPOTPY gives no coordinates.
METADATA = {
    "name": "Fulda (SPOTPY sample)",
    "river": "Fulda",
    "country": "DE",
    "basin": BASIN_ID,
    "lat": 50.74,
    "lon": 9.46,
}
COLUMN_MAP = {
    "date": "date",
    "Q": "discharge_m3s",
    "Prec": "precip_mm",
    "tmin": "tmin_c",
    "tmax": "tmax_c",
    "tmean": "tmean_c",
}


def sample_path() -> Path:
    """Path of the Fulda file inside the installed SPOTPY package."""
    return Path(str(resources.files("spotpy") / "examples" / "cmf_data" / "fulda_climate.csv"))


def sample_table() -> tuple[list[str], list[list[str]], str]:
    """The Fulda file converted to station-CSV columns: (header, rows with ISO dates, source label)."""
    path = sample_path()
    text, _ = read_text(path)
    rows = list(csv.reader(io.StringIO(text)))
    header = [COLUMN_MAP[h.strip()] for h in rows[0]]
    data = [r for r in rows[1:] if r and not r[0].startswith("#")]  # line 2 holds the units
    date_i = header.index("date")
    for r in data:
        d, m, y = r[date_i].split(".")
        r[date_i] = f"{y}-{m}-{d}"
    return header, data, str(path)


def export_station_csv(folder: Path) -> Path:
    """Write the sample as a station-CSV folder (stations.csv + FULDA.csv); returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    header, rows, _ = sample_table()
    with open(folder / f"{STATION_ID}.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    pd.DataFrame([{"station_id": STATION_ID, **METADATA, "area_km2": ""}]).to_csv(folder / "stations.csv", index=False)
    return folder


@register
class Sample:
    name = "sample"
    description = "the embedded Fulda sample shipped by SPOTPY (no path needed)"

    def detect(self, path: Path) -> bool:
        return str(path) == "sample"

    def read(self, path: Path | None = None) -> AdapterResult:
        header, rows, source = sample_table()
        # rows start on line 3 of the original file (line 2 is the units line)
        result = parse_station_table(header, rows, STATION_ID, source, first_line=3)
        result.stations = pd.DataFrame([METADATA], index=pd.Index([STATION_ID], name="station_id"))
        return result
