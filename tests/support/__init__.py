"""The suite's fakes and helpers, one concern per module.

- ``commands``: ``connectionpool-webhook ARGS`` as a user runs it (a child process, or this process under
  `make mutation`), and certificates made by our own ``certs`` command.
- ``https``: a client that talks to the server as the apiserver does, over TLS verified for the service's name.
- ``servers``: the server under test, as a child process or run in this process (same uvicorn settings).
- ``reviews``: AdmissionReviews and ConnectionPools to send, the reviews captured from real apiservers, JSON Patch.
- ``metrics``: the server's Prometheus samples, read back.
- ``fake_apiserver``: a stand-in for the kube-apiserver (list and watch of connectionpools, one Secret's GET), for
  ``audit`` and the server's view of the cluster.
- ``chart_render``: the Helm chart rendered and linted by the real Helm engine.
- ``policy_eval``: the exported admission policies evaluated with Google's CEL runtime.
- ``fuzzing`` and ``wording_oracle``: the independent oracle of the rules and the hypothesis strategies.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# What the tests read, kept in the repository (captured reviews, golden files, the oracle's schema).
DATA = ROOT / "tests" / "data"
# The name the test certificates are made for and the client verifies, as the chart's Service is called.
SERVICE_NAME = "connectionpool-webhook.webhooks.svc"
