"""``connectionpool-webhook policy``: the rules as CEL admission policies. :mod:`.cel` compiles the declarations to
CEL, :mod:`.objects` makes the policies and bindings of them, :mod:`.chart` writes the chart's template from those.
"""
