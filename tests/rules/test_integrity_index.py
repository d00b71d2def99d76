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
