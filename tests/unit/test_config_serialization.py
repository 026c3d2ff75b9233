"""Azure runconfig YAML handling: key spelling, line numbers, typo suggestions, kept unknown sections."""

from __future__ import annotations

import pytest

from runconfig_jupyter.core.config.serialization import dotted, parse_yaml, to_camel, to_snake
from runconfig_jupyter.core.errors import ConfigError, UnknownKeyError
from runconfig_jupyter.core.runconfig import RunConfiguration


def test_key_spelling_conversions():
    assert to_camel("max_run_duration_seconds") == "maxRunDurationSeconds"
    assert to_snake("maxRunDurationSeconds") == "max_run_duration_seconds"
    assert to_snake(to_camel("process_count_per_node")) == "process_count_per_node"
    assert dotted(["environment", "python", "x"]) == "environment.python.x"
    assert dotted(["arguments", 2]) == "arguments[2]"


def test_parse_yaml_records_line_numbers_by_spelling_insensitive_path():
    data, lines = parse_yaml("script: a.py\nenvironment:\n  python:\n    interpreterPath: /usr/bin/python3\n")
    assert data["environment"]["python"]["interpreterPath"] == "/usr/bin/python3"
    assert lines.line(("environment", "python", "interpreter_path")) == 4
    assert lines.line(("script",)) == 1
    assert lines.line(("nothing",)) is None


def test_yaml_syntax_error_names_the_line():
    with pytest.raises(ConfigError, match=r"not valid YAML.*\(line 3\)") as caught:
        parse_yaml("script: a.py\narguments: [1, 2\nnodeCount: 1\n")
    assert caught.value.line == 3


def test_camel_and_snake_case_load_to_the_same_object():
    camel = RunConfiguration.from_dict({"maxRunDurationSeconds": 5, "nodeCount": 2, "pyTorch": {"processCount": 4}})
    snake = RunConfiguration.from_dict(
        {"max_run_duration_seconds": 5, "node_count": 2, "pytorch": {"process_count": 4}}
    )
    assert camel == snake
    assert camel.pytorch.process_count == 4


def test_camel_typo_suggests_camel_key_with_line():
    _, lines = parse_yaml("script: a.py\nmaxRunDurationSecond: 10\n")
    with pytest.raises(UnknownKeyError) as caught:
        RunConfiguration.from_dict({"script": "a.py", "maxRunDurationSecond": 10}, (), lines)
    error = caught.value
    assert error.suggestion == "maxRunDurationSeconds" and error.line == 2
    assert "Did you mean 'maxRunDurationSeconds'?" in str(error) and "(line 2)" in str(error)


def test_snake_typo_suggests_snake_key():
    with pytest.raises(UnknownKeyError, match=r"Did you mean 'environment_variables'") as caught:
        RunConfiguration.from_dict({"environment_variabels": {}})
    assert caught.value.field == "environment_variabels"


def test_nested_typo_names_the_section_and_line():
    text = "environment:\n  python:\n    userManagedDependency: true\n"
    data, lines = parse_yaml(text)
    with pytest.raises(UnknownKeyError) as caught:
        RunConfiguration.from_dict(data, (), lines)
    assert caught.value.field == "environment.python.userManagedDependency"
    assert caught.value.suggestion == "userManagedDependencies" and caught.value.line == 3


def test_unknown_and_unmodelled_sections_are_kept_and_written_back():
    data = {
        "script": "a.py",
        "amlCompute": {"vmSize": "STANDARD_D2", "retainCluster": False},  # Azure, unmodelled here
        "someFutureSection": {"x": 1},  # resembles nothing: kept, not dropped
        "environment": {"docker": {"baseImageRegistry": {"address": "r.io"}, "platform": {"os": "Linux"}}},
    }
    config = RunConfiguration.from_dict(data)
    assert config.extra == {"amlCompute": data["amlCompute"], "someFutureSection": {"x": 1}}
    out = config.to_dict()
    assert out["amlCompute"] == data["amlCompute"] and out["someFutureSection"] == {"x": 1}
    assert out["environment"]["docker"]["platform"] == {"os": "Linux"}
    assert RunConfiguration.from_dict(out) == config


def test_duplicate_yaml_key_is_an_error_with_both_lines():
    with pytest.raises(ConfigError, match=r"'nodeCount' is given twice \(first on line 1\).*\(line 3\)"):
        parse_yaml("nodeCount: 1\nscript: a.py\nnodeCount: 2\n")


def test_same_key_in_two_spellings_is_an_error():
    with pytest.raises(ConfigError, match=r"given twice.*nodeCount.*node_count"):
        RunConfiguration.from_dict({"nodeCount": 1, "node_count": 2})


def test_a_section_that_is_not_a_mapping_is_an_error_naming_it():
    data, lines = parse_yaml("script: a.py\nhistory: yes please\n")
    with pytest.raises(ConfigError, match=r"history: expected a mapping.*\(line 2\)"):
        RunConfiguration.from_dict(data, (), lines)


def test_constructor_errors_get_the_field_path_and_line():
    data, lines = parse_yaml("pyTorch:\n  communicationBackend: smoke\n")
    with pytest.raises(ConfigError, match=r"pyTorch\.communication_backend: unknown PyTorch backend.*\(line 2\)"):
        RunConfiguration.from_dict(data, (), lines)
