"""Record classes for the modules a fresh ``python submit.py`` imports, built without compiling code.

``dataclasses`` writes each class's ``__init__`` (and ``__repr__``, ``__eq__``, the frozen ``__setattr__``...) as
source text and compiles it with ``exec`` when the class is created. The ~34 classes of the submit path (the
run configuration's sections, the snapshot, the target interface, the run record) cost ~9 ms that way on every
fresh process, and ``import dataclasses`` brings ``inspect``, ``ast``, ``dis`` and ``tokenize`` (~4 ms): together
about 13 of the ~100 ms a whole fresh ``submit(...).wait_for_completion()`` took, against ~30 ms for
``python t.py`` (benchmarks/bench_script.py, issue 15). Here every class shares the same few functions, driven by
its table of fields, so creating one costs microseconds.

``@record`` behaves as ``@dataclass`` does for everything this package uses: annotated fields in declaration
order (a base's first), plain defaults and ``field(default_factory=...)``, ``repr``/``compare``/``init``/``kw_only``
per field, ``metadata``, ``InitVar[...]`` values handed to ``__post_init__``, ``frozen`` (with the hash a frozen
dataclass gets), ``slots``, and methods the class body defines itself are kept. Non-frozen instances are set
through ``setattr`` so a class's own ``__setattr__`` sees each field, as the generated ``__init__`` does.

Modules off the submit path keep ``dataclasses``; ``fields``, ``replace`` and ``asdict`` here take both kinds,
so code (and third-party target plug-ins, whose settings are dataclasses) need not know which it holds.
"""

from __future__ import annotations

import copy
import reprlib
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class _Missing:
    """No default given (dataclasses.MISSING's role)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class FrozenRecordError(AttributeError):
    """Assigning to a field of a frozen record (dataclasses.FrozenInstanceError's role)."""


class Field:
    """One field: the attributes ``dataclasses.Field`` has, so code reading fields reads both kinds."""

    __slots__ = ("compare", "default", "default_factory", "init", "kw_only", "metadata", "name", "repr", "type")

    def __init__(
        self,
        default: Any = MISSING,
        default_factory: Any = MISSING,
        init: bool = True,
        repr: bool = True,
        compare: bool = True,
        kw_only: bool = False,
        metadata: dict[str, Any] | None = None,
    ):
        if default is not MISSING and default_factory is not MISSING:
            raise ValueError("cannot specify both default and default_factory")
        self.name = ""
        self.type: Any = None
        self.default = default
        self.default_factory = default_factory
        self.init, self.repr, self.compare, self.kw_only = init, repr, compare, kw_only
        self.metadata: dict[str, Any] = dict(metadata or {})

    def has_default(self) -> bool:
        return self.default is not MISSING or self.default_factory is not MISSING

    def default_value(self) -> Any:
        """The value an instance gets when none is given (a new one from the factory each time)."""
        return self.default_factory() if self.default_factory is not MISSING else self.default

    def __repr__(self) -> str:
        return f"Field(name={self.name!r}, default={self.default!r}, default_factory={self.default_factory!r})"


def field(
    *,
    default: Any = MISSING,
    default_factory: Callable[[], Any] | Any = MISSING,
    init: bool = True,
    repr: bool = True,
    compare: bool = True,
    kw_only: bool = False,
    metadata: dict[str, Any] | None = None,
) -> Any:
    """A field with options, as ``dataclasses.field``."""
    return Field(default, default_factory, init, repr, compare, kw_only, metadata)


class _Plan:
    """What the shared methods need of a class, worked out once when it is decorated."""

    __slots__ = (
        "compare_names", "fields", "init_fields", "init_names", "initvars", "positional", "repr_names", "required",
        "specs", "steps",
    )  # fmt: skip

    def __init__(self, specs: dict[str, Field], initvars: frozenset[str]):
        self.specs = specs  # fields and InitVars, in declaration order (a base's first)
        self.fields = tuple(f for f in specs.values() if f.name not in initvars)
        in_init = [f for f in specs.values() if f.init]
        in_init.sort(key=lambda f: f.kw_only)  # keyword-only fields go after the positional ones, as in dataclasses
        self.init_fields = tuple(in_init)
        self.positional = tuple(f.name for f in in_init if not f.kw_only)
        self.init_names = frozenset(f.name for f in in_init)
        self.required = tuple(f.name for f in in_init if not f.has_default())
        # what __init__ sets, in field order: (name, taken from the arguments?, default, default factory)
        self.steps = tuple((f.name, f.init, f.default, f.default_factory) for f in self.fields)
        self.initvars = tuple(name for name in specs if name in initvars)
        self.repr_names = tuple(f.name for f in self.fields if f.repr)
        self.compare_names = tuple(f.name for f in self.fields if f.compare)


def _annotation_kind(annotation: Any) -> str:
    """'classvar', 'initvar' or 'field', from the annotation (a string under ``from __future__ import annotations``)."""
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", repr(annotation))
    text = text.strip()
    for prefix in ("typing.", "t.", "dataclasses."):
        text = text.removeprefix(prefix)
    if text.startswith("ClassVar"):
        return "classvar"
    if text.startswith("InitVar"):
        return "initvar"
    return "field"


def _class_fields(cls: type) -> tuple[dict[str, Field], frozenset[str]]:
    """The fields and InitVars of ``cls`` in declaration order (its record bases' first), and which are InitVars."""
    specs: dict[str, Field] = {}
    initvars: set[str] = set()
    for base in reversed(cls.__mro__[1:]):
        plan = base.__dict__.get("__record_plan__")
        if plan is not None:
            specs.update(plan.specs)
            initvars.update(plan.initvars)
    own_annotations = cls.__dict__.get("__annotations__", {})  # noqa: RUF063 - inspect is what this module avoids
    for name, annotation in own_annotations.items():
        kind = _annotation_kind(annotation)
        if kind == "classvar":
            continue
        declared = cls.__dict__.get(name, MISSING)
        spec = declared if isinstance(declared, Field) else Field(default=declared)
        if isinstance(spec.default, (list, dict, set)):
            raise ValueError(f"mutable default {type(spec.default)} for field {name}: use default_factory")
        spec.name, spec.type = name, annotation
        if isinstance(declared, Field):  # the class attribute is the default itself, or nothing (as dataclasses)
            if spec.default is MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, spec.default)
        if kind == "initvar":
            initvars.add(name)
            if name in cls.__dict__:
                delattr(cls, name)
        else:
            initvars.discard(name)
        specs[name] = spec  # a redeclared field keeps its base's place, as in dataclasses
    return specs, frozenset(initvars)


