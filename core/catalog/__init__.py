"""The catalog: SQLite (db, migrations), models (repository), full-text search (search), metadata.json
sidecars and rebuild (sidecar). Import the submodule you need: this package imports nothing eagerly."""
