"""The server's view of the cluster (``webhook.serve.clusterview``) against a stand-in apiserver over real TLS on
loopback, through the real Kubernetes client and a real kubeconfig: how it lists and watches the ConnectionPools,
how fresh it stays, how it recovers, how it reads one Secret (its metadata only), and what it says when it cannot.
The server with ``--cluster-checks`` is tested in ``test_cluster_checks.py``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_apiserver import PREFIX, FakeApiserver, stored
from tests.support.https import free_port
from webhook.rules import integrity
from webhook.serve import metrics
from webhook.serve.cluster_checks import Unreadable
from webhook.serve.clusterview import NOT_SYNCED, ClusterView

POOLS = f"{PREFIX}/connectionpools"
PARTIAL = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
# Short backoff and staleness, so that the recoveries take a fraction of a second rather than the production ones.
FAST = {"backoff": (0.05, 0.4), "stale_after": 0.5}


def objects() -> list[dict[str, Any]]:
    return [stored(f"pool-{i}", f"team-{'ab'[i % 2]}", serviceName=f"pg-{i}") for i in range(7)]


@pytest.fixture
def apiserver(certs: Path) -> Iterator[FakeApiserver]:
    with FakeApiserver(certs, objects()) as server:
        yield server


@pytest.fixture
def start_view(kubeconfig: Path) -> Iterator[Callable[..., ClusterView]]:
    """``start_view(**options)``: a started view of the fake (its kubeconfig unless given another), stopped after."""
    views: list[ClusterView] = []

    def start(config: Path = kubeconfig, context: str | None = None, **options: Any) -> ClusterView:
        view = ClusterView(config, context, **options)
        views.append(view)
        view.start()
        return view

    yield start
    for view in views:
        view.stop()


def eventually(condition: Callable[[], object], timeout: float = 10.0) -> float:
    """Seconds until ``condition()`` holds, polled every 0.2 ms; fails after ``timeout``."""
    started = time.perf_counter()
    while not condition():
        assert time.perf_counter() - started < timeout, "the condition never held"
        time.sleep(0.0002)
    return time.perf_counter() - started


def pools_of(apiserver: FakeApiserver) -> dict[tuple[str, str], integrity.Pool]:
    found = {}
    for obj in apiserver.objects:
        pool = integrity.pool_of(obj)
        if pool is not None:
            found[pool.key] = pool
    return found


def lists(apiserver: FakeApiserver) -> list[dict[str, list[str]]]:
    return [r.query for r in apiserver.recorded if r.path == POOLS and "watch" not in r.query]


def lookup(view: ClusterView, namespace: str, name: str) -> integrity.Secret | None:
    return asyncio.run(view.secret(namespace, name))


def counter(metric: str, **labels: str) -> float:
    value = metrics.REGISTRY.get_sample_value(metric, labels)
    return value or 0.0


# --- the ConnectionPools: list, then watch --------------------------------------------------------------------------

def test_lists_page_by_page_then_watches_from_the_lists_resource_version(
        apiserver: FakeApiserver, start_view: Callable[..., ClusterView]) -> None:
    view = start_view(page_size=3)
    assert view.wait_synced(10)
    assert view.unusable() is None
    assert view.snapshot() == pools_of(apiserver)
    listed = lists(apiserver)
    assert [q.get("limit") for q in listed] == [["3"]] * 3
    assert [("continue" in q) for q in listed] == [False, True, True]
    eventually(lambda: apiserver.watches)  # the watch is open
    watch = apiserver.watch_requests()[0].query
    assert watch["resourceVersion"] == [str(apiserver.version)] == [view.resource_version]
    assert watch["allowWatchBookmarks"] == ["true"] and watch["watch"] == ["1"]
    assert 300 <= int(watch["timeoutSeconds"][0]) <= 600  # 300 s plus jitter
    assert counter("connectionpool_webhook_cluster_view_synced") == 1
    assert counter("connectionpool_webhook_cluster_view_objects") == 7


def test_changes_reach_the_index_within_a_second(apiserver: FakeApiserver,
                                                 start_view: Callable[..., ClusterView]) -> None:
    view = start_view()
    assert view.wait_synced(10)
    eventually(lambda: apiserver.watches)  # the watch is open
    added = counter("connectionpool_webhook_cluster_view_events_total", type="ADDED")
    pool = stored("fresh", "team-c", project="fresh-project")
    apiserver.create(pool)
    created = eventually(lambda: view.with_identity(("fresh-project", "my-pg", "fresh")), timeout=5)
    pool["spec"]["serviceName"] = "other-pg"
    apiserver.update(pool)
    changed = eventually(lambda: view.with_identity(("fresh-project", "other-pg", "fresh")), timeout=5)
    assert not view.with_identity(("fresh-project", "my-pg", "fresh"))
    apiserver.delete("team-c", "fresh")
    deleted = eventually(lambda: not view.with_identity(("fresh-project", "other-pg", "fresh")), timeout=5)
    print(f"\nfreshness on loopback: created {created * 1000:.1f} ms, changed {changed * 1000:.1f} ms, "
          f"deleted {deleted * 1000:.1f} ms")
    assert max(created, changed, deleted) < 1.0
    assert view.snapshot() == pools_of(apiserver)
    assert counter("connectionpool_webhook_cluster_view_events_total", type="ADDED") == added + 1
    assert view.resource_version == str(apiserver.version)


def test_an_object_whose_identity_cannot_be_read_leaves_the_index(
        apiserver: FakeApiserver, start_view: Callable[..., ClusterView]) -> None:
    view = start_view()
    assert view.wait_synced(10)
    broken = stored("pool-0", "team-a", serviceName=None)  # judged by the schema rules; it manages no pool
    apiserver.update(broken)
    eventually(lambda: ("team-a", "pool-0") not in view.snapshot())
    assert view.snapshot() == pools_of(apiserver)


def test_bookmarks_advance_the_resource_version_of_the_next_watch(
        apiserver: FakeApiserver, start_view: Callable[..., ClusterView]) -> None:
    view = start_view()
    assert view.wait_synced(10)
    eventually(lambda: apiserver.watches)  # the watch is open
    bookmarks = counter("connectionpool_webhook_cluster_view_events_total", type="BOOKMARK")
    apiserver.advance(40)  # other resources changed: the ConnectionPools' watch heard nothing
    version = apiserver.bookmark()
    eventually(lambda: view.resource_version == str(version))
    apiserver.end_watches()
    eventually(lambda: len(apiserver.watch_requests()) == 2)
    assert apiserver.watch_requests()[1].query["resourceVersion"] == [str(version)]
    assert counter("connectionpool_webhook_cluster_view_events_total", type="BOOKMARK") == bookmarks + 1
    assert len(lists(apiserver)) == 1


def test_a_watch_that_ends_is_resumed_from_the_last_resource_version(
        apiserver: FakeApiserver, start_view: Callable[..., ClusterView]) -> None:
    view = start_view()
    assert view.wait_synced(10)
    eventually(lambda: apiserver.watches)  # the watch is open
    last = apiserver.create(stored("late", "team-a"))["metadata"]["resourceVersion"]
    eventually(lambda: ("team-a", "late") in view.snapshot())
    apiserver.end_watches()
    eventually(lambda: len(apiserver.watch_requests()) == 2)
    assert apiserver.watch_requests()[1].query["resourceVersion"] == [last]
    apiserver.delete("team-a", "late")  # the resumed watch carries on
    eventually(lambda: ("team-a", "late") not in view.snapshot())
    assert len(lists(apiserver)) == 1 and view.unusable() is None


@pytest.mark.parametrize("as_http", [False, True], ids=["error-event", "http-410"])
def test_expired_history_lists_again_and_the_index_matches(
        apiserver: FakeApiserver, start_view: Callable[..., ClusterView], as_http: bool) -> None:
    view = start_view(page_size=2)
    assert view.wait_synced(10)
    eventually(lambda: apiserver.watches)  # the watch is open
    relists = counter("connectionpool_webhook_cluster_view_relists_total", reason="expired")
    # Changes the watch never delivered, then the history that held them compacted away.
    apiserver.create(stored("missed", "team-b"), notify=False)
    apiserver.delete("team-a", "pool-0", notify=False)
    apiserver.update(stored("pool-1", "team-b", project="moved"), notify=False)
    apiserver.expired_as_http = as_http
    compacted = apiserver.expire_history()
    apiserver.end_watches()
    eventually(lambda: view.snapshot() == pools_of(apiserver))
    assert counter("connectionpool_webhook_cluster_view_relists_total", reason="expired") == relists + 1
    assert len(lists(apiserver)) == 4 + 4  # 7 objects in pages of 2, then 7 again (one added, one deleted)
    eventually(lambda: len(apiserver.watch_requests()) == 3)
    expired, resumed = apiserver.watch_requests()[1:]
    assert int(expired.query["resourceVersion"][0]) < compacted
    assert resumed.query["resourceVersion"] == [str(compacted)] == [view.resource_version]
    assert view.unusable() is None


def test_a_continue_token_that_expires_lists_again_in_one_request(
        apiserver: FakeApiserver, start_view: Callable[..., ClusterView]) -> None:
    apiserver.expire_continue = True
    view = start_view(page_size=2)
    assert view.wait_synced(10)
    assert view.snapshot() == pools_of(apiserver)
    assert [("limit" in q, "continue" in q) for q in lists(apiserver)] == [(True, False), (True, True),
                                                                          (False, False)]


def test_a_dropped_connection_resumes_the_watch(apiserver: FakeApiserver,
                                                start_view: Callable[..., ClusterView]) -> None:
    view = start_view(backoff=(0.05, 0.4))  # staleness as in production (5 s): a dropped watch is no outage
    assert view.wait_synced(10)
    eventually(lambda: apiserver.watches)  # the watch is open
    failures = counter("connectionpool_webhook_cluster_view_failures_total", reason="unreachable")
    version = view.resource_version
    apiserver.drop_watches()
    apiserver.create(stored("during", "team-a"))  # while no watch is open: from the history, on resuming
    eventually(lambda: ("team-a", "during") in view.snapshot())
    assert apiserver.watch_requests()[1].query["resourceVersion"] == [version]
    assert counter("connectionpool_webhook_cluster_view_failures_total", reason="unreachable") == failures + 1
    assert view.unusable() is None and len(lists(apiserver)) == 1


def test_an_apiserver_that_goes_away_makes_the_view_stale_until_it_comes_back(
        apiserver: FakeApiserver, start_view: Callable[..., ClusterView]) -> None:
    view = start_view(**FAST)
    assert view.wait_synced(10)
    eventually(lambda: apiserver.watches)  # the watch is open
    apiserver.go_away()
    eventually(lambda: view.unusable() is not None)
    stale = view.unusable()
    assert stale is not None and stale.reason == "unreachable"
    assert str(stale).startswith("the view of the cluster's ConnectionPools is stale (its watch has failed for ")
    assert f"The connection to the server 127.0.0.1:{apiserver.port} was refused" in str(stale)
    assert counter("connectionpool_webhook_cluster_view_synced") == 0
    apiserver.create(stored("meanwhile", "team-b"))
    apiserver.come_back()
    eventually(lambda: view.unusable() is None)
    eventually(lambda: view.snapshot() == pools_of(apiserver))
    assert counter("connectionpool_webhook_cluster_view_synced") == 1


def test_an_unreachable_apiserver_leaves_the_view_not_synced(
        apiserver: FakeApiserver, kubeconfig: Path, start_view: Callable[..., ClusterView], tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text(kubeconfig.read_text().replace(f":{apiserver.port}", f":{free_port()}"))
    failures = counter("connectionpool_webhook_cluster_view_failures_total", reason="unreachable")
    view = start_view(elsewhere, **FAST)
    eventually(lambda: counter("connectionpool_webhook_cluster_view_failures_total", reason="unreachable")
               >= failures + 2)
    unusable = view.unusable()
    assert unusable is not None and unusable.reason == "not_synced" and str(unusable) == NOT_SYNCED
    assert not view.wait_synced(0) and not view.snapshot()


def test_a_forbidden_list_leaves_the_view_not_synced(apiserver: FakeApiserver,
                                                     start_view: Callable[..., ClusterView]) -> None:
    failures = counter("connectionpool_webhook_cluster_view_failures_total", reason="forbidden")
    view = start_view(context="nobody", **FAST)
    eventually(lambda: counter("connectionpool_webhook_cluster_view_failures_total", reason="forbidden")
               > failures)
    unusable = view.unusable()
    assert unusable is not None and unusable.reason == "not_synced"


def test_a_cluster_without_the_crd_leaves_the_view_not_synced_saying_so(
        apiserver: FakeApiserver, start_view: Callable[..., ClusterView], caplog: pytest.LogCaptureFixture) -> None:
    apiserver.crd_installed = False
    failures = counter("connectionpool_webhook_cluster_view_failures_total", reason="error")
    view = start_view(**FAST)
    eventually(lambda: counter("connectionpool_webhook_cluster_view_failures_total", reason="error") > failures)
    unusable = view.unusable()
    assert unusable is not None and unusable.reason == "not_synced"
    assert ("has no resource connectionpools.aiven.io/v1alpha1 (is the ConnectionPool CRD installed?); retrying "
            "with backoff") in caplog.text


def test_rbac_taken_away_makes_the_view_stale_saying_so(apiserver: FakeApiserver,
                                                        start_view: Callable[..., ClusterView]) -> None:
    view = start_view(**FAST)
    assert view.wait_synced(10)
    eventually(lambda: apiserver.watches)  # the watch is open
    apiserver.refuse = True
    apiserver.end_watches()
    eventually(lambda: view.unusable() is not None)
    unusable = view.unusable()
    assert unusable is not None and unusable.reason == "forbidden"
    assert ('Forbidden (403): connectionpools.aiven.io is forbidden: User "system:serviceaccount:default:nobody" '
            'cannot watch resource "connectionpools"') in str(unusable)
    assert "\n" not in str(unusable)
    apiserver.refuse = False
    eventually(lambda: view.unusable() is None)


def test_a_configuration_that_cannot_be_loaded_leaves_the_view_not_synced(
        start_view: Callable[..., ClusterView], tmp_path: Path) -> None:
    failures = counter("connectionpool_webhook_cluster_view_failures_total", reason="error")
    view = start_view(tmp_path / "no-such-kubeconfig", **FAST)
    eventually(lambda: counter("connectionpool_webhook_cluster_view_failures_total", reason="error") > failures)
    unusable = view.unusable()
    assert unusable is not None and unusable.reason == "not_synced"
    with pytest.raises(Unreadable) as raised:
        lookup(view, "team-a", "any")
    assert raised.value.reason == "error" and "cannot load the cluster configuration" in str(raised.value)


# --- Secrets: one, by name, metadata only ---------------------------------------------------------------------------

def test_a_secret_is_read_as_its_metadata_only(apiserver: FakeApiserver,
                                               start_view: Callable[..., ClusterView]) -> None:
    view = start_view()
    assert view.wait_synced(10)
    apiserver.put_secret("team-a", "pool-0", controller={"apiVersion": "aiven.io/v1alpha1", "kind": "ConnectionPool",
                                                         "name": "pool-0"})
    apiserver.put_secret("team-a", "unowned")
    found = lookup(view, "team-a", "pool-0")
    assert found == integrity.Secret("team-a", "pool-0",
                                     integrity.Owner("aiven.io/v1alpha1", "ConnectionPool", "team-a", "pool-0"))
    assert lookup(view, "team-a", "unowned") == integrity.Secret("team-a", "unowned", None)
    assert lookup(view, "team-a", "missing") is None
    asked = [r for r in apiserver.recorded if "/secrets/" in r.path]
    assert [r.path for r in asked] == ["/api/v1/namespaces/team-a/secrets/pool-0",
                                       "/api/v1/namespaces/team-a/secrets/unowned",
                                       "/api/v1/namespaces/team-a/secrets/missing"]
    assert {r.accept for r in asked} == {PARTIAL}  # never the whole Secret, with its data
    assert all(r.query == {} for r in asked)


def test_names_no_secret_can_have_are_not_asked_for(apiserver: FakeApiserver,
                                                    start_view: Callable[..., ClusterView]) -> None:
    view = start_view()
    assert view.wait_synced(10)
    for namespace, name in [("team-a", ".."), ("team-a", "a/b"), ("team-a", "UPPER"), ("..", "x"), ("team-a", "")]:
        assert lookup(view, namespace, name) is None
    assert not [r for r in apiserver.recorded if "secrets" in r.path]


def test_a_forbidden_secret_lookup_is_unreadable(apiserver: FakeApiserver,
                                                 start_view: Callable[..., ClusterView]) -> None:
    view = start_view(context="nobody", **FAST)
    eventually(lambda: len(apiserver.recorded) > 0)
    errors = counter("connectionpool_webhook_secret_lookup_duration_seconds_count", result="error")
    with pytest.raises(Unreadable) as raised:
        lookup(view, "team-a", "pool-0")
    assert raised.value.reason == "forbidden"
    assert str(raised.value) == ('Forbidden (403): secrets "pool-0" is forbidden: User '
                                 '"system:serviceaccount:default:nobody" cannot get resource "secrets" in API group "" '
                                 'in the namespace "team-a"')
    assert counter("connectionpool_webhook_secret_lookup_duration_seconds_count", result="error") == errors + 1


def test_an_unreachable_secret_lookup_is_unreadable(apiserver: FakeApiserver,
                                                    start_view: Callable[..., ClusterView]) -> None:
    view = start_view(**FAST)
    assert view.wait_synced(10)
    apiserver.go_away()
    with pytest.raises(Unreadable) as raised:
        lookup(view, "team-a", "pool-0")
    assert raised.value.reason == "unreachable"
    assert str(raised.value) == (f"The connection to the server 127.0.0.1:{apiserver.port} was refused - did you "
                                 "specify the right host or port?")


def test_a_secret_lookup_is_bounded_by_the_timeout(apiserver: FakeApiserver,
                                                   start_view: Callable[..., ClusterView]) -> None:
    view = start_view(timeout=0.3)
    assert view.wait_synced(10)
    assert view.timeout == 0.3
    apiserver.put_secret("team-a", "slow")
    apiserver.secret_delay = 3.0
    started = time.perf_counter()
    with pytest.raises(Unreadable) as raised:
        lookup(view, "team-a", "slow")
    assert time.perf_counter() - started < 1.5
    assert raised.value.reason == "unreachable" and "timed out" in str(raised.value)


def test_requests_for_a_secret_being_read_share_the_read(apiserver: FakeApiserver,
                                                         start_view: Callable[..., ClusterView]) -> None:
    """A burst of CREATEs naming one Aiven token makes one request to the apiserver, not one each; a request whose
    deadline passes does not cancel the read for the others, and nothing is remembered once it is done."""
    view = start_view()
    assert view.wait_synced(10)
    apiserver.put_secret("team-a", "aiven-token")
    apiserver.secret_delay = 0.3

    async def burst() -> list[integrity.Secret | None]:
        impatient = asyncio.ensure_future(asyncio.wait_for(view.secret("team-a", "aiven-token"), 0.05))
        found = await asyncio.gather(*(view.secret("team-a", "aiven-token") for _ in range(5)),
                                     view.secret("team-a", "other"))
        with pytest.raises(TimeoutError):
            await impatient
        return list(found)

    found = asyncio.run(burst())
    assert [s.name if s else None for s in found] == ["aiven-token"] * 5 + [None]
    asked = [r.path.rsplit("/", 1)[1] for r in apiserver.secret_requests()]
    assert sorted(asked) == ["aiven-token", "other"]
    apiserver.secret_delay = 0.0
    assert lookup(view, "team-a", "aiven-token") is not None  # read again: nothing was kept
    assert len(apiserver.secret_requests()) == 3