def _shared_init(self: Any, *args: Any, **kwargs: Any) -> None:
    cls = type(self)
    plan: _Plan = cls.__record_plan__
    if len(args) > len(plan.positional):
        raise TypeError(
            f"{cls.__qualname__}.__init__() takes {len(plan.positional) + 1} positional arguments "
            f"but {len(args) + 1} were given"
        )
    values = dict(zip(plan.positional, args, strict=False))  # fewer arguments than positional fields
    for name, value in kwargs.items():
        if name not in plan.init_names:
            raise TypeError(f"{cls.__qualname__}.__init__() got an unexpected keyword argument '{name}'")
        if name in values:
            raise TypeError(f"{cls.__qualname__}.__init__() got multiple values for argument '{name}'")
        values[name] = value
    missing = [name for name in plan.required if name not in values]
    if missing:
        shown = ", ".join(repr(name) for name in missing)
        raise TypeError(f"{cls.__qualname__}.__init__() missing {len(missing)} required argument(s): {shown}")
    assign = object.__setattr__ if cls.__record_frozen__ else setattr
    for name, from_arguments, default, factory in plan.steps:
        if from_arguments and name in values:
            assign(self, name, values[name])
        elif factory is not MISSING:
            assign(self, name, factory())
        elif default is not MISSING:
            assign(self, name, default)
        # else: a field __init__ does not take and without a default stays unset, as in dataclasses
    post_init = getattr(cls, "__post_init__", None)
    if post_init is not None:
        post_init(self, *[values[n] if n in values else _initvar_default(plan, n) for n in plan.initvars])


def _initvar_default(plan: _Plan, name: str) -> Any:
    return plan.specs[name].default_value()


@reprlib.recursive_repr()
def _shared_repr(self: Any) -> str:
    plan: _Plan = type(self).__record_plan__
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in plan.repr_names)
    return f"{type(self).__qualname__}({shown})"


def _shared_eq(self: Any, other: object) -> bool:
    if other.__class__ is not self.__class__:
        return NotImplemented
    names = type(self).__record_plan__.compare_names
    return tuple(getattr(self, n) for n in names) == tuple(getattr(other, n) for n in names)


def _shared_hash(self: Any) -> int:
    names = type(self).__record_plan__.compare_names
    return hash(tuple(getattr(self, n) for n in names))


def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    raise FrozenRecordError(f"cannot assign to field '{name}'")


def _frozen_delattr(self: Any, name: str) -> None:
    raise FrozenRecordError(f"cannot delete field '{name}'")


