"""The canonical variables: names, units and CF attributes shared by every adapter and the store."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Variable:
    """A canonical observed variable (one value per station and local day)."""

    name: str
    units: str  # CF/UDUNITS spelling
    long_name: str
    standard_name: str | None = None
    cell_methods: str | None = None
    valid_min: float | None = None
    valid_max: float | None = None

    def cf_attrs(self) -> dict[str, str | float]:
        attrs: dict[str, str | float] = {"units": self.units, "long_name": self.long_name}
        if self.standard_name:
            attrs["standard_name"] = self.standard_name
        if self.cell_methods:
            attrs["cell_methods"] = self.cell_methods
        if self.valid_min is not None:
            attrs["valid_min"] = self.valid_min
        if self.valid_max is not None:
            attrs["valid_max"] = self.valid_max
        return attrs


VARIABLES: dict[str, Variable] = {
    v.name: v
    for v in [
        Variable(
            "discharge_m3s",
            "m3 s-1",
            "daily mean river discharge",
            "water_volume_transport_in_river_channel",
            "time: mean",
            0.0,
            None,
        ),
        Variable(
            "water_level_cm",
            "cm",
            "water level (stage above gauge zero, or elevation where stated)",
            "water_surface_height_above_reference_datum",
            "time: mean",
        ),
        Variable(
            "precip_mm",
            "mm",
            "daily precipitation amount (basin mean)",
            "lwe_thickness_of_precipitation_amount",
            "time: sum",
            0.0,
            500.0,
        ),
        Variable("tmin_c", "degC", "daily minimum air temperature", "air_temperature", "time: minimum", -60.0, 50.0),
        Variable("tmax_c", "degC", "daily maximum air temperature", "air_temperature", "time: maximum", -60.0, 50.0),
        Variable("tmean_c", "degC", "daily mean air temperature", "air_temperature", "time: mean", -60.0, 50.0),
        Variable(
            "swe_mm",
            "mm",
            "snow water equivalent (basin mean)",
            "lwe_thickness_of_surface_snow_amount",
            "time: point",
            0.0,
            None,
        ),
        Variable("snow_depth_cm", "cm", "snow depth", "surface_snow_thickness", "time: point", 0.0, None),
    ]
}

VARIABLE_NAMES: tuple[str, ...] = tuple(VARIABLES)

# Station metadata carried as coordinates on the `station` dimension.
STATION_TEXT_FIELDS: tuple[str, ...] = ("name", "river", "country", "basin", "region")
STATION_NUMBER_FIELDS: tuple[str, ...] = (
    "lat",
    "lon",
    "area_km2",
    "q_warning_m3s",
    "q_danger_m3s",
    "q_extreme_m3s",
    "level_warning_cm",
    "level_danger_cm",
    "level_extreme_cm",
)
STATION_FIELDS: tuple[str, ...] = STATION_TEXT_FIELDS + STATION_NUMBER_FIELDS


def qc_name(variable: str) -> str:
    """Name of the QC flag variable that sits beside `variable`."""
    return f"{variable}_qc"
