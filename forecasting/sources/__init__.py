"""Source adapters: a small registry (in the spirit of neuralhydrology's dataset zoo).

Each adapter turns files of one format into an `AdapterResult` (canonical variables and units, provenance kept,
bad rows quarantined). `get_adapter(name)` returns one; `detect_format(path)` guesses the format of a path.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from forecasting.canonical import AdapterResult, QuarantinedRow


class Adapter(Protocol):
    name: str
    description: str

    def detect(self, path: Path) -> bool:
        """True if `path` (a file or a folder) looks like this format."""

    def read(self, path: Path) -> AdapterResult:
        """Read `path` into canonical observations; never raises for bad rows (they are quarantined)."""


_REGISTRY: dict[str, Adapter] = {}
_LOADED = False  # built-in adapters imported (importing one adapter module first must not hide the others)


def register(adapter_cls: Callable[[], Adapter]) -> Callable[[], Adapter]:
    """Class decorator: register an adapter under its `name`."""
    adapter = adapter_cls()
    _REGISTRY[adapter.name] = adapter
    return adapter_cls


def _load_builtin() -> None:
    # Import for their registration side effect.
    from forecasting.sources import (
        sample,  # noqa: F401
        station_csv,  # noqa: F401
    )

    for optional in ("kazhydromet", "yearbook", "snow_survey", "gridded", "nwp_csv", "nwp_grid"):
        try:
            __import__(f"forecasting.sources.{optional}")
        except ModuleNotFoundError as exc:
            if exc.name != f"forecasting.sources.{optional}":
                raise


def available() -> dict[str, Adapter]:
    """All registered adapters by name."""
    global _LOADED
    if not _LOADED:
        _LOADED = True
        _load_builtin()
    return dict(_REGISTRY)


def get_adapter(name: str) -> Adapter:
    adapters = available()
    if name not in adapters:
        raise KeyError(f"unknown format '{name}'; known formats: {', '.join(sorted(adapters))}")
    return adapters[name]


class AmbiguousFormat(ValueError):
    pass


def is_forcing(name: str) -> bool:
    """True for adapters of weather forecasts (nwp-csv, nwp-grid): their output goes to the forcing store."""
    return getattr(get_adapter(name), "kind", "observations") == "forcing"


def detect_format(path: Path) -> str:
    """Name of the one observation adapter that recognises `path`; raises AmbiguousFormat if none or several do
    (forcing adapters are chosen with --format)."""
    hits = [
        name
        for name, a in available().items()
        if name != "sample" and getattr(a, "kind", "observations") == "observations" and a.detect(Path(path))
    ]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise AmbiguousFormat(f"{path}: no known format recognised it; give --format ({', '.join(available())})")
    raise AmbiguousFormat(f"{path}: several formats match ({', '.join(hits)}); give --format")


__all__ = [
    "Adapter",
    "AdapterResult",
    "QuarantinedRow",
    "available",
    "detect_format",
    "get_adapter",
    "is_forcing",
    "register",
]