def _with_slots(cls: type, names: list[str]) -> type:
    """The class made again with ``__slots__`` for its own fields (as ``dataclass(slots=True)`` does)."""
    inherited = {slot for base in cls.__mro__[1:] for slot in base.__dict__.get("__slots__", ())}
    body = dict(cls.__dict__)
    body["__slots__"] = tuple(name for name in names if name not in inherited)
    for name in (*names, "__dict__", "__weakref__"):
        body.pop(name, None)
    made = type(cls)(cls.__name__, cls.__bases__, body)
    made.__qualname__ = cls.__qualname__
    return made


def record(
    cls: type[T] | None = None,
    /,
    *,
    frozen: bool = False,
    slots: bool = False,
    eq: bool = True,
    repr: bool = True,
) -> Any:
    """Make ``cls`` a record (see the module docstring); used bare or with options, as ``@dataclass``."""

    def decorate(klass: type[T]) -> type[T]:
        specs, initvars = _class_fields(klass)
        plan = _Plan(specs, initvars)
        if slots:
            klass = _with_slots(klass, [f.name for f in plan.fields])
        own = klass.__dict__
        klass.__record_plan__ = plan  # type: ignore[attr-defined]
        klass.__record_frozen__ = frozen  # type: ignore[attr-defined]
        if "__init__" not in own:
            klass.__init__ = _shared_init  # type: ignore[misc]
        if repr and "__repr__" not in own:
            klass.__repr__ = _shared_repr  # type: ignore[assignment,method-assign]
        if eq and "__eq__" not in own:
            klass.__eq__ = _shared_eq  # type: ignore[assignment,method-assign]
        explicit_hash = "__hash__" in own and not (own["__hash__"] is None and "__eq__" in own)
        if eq and not explicit_hash:
            klass.__hash__ = _shared_hash if frozen else None  # type: ignore[assignment,method-assign]
        if frozen:
            if "__setattr__" in own or "__delattr__" in own:
                raise TypeError(f"{klass.__qualname__} is frozen: it cannot define __setattr__ or __delattr__")
            klass.__setattr__ = _frozen_setattr  # type: ignore[assignment,method-assign]
            klass.__delattr__ = _frozen_delattr  # type: ignore[assignment,method-assign]
        klass.__match_args__ = plan.positional  # type: ignore[attr-defined]
        return klass

    return decorate if cls is None else decorate(cls)


def is_record(obj: Any) -> bool:
    """A record class or instance (not a dataclass)."""
    return hasattr(obj if isinstance(obj, type) else type(obj), "__record_plan__")


def fields(obj: Any) -> tuple[Field, ...]:
    """The fields of a record or a dataclass (class or instance), in order, as ``Field`` objects of this module."""
    if is_record(obj):
        return (obj if isinstance(obj, type) else type(obj)).__record_plan__.fields  # type: ignore[no-any-return]
    import dataclasses

    converted = []
    for spec in dataclasses.fields(obj):
        default = MISSING if spec.default is dataclasses.MISSING else spec.default
        factory = MISSING if spec.default_factory is dataclasses.MISSING else spec.default_factory
        kw_only = spec.kw_only is True
        mine = Field(default, factory, spec.init, spec.repr, spec.compare, kw_only, dict(spec.metadata))
        mine.name, mine.type = spec.name, spec.type
        converted.append(mine)
    return tuple(converted)


def replace(obj: T, **changes: Any) -> T:
    """A copy of a record or dataclass instance with ``changes``, made through its ``__init__`` (as
    ``dataclasses.replace``: a field that ``__init__`` does not take cannot be changed)."""
    if not is_record(obj):
        import dataclasses

        return dataclasses.replace(obj, **changes)  # type: ignore[type-var]
    plan: _Plan = type(obj).__record_plan__  # type: ignore[attr-defined]
    for name in changes:
        if name not in plan.init_names:
            raise ValueError(f"field {name} is not an __init__ argument of {type(obj).__qualname__}")
    for spec in plan.init_fields:
        if spec.name not in changes and spec.name not in plan.initvars:
            changes[spec.name] = getattr(obj, spec.name)
    return type(obj)(**changes)


def asdict(obj: Any) -> dict[str, Any]:
    """Fields as a dict, nested records and dataclasses too, other values deep-copied (``dataclasses.asdict``)."""
    if not is_record(obj):
        import dataclasses

        return dataclasses.asdict(obj)
    return {spec.name: _plain(getattr(obj, spec.name)) for spec in fields(obj)}


def _plain(value: Any) -> Any:
    if is_record(value) and not isinstance(value, type):
        return asdict(value)
    if hasattr(type(value), "__dataclass_fields__"):
        return asdict(value)
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a named tuple keeps its type
        return type(value)(*[_plain(item) for item in value])
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(item) for item in value)
    if isinstance(value, dict):
        return type(value)((_plain(k), _plain(v)) for k, v in value.items())
    return copy.deepcopy(value)
