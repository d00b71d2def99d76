"""The rules: what a ConnectionPool may be, declared once, and the pure functions that judge an object by them.

Field errors in Kubernetes' vocabulary, the wording of each Kubernetes version, the schema language and what it
compiles to, the ConnectionPool declaration with its defaulting, what an UPDATE may change, and the enforcement modes.
Nothing here does I/O or knows HTTP, files or clusters: the server (``webhook.serve``) and the offline tools
(``webhook.tools``) both stand on this wing, and the import contract in ``pyproject.toml`` keeps it so.
"""
