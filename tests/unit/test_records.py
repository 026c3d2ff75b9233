"""core/system/records.py answers as ``dataclasses`` does, for every shape of class this package declares.

Each case declares one class body twice, once with ``@dataclass`` and once with ``@record`` (same name, same
options), and checks that both build, show, compare, hash, refuse and copy the same way.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import pytest

from runconfig_jupyter.core.system import records

KINDS = {"dataclass": (dataclasses.dataclass, dataclasses.field), "record": (records.record, records.field)}


def both(build):
    """``build(decorate, field)`` for each kind: {kind: class}."""
    return {kind: build(decorate, field) for kind, (decorate, field) in KINDS.items()}


def shown(obj):
    """``repr(obj)`` with the class's bare name: the classes here are local, and both kinds show the qualified name."""
    text, qualified = repr(obj), type(obj).__qualname__
    assert text.startswith(qualified + "(")
    return type(obj).__name__ + text[len(qualified) :]


def _outcome(call):
    """What a call gives: its value's repr, or the type of error it raises (messages differ in wording)."""
    try:
        return ("value", shown(call()))
    except TypeError:
        return ("TypeError", None)
    except AttributeError:  # dataclasses.FrozenInstanceError and records.FrozenRecordError both are
        return ("AttributeError", None)
    except ValueError:
        return ("ValueError", None)


def _plain_and_kw_only(decorate, field):
    @decorate
    class Job:
        extra: dict[str, Any] = field(default_factory=dict, kw_only=True, repr=False)
        name: str
        size: int = 1
        tags: list[str] = field(default_factory=list)
        secret: str | None = field(default=None, repr=False, compare=False)
        kind: ClassVar[str] = "job"  # not a field

    return Job


CALLS = [
    ((), {}),
    (("a",), {}),
    (("a", 2), {}),
    (("a", 2, ["t"], "s"), {}),
    (("a", 2, ["t"], "s", "too many"), {}),
    (("a",), {"size": 3, "extra": {"k": 1}}),
    (("a",), {"name": "b"}),
    (("a",), {"unknown": 1}),
    ((), {"extra": {}}),
    (({"k": 1}, "a"), {}),  # extra is keyword-only: this is name={"k": 1}, size="a"
]


@pytest.mark.parametrize(("args", "kwargs"), CALLS)
def test_init_takes_and_refuses_the_same_arguments(args, kwargs):
    classes = both(_plain_and_kw_only)
    outcomes = {kind: _outcome(lambda cls=cls: cls(*args, **kwargs)) for kind, cls in classes.items()}
    assert outcomes["record"] == outcomes["dataclass"], outcomes


def test_repr_eq_hash_and_factories_match():
    classes = both(_plain_and_kw_only)
    made = {kind: (cls("a", tags=["x"]), cls("a", tags=["x"], secret="s"), cls("b")) for kind, cls in classes.items()}
    for kind, (one, same, other) in made.items():
        assert one == same, kind  # secret is not compared
        assert one != other and one.__eq__(object()) is NotImplemented, kind
        assert type(one).__hash__ is None, kind  # eq without frozen: unhashable
        assert one.tags is not cls_default_tags(type(one)), kind
        assert type(one)("z").tags is not type(one)("z").tags, kind  # a new list per instance
        assert type(one).kind == "job" and "kind" not in [f.name for f in records.fields(one)], kind
    assert shown(made["record"][0]) == shown(made["dataclass"][0]) == "Job(name='a', size=1, tags=['x'])"
    ours, theirs = made["record"][0], made["dataclass"][0]
    assert [f.name for f in records.fields(ours)] == [f.name for f in dataclasses.fields(theirs)]
    assert records.asdict(made["record"][1]) == dataclasses.asdict(made["dataclass"][1])


def cls_default_tags(cls):
    return getattr(cls, "tags", None)


def test_frozen_records_refuse_assignment_and_hash_by_their_compared_fields():
    def build(decorate, field):
        @decorate(frozen=True)
        class Point:
            x: int
            y: int = 0
            label: str = field(default="", compare=False)

        return Point

    for kind, cls in both(build).items():
        point = cls(1, 2, "p")
        assert _outcome(lambda point=point: setattr(point, "x", 5)) == ("AttributeError", None), kind
        assert _outcome(lambda point=point: delattr(point, "y")) == ("AttributeError", None), kind
        assert hash(point) == hash(cls(1, 2, "other")) and len({point, cls(1, 2), cls(2, 2)}) == 2, kind
        assert point.x == 1, kind


