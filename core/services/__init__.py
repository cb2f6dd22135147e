"""The library's services: each a small Protocol (``base.py``) and one implementation, wired in one place
(``compose.py``). ``core.library.Library`` holds them; the glue asks the service it needs
(``library.catalog``, ``.imports``, ``.mapping``, ``.health``, ``.sources``, ``.hub``, ``.adopt``).
No service imports the facade back.
"""
