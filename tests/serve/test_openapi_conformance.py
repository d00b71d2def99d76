"""Schema-driven fuzzing of the HTTP API with schemathesis, from the OpenAPI document the server itself serves.

What this proves: requests generated from GET /openapi.json (bodies that follow the documented AdmissionReview
schema, and bodies that break it) never get a 5xx from the real server over verified HTTPS, and every answer has a
documented status code and content type and conforms to the documented response schema. The document is loaded
over TLS verified against the test CA (the serving certificate covers ``localhost``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.servers import ServerProcess

pytestmark = [pytest.mark.process]

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = {schemathesis.GenerationMode.POSITIVE: 150, schemathesis.GenerationMode.NEGATIVE: 150}


@dataclass
class Target:
    api: Any  # the loaded schemathesis schema
    base_url: str
    ca: str
    session: requests.Session


@pytest.fixture(scope="module")
def target(server: ServerProcess) -> Iterator[Target]:
    base_url = f"https://localhost:{server.port}"
    ca = str(server.cert_dir / "ca.crt")
    api = schemathesis.openapi.from_url(f"{base_url}/openapi.json", verify=ca)
    with requests.Session() as session:
        yield Target(api, base_url, ca, session)


def test_document_lists_both_webhooks(target: Target) -> None:
    api = target.api
    assert {"/validate", "/mutate"} <= set(api)
    assert "POST" in api["/validate"] and "POST" in api["/mutate"]


POSITIVE, NEGATIVE = schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE
# GET operations take no input, so only documented (positive) requests exist for them.
CASES = [(path, "POST", mode) for path in ("/validate", "/mutate") for mode in (POSITIVE, NEGATIVE)] + [
    (path, "GET", POSITIVE) for path in ("/healthz", "/readyz")
]


@pytest.mark.property
@pytest.mark.parametrize(("path", "method", "mode"), CASES, ids=lambda v: getattr(v, "value", v))
def test_api_conforms_to_its_document(target: Target, path: str, method: str,
                                      mode: schemathesis.GenerationMode) -> None:
    operation = target.api[path][method]
    examples = EXAMPLES[mode] if method == "POST" else 10
    seen: list[int] = []

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        response = case.call(base_url=target.base_url, session=target.session, verify=target.ca)
        seen.append(response.status_code)
        case.validate_response(response, checks=CHECKS)

    run()
    assert seen, "schemathesis generated no requests"
    assert all(code < 500 for code in seen)
    if method == "POST" and mode is schemathesis.GenerationMode.POSITIVE:
        assert 200 in seen, "no generated review was ever answered"

