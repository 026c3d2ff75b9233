"""The collector's decisions (core/runs/garbage.py ``plan``): references, busy items, grace, age, size budget.

``plan`` is a pure function of the items listed, the runs' references and the policy; the integration tests
(tests/integration/test_garbage_local.py, tests/integration/docker/test_docker_garbage.py) feed it real ones.
"""

from __future__ import annotations

import pytest

from runconfig_jupyter.core.errors import ConfigError
from runconfig_jupyter.core.runs.garbage import (
    KEEP,
    REMOVE,
    GarbageItem,
    GcPolicy,
    Reference,
    parse_age,
    parse_size,
    plan,
)

NOW = 1_000_000_000.0
DAY = 86400.0


def item(name: str, size: int, age_days: float, busy: str | None = None) -> tuple[str, GarbageItem]:
    return "src", GarbageItem(
        "snapshot", name, f"/x/{name}", size, NOW - age_days * DAY, frozenset({f"k:{name}"}), busy
    )


def actions(entries) -> dict[str, str]:
    return {e.name: e.action for e in entries}


def test_referenced_busy_and_young_items_are_kept_whatever_the_policy():
    items = [item("ref", 10, 30), item("active", 10, 30), item("busy", 10, 30, busy="a build"), item("young", 10, 0)]
    refs = [Reference("done_1", frozenset({"k:ref"}), False), Reference("run_2", frozenset({"k:active"}), True)]
    entries = plan(items, refs, GcPolicy(older_than=0, max_size=0), now=NOW)
    assert actions(entries) == {"ref": KEEP, "active": KEEP, "busy": KEEP, "young": KEEP}
    why = {e.name: e.why for e in entries}
    assert "done_1" in why["ref"] and "unfinished run run_2" in why["active"]
    assert "a build" in why["busy"] and "grace" in why["young"]


def test_without_limits_every_unreferenced_item_past_the_grace_period_goes():
    entries = plan([item("a", 1, 2), item("b", 1, 0.001)], [], GcPolicy(), now=NOW)
    assert actions(entries) == {"a": REMOVE, "b": KEEP}
    assert actions(plan([item("b", 1, 0.001)], [], GcPolicy(grace_seconds=0), now=NOW)) == {"b": REMOVE}


def test_older_than_keeps_what_was_used_recently():
    entries = plan([item("old", 5, 10), item("new", 5, 2)], [], GcPolicy(older_than=7 * DAY), now=NOW)
    assert actions(entries) == {"old": REMOVE, "new": KEEP}
    assert "within the age and size limits" in next(e.why for e in entries if e.name == "new")


def test_max_size_removes_least_recently_used_first_until_under_budget():
    items = [item("mid", 40, 5), item("oldest", 40, 9), item("newest", 40, 1), item("ref", 100, 20)]
    refs = [Reference("r", frozenset({"k:ref"}), False)]
    # 220 bytes listed, budget 150: the two least recently used unreferenced items go (oldest, then mid)
    entries = plan(items, refs, GcPolicy(max_size=150), now=NOW)
    assert actions(entries) == {"oldest": REMOVE, "mid": REMOVE, "newest": KEEP, "ref": KEEP}


def test_age_and_size_together():
    items = [item("a", 50, 10), item("b", 50, 3), item("c", 50, 2)]
    entries = plan(items, [], GcPolicy(older_than=7 * DAY, max_size=60), now=NOW)
    assert actions(entries) == {"a": REMOVE, "b": REMOVE, "c": KEEP}


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("30m", 1800), ("12h", 43200), ("7d", 604800), ("2w", 1209600), (5, 5)]
)
def test_ages(text, seconds):
    assert parse_age(text) == seconds


@pytest.mark.parametrize(("text", "size"), [("1000", 1000), ("500M", 500 << 20), ("10G", 10 << 30), ("2KiB", 2048)])
def test_sizes(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"older_than": "soon"}, "older_than"), ({"max_size": "-3G"}, "max_size"), ({"max_size": True}, "max_size")],
)
def test_bad_limits_are_refused_naming_the_field(kwargs, field):
    with pytest.raises(ConfigError) as info:
        GcPolicy.parse(**kwargs)
    assert info.value.field == field
