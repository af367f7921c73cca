"""Prefect flows and the `tasqyn` command line. Flows call the `forecasting` library and own the side effects."""

import os

# No telemetry, no network: set before Prefect is imported anywhere.
for _k, _v in {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY": "false",
    "PREFECT_UI_ENABLED": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    # The temporary local API of a run without a server can be slow to start on a loaded 2-core machine.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
}.items():
    os.environ.setdefault(_k, _v)
