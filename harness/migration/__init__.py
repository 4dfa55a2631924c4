"""Schema migration: seed with the old version, snapshot, upgrade, verify, drill the rollback."""
