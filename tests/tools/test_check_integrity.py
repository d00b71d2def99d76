"""``check`` across the manifests of one run: the same Aiven pool twice, or the same Secret twice in one namespace,
is what only a look at other objects can find (the integrity rules 1 and 2). Each conflict is reported once, on the
object that comes later (the one applying them in order would see refused), naming the earlier one and where it is."""

from __future__ import annotations

from pathlib import Path

from tests.support.manifests import manifest, run, run_json

ORDERS = manifest("orders", namespace="team-a")


def reasons(report: dict[str, object]) -> dict[str, list[tuple[str, str]]]:
    results = report["results"]
    assert isinstance(results, list)
    return {f"{r['namespace']}/{r['name']}": [(c["reason"], c["field"]) for c in r["causes"]] for r in results}


def test_the_same_aiven_pool_in_two_namespaces_across_two_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(ORDERS)
    (tmp_path / "b.yaml").write_text(manifest("orders", namespace="team-b"))
    code, report = run_json(str(tmp_path))
    assert code == 1
    assert reasons(report) == {"team-a/orders": [], "team-b/orders": [("FieldValueDuplicate", "metadata.name")]}
    cause = report["results"][1]["causes"][0]
    assert cause["message"] == (
        f'Duplicate value: "orders": ConnectionPool team-a/orders ({tmp_path}/a.yaml:1) already manages the Aiven '
        'connection pool "orders" of project "my-project", service "my-pg"; deleting either would delete it under '
        "the other")
    assert report["summary"]["denied"] == 1 and report["summary"]["allowed"] == 1


def test_the_same_secret_in_one_namespace_in_one_stream() -> None:
    other = manifest("reports", namespace="team-a",
                     spec="  databaseName: db\n  project: my-project\n  serviceName: other-pg\n  username: u\n"
                          "  connInfoSecretTarget:\n    name: orders\n")
    code, report = run_json("-", stdin=ORDERS + "---\n" + other)
    assert code == 1
    assert reasons(report)["team-a/reports"] == [("FieldValueDuplicate", "spec.connInfoSecretTarget.name")]
    assert "ConnectionPool team-a/orders (-:1) already writes the Secret team-a/orders" in (
        report["results"][1]["causes"][0]["message"])


def test_the_text_output_prints_what_kubectl_would(tmp_path: Path) -> None:
    (tmp_path / "pools.yaml").write_text(ORDERS + "---\n" + manifest("orders", namespace="team-b"))
    result = run(str(tmp_path / "pools.yaml"))
    assert result.returncode == 1
    assert result.stdout.splitlines()[:2] == [
        f"{tmp_path}/pools.yaml:12",  # the second object: ORDERS is 10 lines, then ---
        'The ConnectionPool "orders" is invalid: metadata.name: Duplicate value: "orders": ConnectionPool '
        f'team-a/orders ({tmp_path}/pools.yaml:1) already manages the Aiven connection pool "orders" of project '
        '"my-project", service "my-pg"; deleting either would delete it under the other']


def test_what_is_no_conflict_among_manifests() -> None:
    same_object_twice = ORDERS + "---\n" + ORDERS  # applying the same object twice updates it
    other_service = manifest("orders", namespace="team-b", spec="  databaseName: d\n  project: my-project\n"
                                                               "  serviceName: other-pg\n  username: u\n")
    secret_elsewhere = manifest("orders", namespace="team-c", spec="  databaseName: d\n  project: p2\n"
                                                                  "  serviceName: s2\n  username: u\n")
    no_secret = manifest("reports", namespace="team-a", spec="  databaseName: d\n  project: p3\n  serviceName: s3\n"
                                                            "  username: u\n  connInfoSecretTargetDisabled: true\n"
                                                            "  connInfoSecretTarget:\n    name: orders\n")
    code, report = run_json("-", stdin="---\n".join([same_object_twice, other_service, secret_elsewhere, no_secret]))
    assert code == 0, report
    assert all(r["allowed"] for r in report["results"])


def test_warn_enforcement_reports_a_conflict_as_a_warning_and_exits_0() -> None:
    result = run("-", "--enforcement", "warn", stdin=ORDERS + "---\n" + manifest("orders", namespace="team-b"))
    assert result.returncode == 0
    assert 'Warning: metadata.name: Duplicate value: "orders": ConnectionPool team-a/orders (-:1) already manages' in (
        result.stdout)
