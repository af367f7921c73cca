"""The model registry: trained basin models saved under `<models_dir>/<basin>/<version>/`.

Each version folder holds `model.json` (name, version, basin, stations, training period, features,
hyper-parameters, validation skill, calibration with each station's spread in a pooled model
(`calibration_spread`, absent in older models: 1), the per-station constants and the baselines used as fallback)
and one LightGBM booster per lead (`lead_<k>.txt`, LightGBM text format). `<models_dir>/<basin>/CURRENT` names
the version in use; loading by version keeps old forecasts reproducible. Writes are atomic (temporary folder,
then rename). The global model (all stations pooled, `GLOBAL_MODEL`) is saved like a basin under that name; the
daily forecast averages it with each basin's model, with the weights and spread fitted for the pair on their shared
held-out years (`fit_pairing`, kept in `<basin>/<version>/ensemble/<global version>.json`: a basin version can be
paired with several global versions; model.json and the boosters are never rewritten).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import lightgbm as lgb
import pandas as pd

from forecasting import level_target
from forecasting.config import DEFAULTS
from forecasting.ids import check_id, is_valid_id, safe_join
from forecasting.locks import MODELS, home_lock
from forecasting.models.baselines import Climatology, Persistence
from forecasting.models.ensemble import EnsembleFit, fit_ensemble
from forecasting.models.lgbm import LGBMForecaster, LGBMParams
from forecasting.storage import atomic_target, json_safe

LOG = logging.getLogger(__name__)
MIN_TRAIN_DAYS = 730  # a station needs 2 years of discharge to be trained; else it falls back to climatology
GLOBAL_MODEL = "_global"  # registry name of the model trained on all stations (not a basin of the store)


@dataclass
class BasinModel:
    """Everything needed to forecast the stations of one basin."""

    basin: str
    version: str
    stations: list[str]
    model: LGBMForecaster | None  # None when no station of the basin could be trained
    climatology: Climatology
    persistence: Persistence
    fallback: dict[str, str] = field(default_factory=dict)  # station -> why it is not forecast by the model
    created_at: str = ""
    # level-only posts: station -> reference level (cm); their models forecast the level above it
    level_refs: dict[str, float] = field(default_factory=dict)
    # The same forecaster with weather-forecast (NWP) inputs, trained beside `model` (which has none) when forcing
    # was given; the daily run uses it when a fresh NWP run is at hand, else `model` (forecasting.forecast).
    nwp_model: LGBMForecaster | None = None
    nwp_training: dict = field(default_factory=dict)  # how its forcing was made (archive / error model), for the record
    # How this basin's models combine with a global model version: global version -> {"plain": fit, "nwp": fit}
    # (forecasting.models.ensemble; saved in <version>/ensemble/<global version>.json by `save_pairing`)
    ensembles: dict[str, dict[str, EnsembleFit]] = field(default_factory=dict)

    def model_name(self, station: str) -> str:
        if self.model is not None and station in self.model.stations and station not in self.fallback:
            return self.model.name
        return self.climatology.name if station in self.climatology.tables else self.persistence.name


def new_version() -> str:
    """A version id: the UTC time of training (sortable, unique to the microsecond)."""
    return datetime.now(UTC).strftime("v%Y%m%dT%H%M%S%fZ")


def fit_basin_model(
    basin: str,
    frames: dict[str, pd.DataFrame],
    attrs: dict[str, dict] | None = None,
    leads: list[int] | None = None,
    params: LGBMParams | None = None,
    train_end: pd.Timestamp | dict[str, pd.Timestamp] | None = None,
    nwp_frames: dict[str, pd.DataFrame] | None = None,
    nwp_variables: tuple[str, ...] = (),
    nwp_training: dict | None = None,
) -> BasinModel:
    """Train a basin: LightGBM on its stations with >= 2 years of discharge, baselines for all of them.

    `train_end`: one last training day, or one per station. With `nwp_frames` (the stations' frames with the
    training forcing of `nwp_variables` as features.nwp_column columns: archived runs, or the observed future
    degraded by an error model, forecasting.forcing.training_forcing), an NWP model is trained beside the plain
    one (`nwp_model`); `nwp_training` describes that forcing (kept in model.json).

    A post with water levels but no discharge is modelled on its level (forecasting.level_target; the reference
    level is kept in `level_refs`).

    Stations with less history are listed in `fallback` with a message (climatology, or persistence when even
    that is impossible). Raises ValueError when no station has any discharge."""
    leads = list(leads or range(1, 8))
    fallback: dict[str, str] = {}
    trainable = {}

    def end_of(sid: str) -> pd.Timestamp | None:
        return train_end.get(sid) if isinstance(train_end, dict) else train_end

    level_refs = {
        sid: level_target.level_reference(df, end_of(sid))
        for sid, df in frames.items()
        if level_target.is_level_only(df)
    }
    frames = {
        sid: level_target.as_modelled(df, level_refs[sid]) if sid in level_refs else df for sid, df in frames.items()
    }
    for sid, df in frames.items():
        q = df["discharge_m3s"].loc[: end_of(sid)] if "discharge_m3s" in df else pd.Series(dtype=float)
        n = int(q.notna().sum())
        if n >= MIN_TRAIN_DAYS:
            trainable[sid] = df
        else:
            alt = "climatology" if Climatology.available(df) else "persistence"
            fallback[sid] = f"only {n} days of discharge (need {MIN_TRAIN_DAYS}): falls back to {alt}"
    if all(("discharge_m3s" not in df or df["discharge_m3s"].notna().sum() == 0) for df in frames.values()):
        raise ValueError(f"basin {basin}: no discharge observations at any of its stations ({', '.join(frames)})")
    model = LGBMForecaster(leads, params).fit(trainable, train_end, attrs) if trainable else None
    nwp_model = None
    if nwp_frames and nwp_variables and trainable:
        nwp_in = {
            sid: level_target.as_modelled(nwp_frames[sid], level_refs[sid]) if sid in level_refs else nwp_frames[sid]
            for sid in trainable
            if sid in nwp_frames
        }
        if nwp_in:
            p_nwp = replace(params or LGBMParams(), nwp=tuple(nwp_variables))
            nwp_model = LGBMForecaster(leads, p_nwp).fit(nwp_in, train_end, attrs)
    clim = Climatology(leads).fit(frames, min((e for e in map(end_of, frames) if e is not None), default=None))
    pers = Persistence(leads).fit(frames, min((e for e in map(end_of, frames) if e is not None), default=None))
    return BasinModel(
        basin=basin,
        version=new_version(),
        stations=list(frames),
        model=model,
        climatology=clim,
        persistence=pers,
        fallback=fallback,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        level_refs=level_refs,
        nwp_model=nwp_model,
        nwp_training=dict(nwp_training or {}) if nwp_model is not None else {},
    )


def fit_pairing(
    bm: BasinModel,
    gm: BasinModel,
    frames: dict[str, pd.DataFrame],
    nwp_frames: dict[str, pd.DataFrame] | None = None,
    default_weight: float = DEFAULTS.global_weight,
) -> dict[str, EnsembleFit]:
    """How the basin model `bm` and the global model `gm` are combined (forecasting.models.ensemble), fitted on
    the stations both forecast (same level reference for a level-only post, in neither's fallback): "plain" for the
    models without weather forecasts, "nwp" for the NWP model sets (fitted on `nwp_frames`, the frames with the
    training forcing) where both have one. `frames`: the stations' observations as the models were trained on."""
    shared = [
        s
        for s in bm.stations
        if s in frames
        and s not in bm.fallback
        and s not in gm.fallback
        and bm.level_refs.get(s) == gm.level_refs.get(s)  # a level-only post: both model the same stand-in
    ]

    def modelled(src: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
        return {
            s: level_target.as_modelled(src[s], bm.level_refs[s]) if s in bm.level_refs else src[s]
            for s in shared
            if s in src
        }

    out: dict[str, EnsembleFit] = {}
    if bm.model is not None and gm.model is not None:
        out["plain"] = fit_ensemble(bm.model, gm.model, modelled(frames), gm.version, default_weight)
    bn, gn = bm.nwp_model, gm.nwp_model
    if bn is not None and gn is not None and nwp_frames and set(gn.params.nwp) <= set(bn.params.nwp):
        out["nwp"] = fit_ensemble(bn, gn, modelled(nwp_frames), gm.version, default_weight)
    return out


def save_pairing(models_dir: Path, bm: BasinModel, global_version: str) -> Path:
    """Write `bm.ensembles[global_version]` to `<basin>/<version>/ensemble/<global version>.json` (atomic, holding
    the home's model-registry lock like `set_current_version`)."""
    folder = safe_join(basin_folder(models_dir, bm.basin), check_id(bm.version, "model version"))
    if not (folder / "model.json").exists():
        raise FileNotFoundError(f"no saved model {bm.basin}/{bm.version} in {models_dir}")
    path = folder / "ensemble" / f"{check_id(global_version, 'model version')}.json"
    with home_lock(Path(models_dir).parent, MODELS), atomic_target(path) as tmp:  # as CURRENT: never mid-backup
        tmp.write_text(_pairing_json(bm.ensembles[global_version]), encoding="utf-8")
    return path


def _pairing_json(fits: dict[str, EnsembleFit]) -> str:
    """The text of an `ensemble/<global version>.json` file (read back by `_read_pairings`)."""
    return json.dumps(json_safe({part: fit.to_dict() for part, fit in fits.items()}), allow_nan=False)


def _read_pairings(folder: Path) -> dict[str, dict[str, EnsembleFit]]:
    """The ensemble fits saved beside a model version (none for older models)."""
    out = {}
    for path in sorted((folder / "ensemble").glob("*.json")) if (folder / "ensemble").is_dir() else []:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            out[path.stem] = {part: EnsembleFit.from_dict(d) for part, d in doc.items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:  # the default weights stand
            LOG.warning(f"{path} cannot be read ({type(exc).__name__}: {exc}): default ensemble weights used")
    return out


def basin_folder(models_dir: Path, basin: str) -> Path:
    """`<models_dir>/<basin>`, the basin id checked (forecasting.ids: InvalidId) and the path kept inside
    `models_dir` (UnsafePath): a basin id from a data file never writes outside the home."""
    return safe_join(models_dir, check_id(basin, "basin"))


def save_model(models_dir: Path, bm: BasinModel, set_current: bool = True) -> Path:
    """Write `bm` to `<models_dir>/<basin>/<version>/` atomically; update CURRENT. Returns the folder."""
    basin_dir = basin_folder(models_dir, bm.basin)
    basin_dir.mkdir(parents=True, exist_ok=True)
    final = safe_join(basin_dir, check_id(bm.version, "model version"))
    if final.exists():
        raise FileExistsError(f"{final} exists: versions are never overwritten")
    tmp = Path(tempfile.mkdtemp(prefix=f".{bm.version}.", dir=basin_dir))
    try:
        meta = bm.model.metadata() if bm.model is not None else {}
        doc = {
            "name": bm.model.name if bm.model is not None else bm.climatology.name,
            "version": bm.version,
            "basin": bm.basin,
            "stations": bm.stations,
            "trained_stations": bm.model.stations if bm.model is not None else [],
            "fallback": bm.fallback,
            "created_at": bm.created_at,
            "training_period": meta.get("train_period"),
            "held_out_start": meta.get("held_out_start", ""),
            "leads": meta.get("leads", bm.climatology.leads),
            "features": meta.get("features", []),
            "hyper_parameters": meta.get("params", {}),
            "validation_skill": meta.get("validation", {}),
            "calibration": meta.get("calibration", {}),
            "calibration_spread": meta.get("spread", {}),
            "calibration_wet": meta.get("wet", {}),
            "blend_with_persistence": meta.get("blend", {}),
            "error_correction": meta.get("error_correction", {}),
            "station_constants": meta.get("contexts", {}),
            "baselines": {"climatology": bm.climatology.to_dict(), "persistence": bm.persistence.to_dict()},
            "level_only_references_cm": bm.level_refs,
        }
        if bm.nwp_model is not None:  # the NWP model set: boosters in nwp/, its metadata under "nwp"
            doc["nwp"] = {"model": bm.nwp_model.metadata(), "training": bm.nwp_training}
            (tmp / "nwp").mkdir()
            for k, booster in bm.nwp_model.boosters.items():
                booster.save_model(str(tmp / "nwp" / f"lead_{k}.txt"))
        (tmp / "model.json").write_text(json.dumps(json_safe(doc), allow_nan=False), encoding="utf-8")
        for gv, fits in bm.ensembles.items():  # pairings fitted before saving (e.g. trained together)
            (tmp / "ensemble").mkdir(exist_ok=True)
            (tmp / "ensemble" / f"{check_id(gv, 'model version')}.json").write_text(_pairing_json(fits), "utf-8")
        if bm.model is not None:
            for k, booster in bm.model.boosters.items():
                booster.save_model(str(tmp / f"lead_{k}.txt"))
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if set_current:
        set_current_version(models_dir, bm.basin, bm.version)
    return final


def set_current_version(models_dir: Path, basin: str, version: str) -> None:
    """Make `version` the CURRENT model of `basin`, holding the home's model-registry lock (forecasting.locks;
    the home is the parent of `models_dir`) so that concurrent trainings never interleave their writes."""
    path = basin_folder(models_dir, basin) / "CURRENT"
    check_id(version, "model version")
    with home_lock(Path(models_dir).parent, MODELS), atomic_target(path) as tmp:
        tmp.write_text(version + "\n", encoding="utf-8")


def current_version(models_dir: Path, basin: str) -> str | None:
    path = basin_folder(models_dir, basin) / "CURRENT"
    return path.read_text(encoding="utf-8").strip() if path.exists() else None


def list_versions(models_dir: Path, basin: str) -> list[str]:
    d = basin_folder(models_dir, basin)
    return sorted(p.name for p in d.iterdir() if p.is_dir() and not p.name.startswith(".")) if d.exists() else []


def list_basins(models_dir: Path) -> list[str]:
    d = Path(models_dir)
    if not d.exists():
        return []
    return sorted(p.name for p in d.iterdir() if p.is_dir() and is_valid_id(p.name) and (p / "CURRENT").exists())


def read_booster(path: Path) -> lgb.Booster:
    """One booster from its LightGBM text file; ValueError naming the file (and what to do) when it cannot be read."""
    try:
        return lgb.Booster(model_file=str(path))
    except (lgb.basic.LightGBMError, OSError) as exc:
        raise ValueError(
            f"the model file {path} cannot be read (LightGBM: {exc}); retrain the basin or make an earlier version "
            "CURRENT"
        ) from exc


def load_model(models_dir: Path, basin: str, version: str | None = None) -> BasinModel:
    """Load a basin model by version (default: CURRENT). ValueError naming the file when a booster cannot be read
    (the daily forecast then falls back for that basin's stations only, flows.parallel)."""
    version = version or current_version(models_dir, basin)
    if version is None:
        raise FileNotFoundError(f"no model for basin {basin} in {models_dir} (no CURRENT file)")
    folder = safe_join(basin_folder(models_dir, basin), check_id(version, "model version"))
    doc = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    model = None
    if doc.get("trained_stations"):
        boosters = {int(k): read_booster(folder / f"lead_{k}.txt") for k in doc["leads"]}
        meta = {
            "leads": doc["leads"],
            "params": doc["hyper_parameters"],
            "contexts": doc["station_constants"],
            "blend": doc["blend_with_persistence"],
            "error_correction": doc.get("error_correction", {}),
            "calibration": doc["calibration"],
            "spread": doc.get("calibration_spread", {}),
            "wet": doc.get("calibration_wet", {}),
            "features": doc["features"],
            "validation": doc["validation_skill"],
            "train_period": doc["training_period"],
            "held_out_start": doc.get("held_out_start", ""),
        }
        model = LGBMForecaster.from_metadata(_restore_nan(meta), boosters)
    nwp_model = None
    if doc.get("nwp"):
        nmeta = doc["nwp"]["model"]
        nboost = {int(k): read_booster(folder / "nwp" / f"lead_{k}.txt") for k in nmeta["leads"]}
        nwp_model = LGBMForecaster.from_metadata(_restore_nan(nmeta), nboost)
    return BasinModel(
        basin=doc["basin"],
        version=doc["version"],
        stations=doc["stations"],
        model=model,
        climatology=Climatology.from_dict(_restore_nan(doc["baselines"]["climatology"])),
        persistence=Persistence.from_dict(doc["baselines"]["persistence"]),
        fallback=doc.get("fallback", {}),
        created_at=doc.get("created_at", ""),
        level_refs={k: float(v) for k, v in doc.get("level_only_references_cm", {}).items()},
        nwp_model=nwp_model,
        nwp_training=(doc.get("nwp") or {}).get("training", {}),
        ensembles=_read_pairings(folder),
    )


def _restore_nan(o: object) -> object:
    """None -> NaN inside numeric lists; keeps other values."""
    if isinstance(o, dict):
        return {k: (float("nan") if k == "log_area" and v is None else _restore_nan(v)) for k, v in o.items()}
    if isinstance(o, list):
        first = next((v for v in o if v is not None), None)  # the lists of a model.json hold one kind of value
        if isinstance(first, dict | list):
            return [float("nan") if v is None else _restore_nan(v) for v in o]
        return [float("nan") if v is None else v for v in o]  # numbers (most of a model.json) or strings
    return o


def load_all(models_dir: Path) -> dict[str, BasinModel]:
    """The CURRENT model of every basin in `models_dir`."""
    return {b: load_model(models_dir, b) for b in list_basins(models_dir)}
