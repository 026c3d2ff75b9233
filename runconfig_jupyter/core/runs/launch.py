"""Command lines as Azure ML ran them, without a shell.

Azure ML v1 joined ``command`` (a string, or a list joined with spaces) into one command line and
ran it with a shell on each node, so ``$NODE_RANK``, ``${MASTER_ADDR}`` or ``$AZ_BATCHAI_TASK_INDEX`` in
the command or in ``arguments`` took that node's value. The documented per-node launch depends on it::

    python -m torch.distributed.launch --nproc_per_node 2 --nnodes 2 --node_rank $NODE_RANK
        --master_addr $MASTER_ADDR --master_port $MASTER_PORT --use_env train.py

Here the line is split by our own POSIX-style tokenizer (quotes and backslashes as in sh), variable
references are kept as a *template*, and every target expands the template with the exact environment
of each process it starts (``expand``). No value is ever handed to a shell, so a value such as
``"; rm -rf ~"`` or ``$(id)`` stays one literal argument: no command substitution, pipes, redirections,
``&&`` or globbing (write ``command=["bash", "-c", "..."]`` when you really want a shell).

Template words: ``${NAME}`` is a reference, ``$$`` a literal dollar; everything else is literal.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterable, Mapping
from typing import Any

from runconfig_jupyter.core.errors import ConfigError

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_REFERENCE = re.compile(rf"\$(?:\{{({_NAME})\}}|({_NAME}))")
_TEMPLATE = re.compile(rf"\$\$|\$\{{({_NAME})\}}")
_DOUBLE_QUOTE_ESCAPES = '"\\$`'


def command_line(command: str | Iterable[Any]) -> str:
    """One command line: a list is joined with spaces, as Azure ML joined it."""
    return command if isinstance(command, str) else " ".join(str(part) for part in command)


def split_command(command: str | Iterable[Any]) -> list[str]:
    """Template words of a command line; raises ValueError on an unclosed quote."""
    text = command_line(command)
    words: list[str] = []
    word: list[str] = []
    started = False  # '' is a word too
    index, length = 0, len(text)
    while index < length:
        char = text[index]
        if char.isspace():
            if started:
                words.append("".join(word))
                word, started = [], False
            index += 1
            continue
        started = True
        if char == "'":
            end = text.find("'", index + 1)
            if end < 0:
                raise ValueError("no closing quotation")
            word.append(text[index + 1 : end].replace("$", "$$"))
            index = end + 1
        elif char == '"':
            index = _double_quoted(text, index + 1, word)
        else:
            index = _plain(text, index, word, escapable=None)
    if started:
        words.append("".join(word))
    return words


def _double_quoted(text: str, index: int, word: list[str]) -> int:
    while index < len(text):
        char = text[index]
        if char == '"':
            return index + 1
        index = _plain(text, index, word, escapable=_DOUBLE_QUOTE_ESCAPES)
    raise ValueError("no closing quotation")


def _plain(text: str, index: int, word: list[str], escapable: str | None) -> int:
    """One character (or escape, or reference) outside single quotes; returns the next index.

    ``escapable`` None: a backslash escapes any character (unquoted); else only those (inside "...").
    """
    char = text[index]
    if char == "\\" and index + 1 < len(text) and (escapable is None or text[index + 1] in escapable):
        word.append(_literal(text[index + 1]))
        return index + 2
    if char == "\\" and escapable is None:
        return index + 1  # a trailing backslash escapes nothing
    if char == "$":
        return _reference(text, index, word)
    word.append(char)
    return index + 1


def _reference(text: str, index: int, word: list[str]) -> int:
    """``$NAME`` / ``${NAME}`` become a template reference; any other ``$`` is literal."""
    match = _REFERENCE.match(text, index)
    if match is None:
        word.append("$$")
        return index + 1
    word.append("${" + (match.group(1) or match.group(2)) + "}")
    return match.end()


def _literal(char: str) -> str:
    return "$$" if char == "$" else char


def argument_template(value: Any) -> str:
    """One ``arguments`` item: ``$NAME``/``${NAME}`` are references (``\\$`` is a literal dollar); it stays one item."""
    text = str(value)
    out: list[str] = []
    index = 0
    while index < len(text):
        if text.startswith("\\$", index):
            out.append("$$")
            index += 2
        elif text[index] == "$":
            index = _reference(text, index, out)
        else:
            out.append(text[index])
            index += 1
    return "".join(out)


def literal(value: str) -> str:
    """A word that must reach the process exactly as given (e.g. an interpreter path)."""
    return value.replace("$", "$$")


def with_interpreter(template: list[str], interpreter_slot: bool, python: str) -> list[str]:
    """``template`` with its first word replaced by the interpreter ``python`` when that word is the
    interpreter's place (``python SCRIPT``, or a command starting with ``python``/``python3``)."""
    if not (interpreter_slot and template):
        return list(template)
    return [*(literal(word) for word in interpreter_words(python)), *template[1:]]


def interpreter_words(python: str) -> list[str]:
    """v1's ``python.interpreter_path`` was put in front of the script on a command line, so it may be a wrapper
    command (``xvfb-run -s '-screen 0 640x480x16' python``): its words, split as sh splits them (quotes, no
    shell). A path that exists, or one without spaces, is one word (a python under a folder with a space)."""
    if not any(char.isspace() for char in python) or os.path.exists(python):
        return [python]
    try:
        words = shlex.split(python)
    except ValueError as error:
        raise ConfigError(
            f"'{python}' is not a command line ({error})", field="environment.python.interpreter_path"
        ) from None
    return words or [python]


def recorded_argv(launch: Mapping[str, Any], python: str, env: Mapping[str, str] | None) -> list[str]:
    """The argv of a run's recorded ``launch`` (``ScriptRunConfig.launch_record``), as ``config.argv`` gives it."""
    return expand(with_interpreter(list(launch["argv_template"]), bool(launch["interpreter_slot"]), python), env)


def expand(template: list[str], env: Mapping[str, str] | None) -> list[str]:
    """The argv one process gets: references replaced from ``env`` (an unset name is empty, as in sh).

    ``env=None`` renders the references as ``${NAME}`` (what a person reading the record should see).
    """

    def value(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        if env is None:
            return "${" + match.group(1) + "}"
        return str(env.get(match.group(1), ""))

    return [_TEMPLATE.sub(value, word) for word in template]
