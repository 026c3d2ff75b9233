"""The remembered engine runtimes (targets/docker/engine_memo.py), against real unix sockets in a temp folder.

No engine is needed: what is judged is whether a remembered answer is reused only for the engine that gave it
(same socket), only while it is young, and that a damaged or missing memo just means "ask the engine".
"""

from __future__ import annotations

import json
import socket

import pytest

from runconfig_jupyter.targets.docker import engine_memo


@pytest.fixture
def engine_socket(tmp_path, run_home):
    """A listening unix socket standing for an engine's; recreated by ``restart()`` like dockerd does."""
    path = tmp_path / "engine.sock"
    held: list[socket.socket] = []

    def restart() -> str:
        for old in held:
            old.close()
        path.unlink(missing_ok=True)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(path))
        server.listen(1)
        held.append(server)
        return f"unix://{path}"

    restart.address = restart()
    yield restart
    for server in held:
        server.close()


def test_runtimes_are_reused_for_the_same_engine(engine_socket):
    address = engine_socket.address
    assert engine_memo.remembered_runtimes(address) is None  # nothing asked yet
    engine_memo.remember_runtimes(address, {"Runtimes": {"runc": {}, "nvidia": {}}})
    assert engine_memo.remembered_runtimes(address) == ["nvidia", "runc"]


def test_a_restarted_engine_is_asked_again(engine_socket):
    engine_memo.remember_runtimes(engine_socket.address, {"Runtimes": {"runc": {}}})
    address = engine_socket()  # a new socket file at the same address: another engine process
    assert engine_memo.remembered_runtimes(address) is None


def test_an_old_answer_is_not_reused(engine_socket, run_home, monkeypatch):
    address = engine_socket.address
    engine_memo.remember_runtimes(address, {"Runtimes": {"runc": {}}})
    memo = run_home / engine_memo.MEMO_FILE
    stored = json.loads(memo.read_text())
    stored[address]["at"] -= engine_memo.REMEMBER_SECONDS + 1
    memo.write_text(json.dumps(stored))
    assert engine_memo.remembered_runtimes(address) is None


def test_a_damaged_memo_or_a_missing_socket_means_ask_the_engine(engine_socket, run_home, tmp_path):
    memo = run_home / engine_memo.MEMO_FILE
    memo.parent.mkdir(exist_ok=True)
    memo.write_text("{not json")
    assert engine_memo.remembered_runtimes(engine_socket.address) is None
    engine_memo.remember_runtimes(engine_socket.address, {"Runtimes": {"runc": {}}})  # rewritten, not raised
    assert engine_memo.remembered_runtimes(engine_socket.address) == ["runc"]
    gone = f"unix://{tmp_path / 'nothing.sock'}"
    engine_memo.remember_runtimes(gone, {"Runtimes": {"nvidia": {}}})
    assert engine_memo.remembered_runtimes(gone) is None
    assert engine_memo.remembered_runtimes("tcp://127.0.0.1:2375") is None  # only local sockets are remembered
