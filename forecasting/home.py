"""The home directory layout (`TASQYN_HOME`, default `./var`): one folder holds everything a run needs."""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Home:
    root: Path

    @classmethod
    def from_env(cls, root: str | Path | None = None) -> Home:
        """The home given explicitly, else $TASQYN_HOME, else ./var."""
        return cls(Path(root or os.environ.get("TASQYN_HOME") or "var").resolve())

    @property
    def store_dir(self) -> Path:
        return self.root / "store"

    @property
    def observations(self) -> Path:
        """The canonical observation dataset (NetCDF)."""
        return self.store_dir / "observations.nc"

    @property
    def revisions(self) -> Path:
        """Append-only log of values changed by a later ingest (CSV)."""
        return self.store_dir / "revisions.csv"

    @property
    def confirmations(self) -> Path:
        """Append-only log of held (UNCONFIRMED) values a hydrologist confirmed (CSV; forecasting.confirmations)."""
        return self.store_dir / "confirmations.csv"

    @property
    def ingest_log(self) -> Path:
        """Append-only log of ingests (CSV): when, what, counts."""
        return self.store_dir / "ingest_log.csv"

    @property
    def locks_dir(self) -> Path:
        """Lock files of forecasting.locks (one per guarded resource: store, models, thresholds, forcing)."""
        return self.root / "locks"

    def lock(self, name: str = "store", timeout: float | None = None) -> AbstractContextManager[Path]:
        """The cross-process lock `name` of this home (forecasting.locks.home_lock): hold it around every
        read-merge-write of the resource it guards."""
        from forecasting.locks import home_lock

        return home_lock(self, name, timeout)

    @property
    def quarantine_dir(self) -> Path:
        return self.root / "quarantine"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def forecasts_dir(self) -> Path:
        return self.root / "forecasts"

    @property
    def backtest_dir(self) -> Path:
        return self.root / "backtest"

    @property
    def database(self) -> Path:
        return self.root / "tasqyn.db"

    def child(self, *parts: str) -> Path:
        """`root / parts...`, each part a plain file name and the result inside the home (forecasting.ids.safe_join;
        raises UnsafePath): the way to build a path from an id that came from a data file."""
        from forecasting.ids import safe_join

        return safe_join(self.root, *parts)

    def ensure(self) -> Home:
        for d in (self.store_dir, self.quarantine_dir, self.models_dir, self.forecasts_dir):
            d.mkdir(parents=True, exist_ok=True)
        return self
