"""Fuzzing the YAML and argument paths: a valid config or a typed refusal, never another exception, never slow.

Hypothesis generates (a) raw text, (b) YAML built from structure with anchors, aliases, deep nesting and
odd scalars, (c) Python-API arguments, commands, variables, sizes and durations. Bounded time: a per-example
deadline and a fixed number of examples, with a derandomised seed so a failure reproduces.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runconfig_jupyter.core.config import ScriptRunConfig
from runconfig_jupyter.core.errors import RunConfigError

pytestmark = pytest.mark.timeout(300)
LIMIT_SECONDS = 1.0  # of the parsing thread's CPU time: wall time would measure the machine's other work, and the
# process's CPU time the threads that earlier tests left in this pytest process
FUZZ = settings(
    max_examples=150,
    deadline=3 * LIMIT_SECONDS * 1000,  # wall-clock guard per example, generous for a loaded machine
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
TRIED = {"accepted": 0, "refused": 0}


def check(build) -> None:
    """``build()`` returns a config (then validated) or raises a RunConfigError; anything else fails the test."""
    started = time.thread_time()
    try:
        config = build()
        config.validate()
        config.to_dict()
        TRIED["accepted"] += 1
    except RunConfigError:
        TRIED["refused"] += 1
    elapsed = time.thread_time() - started
    assert elapsed < LIMIT_SECONDS, f"took {elapsed:.2f}s of CPU"


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "train.py").write_text("print(1)\n")
    return folder


KEYS = st.sampled_from(
    [
        "script",
        "arguments",
        "command",
        "maxRunDurationSeconds",
        "max_run_duration_seconds",
        "environmentVariables",
        "docker",
        "shmSize",
        "environment",
        "target",
        "nodeCount",
        "framework",
        "python",
        "userManagedDependencies",
        "condaDependencies",
        "tags",
        "x",
    ]
)
SCALARS = st.one_of(
    st.sampled_from(
        [
            "train.py",
            "1e21",
            "1.0e+21",
            ".inf",
            "-.inf",
            ".nan",
            "-1",
            "0",
            "99999999999g",
            "2g",
            "~",
            "null",
            "yes",
            "'\\0'",
            '"\\0"',
            '"a\\x00b"',
            "!!binary aGVsbG8=",
            "!!python/object:os.system x",
            "0x7fffffffffffffff",
            "'*'",
            "&a x",
            "*undefined",
        ]
    ),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20).map(lambda t: repr(t)),
)


@st.composite
def yaml_documents(draw) -> str:
    """Block and flow YAML with anchors to earlier nodes and aliases repeating them."""
    lines: list[str] = ["script: train.py"]
    anchors: list[str] = []
    for index in range(draw(st.integers(0, 6))):
        key = draw(KEYS)
        kind = draw(st.sampled_from(["scalar", "scalar", "flow", "anchor", "alias", "nested", "nested", "deep"]))
        if kind == "scalar":
            value = draw(SCALARS)
        elif kind == "flow":
            value = "[" + ", ".join(draw(st.lists(SCALARS, max_size=6))) + "]"
        elif kind == "anchor":
            name = f"a{index}"
            items = anchors[-1:] * draw(st.integers(0, 12))
            value = f"&{name} [" + ", ".join([f"*{a}" for a in items] + draw(st.lists(SCALARS, max_size=3))) + "]"
            anchors.append(name)
        elif kind == "alias" and anchors:
            value = f"*{draw(st.sampled_from(anchors))}"
        elif kind == "nested":
            inner = draw(KEYS)
            value = f"{{{inner}: {draw(SCALARS)}}}"
        else:
            depth = draw(st.sampled_from([1, 5, 60, 66, 5000]))
            value = "[" * depth + "]" * depth
        lines.append(f"{key}: {value}")
    return "\n".join(lines) + "\n"


@FUZZ
@given(text=st.text(max_size=400))
def test_any_text_is_a_config_or_a_config_error(source, text):
    check(lambda: ScriptRunConfig.from_yaml(text, source_directory=str(source)))


@FUZZ
@given(document=yaml_documents())
def test_structured_yaml_with_aliases_and_depth(source, document):
    check(lambda: ScriptRunConfig.from_yaml(document, source_directory=str(source)))


ARG = st.one_of(
    st.text(max_size=50),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.sampled_from(["\0", "a\0b", "x" * 140_000, "--flag=\udcff"]),
    st.none(),
    st.lists(st.integers(), max_size=2),
)


@FUZZ
@given(
    arguments=st.one_of(st.lists(st.text(max_size=20), max_size=4), st.lists(ARG, max_size=8)),
    variables=st.one_of(
        st.dictionaries(st.from_regex(r"[A-Z_]{1,8}", fullmatch=True), st.text(max_size=20), max_size=4),
        st.dictionaries(st.text(max_size=12), ARG, max_size=5),
    ),
    duration=st.one_of(st.none(), st.integers(1, 10**6), st.integers(1, 10**6), ARG),
    shm=st.one_of(
        st.sampled_from(["2g", "1.5g", "512m", "1t", "2T"]),
        st.sampled_from(["99999999999g", "0", "-1m", "1e3g", "2000t"]),
        ARG,
    ),
    command=st.one_of(st.none(), st.none(), st.none(), st.text(max_size=30), st.lists(ARG, max_size=4)),
)
def test_python_api_arguments_variables_sizes_and_durations(source, arguments, variables, duration, shm, command):
    def build() -> ScriptRunConfig:
        config = ScriptRunConfig(
            str(source),
            script=None if command else "train.py",
            command=command or None,
            arguments=[] if command else arguments,
            max_run_duration_seconds=duration,
        )
        config.run_config.environment_variables = dict(variables)
        config.run_config.docker.shm_size = shm
        return config

    check(build)


def test_the_fuzzers_exercised_both_outcomes():
    """Runs last in this module: the generated inputs reached both the accepting and the refusing paths."""
    assert TRIED["accepted"] > 10 and TRIED["refused"] > 100, TRIED
