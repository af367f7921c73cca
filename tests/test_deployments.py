"""prefect.yaml: every deployment points at a Prefect flow and runs on a valid Asia/Almaty schedule."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml
from prefect import Flow

ROOT = Path(__file__).resolve().parents[1]


def _load_entrypoint(entrypoint: str):
    file, name = entrypoint.split(":")
    module = file.removesuffix(".py").replace("/", ".")
    return getattr(importlib.import_module(module), name)


def test_prefect_yaml_deployments_are_flows_on_local_schedules():
    from cronsim import CronSim

    doc = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    names = {d["name"] for d in doc["deployments"]}
    assert {"daily-forecast", "weekly-retrain", "ingest", "spring-outlook"} <= names
    for dep in doc["deployments"]:
        assert importlib.util.find_spec(dep["entrypoint"].split(":")[0].removesuffix(".py").replace("/", "."))
        obj = _load_entrypoint(dep["entrypoint"])
        assert isinstance(obj, Flow), f"{dep['name']}: {dep['entrypoint']} is not a Prefect flow"
        assert dep["work_pool"]["name"] == "tasqyn"
        for sched in dep["schedules"]:
            assert sched["timezone"] == "Asia/Almaty"
            CronSim(sched["cron"], __import__("datetime").datetime(2026, 1, 1))  # raises on a bad expression
    daily = next(d for d in doc["deployments"] if d["name"] == "daily-forecast")
    assert daily["schedules"][0]["cron"] == "0 9 * * *"


@pytest.mark.parametrize("name", ["daily-forecast", "weekly-retrain", "ingest", "spring-outlook"])
def test_flow_parameters_accept_the_deployment_parameters(name):
    doc = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    dep = next(d for d in doc["deployments"] if d["name"] == name)
    fl = _load_entrypoint(dep["entrypoint"])
    accepted = set(fl.parameters.properties)
    assert set(dep.get("parameters") or {}) <= accepted
