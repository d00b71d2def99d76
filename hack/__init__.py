"""Developer scripts, kept out of the package as Kubernetes projects keep theirs (``hack/``).

A package only so that ``hack.mutation`` can be loaded as a pytest plugin (``-p hack.mutation``).
"""
