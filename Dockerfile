# Tasqyn in a container: the API, the Prefect server and the worker all run from this one image (see compose.yaml).
# Untested here: no container runtime can build it on the development machine. The tested deployment is the
# systemd one of docs/OPERATIONS.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DO_NOT_TRACK=1 \
    PREFECT_SERVER_ANALYTICS_ENABLED=false \
    PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY=false \
    TASQYN_HOME=/var/lib/tasqyn \
    TASQYN_PROJECT_DIR=/opt/tasqyn/src \
    PREFECT_HOME=/var/lib/tasqyn/prefect \
    PREFECT_LOGGING_SETTINGS_PATH=/opt/tasqyn/src/deploy/prefect-logging.yml

# pg_dump/pg_restore for `tasqyn backup` of a PostgreSQL database; libgomp for LightGBM.
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --home-dir /var/lib/tasqyn --shell /usr/sbin/nologin tasqyn

WORKDIR /opt/tasqyn/src
COPY pyproject.toml README.md LICENSE THIRD_PARTY.md prefect.yaml ./
COPY forecasting ./forecasting
COPY flows ./flows
COPY records ./records
COPY service ./service
COPY deploy ./deploy
RUN pip install . && chown -R tasqyn:tasqyn /var/lib/tasqyn

USER tasqyn
VOLUME ["/var/lib/tasqyn"]
EXPOSE 8000
# Behind a proxy on the compose network: trust its X-Forwarded-* headers (do not publish port 8000 to the internet).
ENV FORWARDED_ALLOW_IPS="*"
CMD ["tasqyn", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
