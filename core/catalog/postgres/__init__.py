"""The catalog on PostgreSQL (issue 18, ``MODEL_LIBRARY_CATALOG=postgresql://...``): the same
``CatalogStore`` contract as the SQLite catalog (core/catalog/store.py), for one library shared by several
machines. Imported only when a PostgreSQL catalog is configured: psycopg is the optional ``postgresql`` extra.
"""
