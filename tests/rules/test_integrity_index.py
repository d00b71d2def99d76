"""The integrity rules' Index as the server's view of the cluster uses it: changes one pool at a time from a watch
thread, read from the event loop. What a reader was given never changes under it, and every lookup follows each
put and remove."""

from __future__ import annotations

from webhook.rules.integrity import Index, Pool


def test_lookups_follow_puts_replacements_and_removals() -> None:
    index = Index()
    a = Pool("team-a", "orders", "shop", "pg", "orders")
    b = Pool("team-b", "orders", "shop", "pg", "orders")
    index.put(a)
    index.put(b)
    assert len(index) == 2 and index.pools == {a.key: a, b.key: b}
    assert list(index.with_identity(("shop", "pg", "orders"))) == [a, b]
    assert list(index.writing("team-a", "orders")) == [a]
    moved = a._replace(service="pg-2", secret="orders-conn")
    index.put(moved)
    assert list(index.with_identity(("shop", "pg", "orders"))) == [b]
    assert list(index.with_identity(("shop", "pg-2", "orders"))) == [moved]
    assert list(index.writing("team-a", "orders")) == [] and list(index.writing("team-a", "orders-conn")) == [moved]
    index.put(moved)  # the same again: nothing changes
    assert len(index) == 2
    index.remove(b.key)
    index.remove(b.key)  # already gone
    assert list(index.with_identity(("shop", "pg", "orders"))) == [] and list(index.writing("team-b", "orders")) == []
    unwritten = Pool("team-c", "quiet", "shop", "pg", None)  # connInfoSecretTargetDisabled
    index.put(unwritten)
    index.remove(unwritten.key)
    assert index.pools == {moved.key: moved}


def test_what_a_reader_was_given_does_not_change_under_it() -> None:
    index = Index()
    a = Pool("team-a", "orders", "shop", "pg", "orders")
    index.put(a)
    seen = index.with_identity(a.identity)
    written = index.writing("team-a", "orders")
    index.put(Pool("team-b", "orders", "shop", "pg", "orders"))
    index.put(Pool("team-a", "other", "shop", "pg", "orders"))
    index.remove(a.key)
    assert list(seen) == [a] and list(written) == [a]


class _Recorded(dict):  # type: ignore[type-arg]
    """A map of the index that calls ``seen`` after each change, as a reader in another thread could catch it."""

    def __init__(self, seen: list[None]) -> None:
        super().__init__()
        self.seen = seen
        self.check = lambda: None

    def __setitem__(self, key: object, value: object) -> None:
        super().__setitem__(key, value)
        self.check()

    def pop(self, *args: object) -> object:
        value = super().pop(*args)
        self.check()
        return value


def test_a_reader_without_a_lock_never_misses_a_pool_that_is_there_before_and_after_a_change() -> None:
    """The server reads the index from the event loop while the watch thread changes it, without a lock: every
    state between two changes must hold each pool that the states before and after both hold, where they hold it."""
    index = Index()
    states: list[None] = []
    maps = (_Recorded(states), _Recorded(states))
    index._by_identity, index._by_secret = maps  # type: ignore[assignment]
    a = Pool("team-a", "orders", "shop", "pg", "orders", uid="1")
    other = Pool("team-a", "other", "shop", "pg", "other")
    index.put(other)
    index.put(a)
    changes = [
        a._replace(uid="2"),  # what the checks read is unchanged
        a._replace(uid="2", deleting=True),  # being deleted: still there, still writing its Secret
        a._replace(uid="2", deleting=True, auth_secret="token"),
        a._replace(uid="2", service="pg-2"),  # a new identity, the same Secret
        a._replace(uid="2", service="pg-2", secret="orders-conn"),  # the same identity, a new Secret
    ]
    for change in changes:
        before = index.pools[a.key]

        def held(before: Pool = before, change: Pool = change) -> None:
            states.append(None)
            assert other.key in {p.key for p in index.with_identity(other.identity)}
            at = {p.key for identity in {before.identity, change.identity} for p in index.with_identity(identity)}
            assert a.key in at, f"{a.key} in no identity's entry while {change} replaced {before}"
            if before.identity == change.identity:
                assert a.key in {p.key for p in index.with_identity(before.identity)}
            secrets = {before.secret, change.secret} - {None}
            writing = {p.key for secret in secrets for p in index.writing(a.namespace, str(secret))}
            assert not secrets or a.key in writing, f"{a.key} writes no Secret while {change} replaced {before}"

        for recorded in maps:
            recorded.check = held
        index.put(change)
        assert index.pools[a.key] == change
    assert states, "no change was recorded"
    assert list(index.with_identity(("shop", "pg-2", "orders"))) == [changes[-1]]
    assert list(index.writing("team-a", "orders-conn")) == [changes[-1]]
    assert list(index.writing("team-a", "orders")) == []
