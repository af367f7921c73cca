"""What was forecast, reviewed and published, and who may see it.

- records.db: the tables (SQLAlchemy) and the engine; records.migrations: the Alembic migrations;
- records.publication: recording runs and publishing their levels and thresholds;
- records.review: approval, overrides, auto-publication and the audit trail;
- records.accounts: users, API keys, the typed Principal, sessions, CSRF tokens, login limits;
- records.published: the read model every reader renders (which run a reader sees, station and basin levels,
  states, ages, the station forecast view, the CSV export);
- records.outlooks: reading the published spring flood outlooks.

No web framework and no orchestrator here: the service renders these objects, the flows write them.
"""
