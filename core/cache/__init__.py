"""Each machine's local, content-addressed cache of a shared library's model files (issue 18).

``MODEL_LIBRARY_CACHE`` names a folder on a fast local disk, ``MODEL_LIBRARY_CACHE_BUDGET`` its size
(``budget.py``). ``store.py`` fills it from the share, verified by hash, and evicts the least recently used
files that no running process holds open.
"""
