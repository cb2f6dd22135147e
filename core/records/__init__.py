"""Records on disk of what only the catalog knew (installs, sources, links, hashes of sources' files,
pending lookups): written by each table's owner (``files.py``), read back by ``rebuild`` (``restore.py``)."""
