"""A handler that raises: the answer is still a well-formed review (allowed false, code 500), counted and logged.

No input makes the real handlers fail, so the test registers one more webhook, whose handler raises, on the app
that ``serve``'s own settings build (tests/support/servers.py). Everything around the handler is the real code: the fast
path, the answer, the metrics and the log.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.https import Client
from tests.support.reviews import pool, review
from tests.support.servers import Lines, LiveServer, logged
from webhook.serve import admission
from webhook.serve.handlers import Webhook
from webhook.serve.review import AdmissionFastPath

FAILING = "/validate/failing"
GENERIC = "internal error while reviewing the object; see the webhook's logs"


def explode(request: admission.Request) -> admission.Response:
    raise RuntimeError(f"secret detail of {request.uid}")


def add_failing_webhook(app: AdmissionFastPath) -> None:
    app.webhooks[FAILING] = Webhook("failing", explode)


@pytest.fixture(scope="module")
def live(pki: Path) -> Iterator[tuple[LiveServer, Lines]]:
    with logged(LiveServer(pki, "--log-format", "json", customize=add_failing_webhook)) as live:
        yield live


@pytest.fixture
def client(live: tuple[LiveServer, Lines]) -> Iterator[Client]:
    c = live[0].client()
    yield c
    c.close()


def requests_total(client: Client, **labels: str) -> float:
    text = client.request("GET", "/metrics").body.decode()
    for family in text_string_to_metric_families(text):
        if family.name == "connectionpool_webhook_requests":
            for sample in family.samples:
                if sample.name.endswith("_total") and labels.items() <= sample.labels.items():
                    return float(sample.value)
    return 0.0


@pytest.mark.parametrize("version", ["admission.k8s.io/v1", "admission.k8s.io/v1beta1"])
def test_a_failing_handler_denies_with_code_500_in_a_well_formed_answer(
        live: tuple[LiveServer, Lines], client: Client, version: str) -> None:
    _, log = live
    uid = f"fail-{version[-2:]}-0000-4000-8000-000000000001"
    labels = {"webhook": "failing", "operation": "UPDATE", "result": "error", "code": "200"}
    before = requests_total(client, **labels)

    reply = client.post(FAILING + "?timeout=10s", review(pool(), "UPDATE", api_version=version, uid=uid))

    assert reply.status == 200
    assert reply.json() == {
        "apiVersion": version,
        "kind": "AdmissionReview",
        "response": {
            "uid": uid,
            "allowed": False,
            "status": {"metadata": {}, "status": "Failure", "message": GENERIC, "reason": "InternalError",
                       "code": 500},
        },
    }
    assert b"secret detail" not in reply.body and b"Traceback" not in reply.body
    assert requests_total(client, **labels) == before + 1
    # One error line that names the request and holds the traceback the answer left out.
    [failed] = [line for line in log.lines if line["msg"] == "handler failed" and line.get("uid") == uid]
    assert failed["level"] == "error" and failed["logger"] == "webhook.admission"
    assert failed["webhook"] == "failing"
    assert "RuntimeError: secret detail of " + uid in failed["exc"]


def test_the_request_log_says_error(live: tuple[LiveServer, Lines], client: Client) -> None:
    _, log = live
    uid = "fail-log-0000-4000-8000-000000000002"
    client.post(FAILING, review(pool(), uid=uid))
    [entry] = [line for line in log.lines if line["msg"] == "admission review" and line.get("uid") == uid]
    assert entry["decision"] == "error" and entry["webhook"] == "failing" and entry["operation"] == "CREATE"


def test_the_server_keeps_answering_after_a_handler_failed(client: Client) -> None:
    client.post(FAILING, review(pool()))
    again = client.post("/validate", review(pool(connInfoSecretTarget={"name": "x"})))
    assert again.status == 200 and again.json()["response"]["allowed"] is True
    assert requests_total(client, webhook="validate", result="allowed") >= 1


def test_errored_is_a_500_failure_status() -> None:
    response = admission.errored("it broke")
    assert response.allowed is False and response.patch == () and response.warnings == ()
    assert response.status == {"metadata": {}, "status": "Failure", "message": "it broke",
                               "reason": "InternalError", "code": 500}
