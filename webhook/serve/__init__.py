"""The server: the AdmissionReview protocol, the webhooks, HTTP and TLS, workers, logs and metrics.

It stands on the rules (``webhook.rules``) and never on the offline tools; ``connectionpool-webhook serve`` runs it.
"""
