"""The suite's captured data is in the repository, and every capture is replayed."""

from __future__ import annotations

import json

from tests.support.reviews import REFERENCE, REFERENCE_REQUESTS, reference


def test_every_captured_request_is_listed_for_replay() -> None:
    # A capture added to the folder but not to the list would never be sent; one listed but missing fails here too.
    on_disk = {p.name for p in REFERENCE.glob("*.json") if "request" in json.loads(p.read_text()).get("body", {})}
    assert on_disk == set(REFERENCE_REQUESTS)


def test_each_listed_capture_is_an_admission_review_with_its_path() -> None:
    for name in REFERENCE_REQUESTS:
        captured = reference(name)
        assert captured["body"]["kind"] == "AdmissionReview", name
        assert captured["http"]["path"].split("?")[0] in {"/validate", "/mutate"}, name