def test_initvars_reach_post_init_in_their_declared_place_and_are_not_fields():
    def build(decorate, field):
        @decorate
        class Config:
            script: str | None = None
            shortcut: dataclasses.InitVar[str | None] = None
            target: str = "local"
            seen: list[Any] = field(default_factory=list, init=False, repr=False)

            def __post_init__(self, shortcut):
                self.seen.append(shortcut)

        return Config

    classes = both(build)
    for args in ((), ("s",), ("s", "short"), ("s", "short", "docker")):
        made = {kind: shown(cls(*args)) for kind, cls in classes.items()}
        assert made["record"] == made["dataclass"], made
    for kind, cls in classes.items():
        made = cls("s", "short", "docker")
        assert made.seen == ["short"] and made.target == "docker", kind
        assert cls(shortcut="kw").seen == ["kw"], kind
        assert [f.name for f in records.fields(cls)] == ["script", "target", "seen"], kind


def test_a_subclass_adds_its_fields_after_its_bases_and_a_redeclared_one_keeps_its_place():
    def build(decorate, field):
        @decorate
        class Base:
            a: int = 1
            b: int = 2

        @decorate
        class Child(Base):
            c: int = 3
            a: int = 10

        return Child

    classes = both(build)
    assert [f.name for f in records.fields(classes["record"])] == ["a", "b", "c"]
    assert shown(classes["record"]()) == shown(classes["dataclass"]()) == "Child(a=10, b=2, c=3)"
    assert shown(classes["record"](5, 6, 7)) == shown(classes["dataclass"](5, 6, 7))


def test_methods_the_class_writes_itself_are_kept():
    @records.record
    class Own:
        x: int = 0

        def __repr__(self) -> str:
            return "own"

        def __eq__(self, other: object) -> bool:
            return True

        __hash__ = object.__hash__

    assert repr(Own()) == "own" and Own(1) == Own(2) and isinstance(hash(Own()), int)


def test_a_non_frozen_record_sets_its_fields_through_its_own_setattr():
    def build(decorate, field):
        @decorate
        class Upper:
            name: str = ""

            def __setattr__(self, key, value):
                super().__setattr__(key, value.upper() if isinstance(value, str) else value)

        return Upper

    assert {kind: cls("abc").name for kind, cls in both(build).items()} == {"dataclass": "ABC", "record": "ABC"}


def test_slots_records_have_no_instance_dict():
    def build(decorate, field):
        @decorate(slots=True)
        class Slim:
            a: int
            b: str = "x"

        return Slim

    for kind, cls in both(build).items():
        slim = cls(1)
        assert not hasattr(slim, "__dict__") and (slim.a, slim.b) == (1, "x"), kind
        assert _outcome(lambda slim=slim: setattr(slim, "other", 1)) == ("AttributeError", None), kind
        assert shown(slim) == "Slim(a=1, b='x')", kind


def test_a_record_that_holds_itself_shows_dots_instead_of_recursing():
    @records.record
    class Node:
        child: Any = None

    node = Node()
    node.child = node
    assert shown(node) == "Node(child=...)"


def test_mutable_defaults_are_refused_when_the_class_is_made():
    for kind, (decorate, _field) in KINDS.items():
        with pytest.raises(ValueError):
            decorate(type("Bad", (), {"__annotations__": {"items": "list[int]"}, "items": []}))
        assert kind


def test_replace_and_asdict_and_fields_take_both_kinds():
    def build(decorate, field):
        @decorate(frozen=True)
        class Inner:
            n: int = 0

        @decorate
        class Outer:
            inner: Any = None
            names: list[str] = field(default_factory=list)

        return Inner, Outer

    for kind, (inner_cls, outer_cls) in both(build).items():
        outer = outer_cls(inner_cls(3), ["a"])
        assert records.asdict(outer) == {"inner": {"n": 3}, "names": ["a"]}, kind
        assert records.asdict(outer)["names"] is not outer.names, kind
        changed = records.replace(outer, names=["b"])
        assert changed.names == ["b"] and changed.inner == outer.inner and outer.names == ["a"], kind
        with pytest.raises((ValueError, TypeError)):
            records.replace(outer, unknown=1)
        spec = records.fields(outer_cls)[1]
        assert (spec.name, spec.default, spec.default_value()) == ("names", records.MISSING, []), kind
        assert records.is_record(outer) is (kind == "record"), kind
