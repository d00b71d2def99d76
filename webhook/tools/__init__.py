"""The offline tools: ``check`` (manifests), ``audit`` (a cluster's stored objects), ``policy`` (the rules as CEL
admission policies), and the reading and reporting they share.

They stand on the rules (``webhook.rules``) and never on the server.
"""
