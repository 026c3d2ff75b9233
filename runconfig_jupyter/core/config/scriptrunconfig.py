"""``ScriptRunConfig``: what to run (script + arguments, or a command), where, in which environment.

As in Azure ML v1, the script, arguments, command, environment and duration
live in the wrapped ``RunConfiguration`` (the properties here read and write
it), so a config built in Python, read from a ``%%runconfig`` cell or from an
``.azureml/*.runconfig`` file is the same object. ``to_dict``/``from_dict``
are exact inverses: that JSON is how a run's config reaches its detached driver.
"""

from __future__ import annotations

import os
import posixpath
import warnings
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runconfig_jupyter.core.config.distributed_config import (
    DistributedConfig,
    distributed_from_dict,
    distributed_to_dict,
)
from runconfig_jupyter.core.config.environment import Environment
from runconfig_jupyter.core.config.input_checks import check_duration, check_exec_size, check_text
from runconfig_jupyter.core.config.runconfig import (
    DockerConfiguration,
    RunConfiguration,
    check_variables,
    read_conda_file,
)
from runconfig_jupyter.core.config.serialization import LineMap, dump_yaml, norm, parse_yaml
from runconfig_jupyter.core.errors import ConfigError, UnknownKeyError, closest
from runconfig_jupyter.core.runs.launch import argument_template, expand, literal, split_command, with_interpreter
from runconfig_jupyter.core.safety.bounded import read_text_bounded
from runconfig_jupyter.core.snapshot.member_names import MAX_TREE_DEPTH

# run configuration (by id) -> the ScriptRunConfig that last set its arguments, while that one lives (a
# ScriptRunConfig holds its run configuration, so the id cannot be reused meanwhile). Kept here, not on the
# run configuration, so it stays a plain copyable and picklable dataclass.
_ARGUMENTS_SET_BY: weakref.WeakValueDictionary[int, ScriptRunConfig] = weakref.WeakValueDictionary()

if TYPE_CHECKING:  # the confinement checks load with validation: a driver rebuilding a recorded config needs none
    from runconfig_jupyter.core.safety.confine import Confinement

MAX_DURATION_SECONDS_DEFAULT = 2592000  # 30 days, Azure ML's default
DEFAULT_TARGET = "local"
# Keys a %%runconfig cell may hold on top of the run-configuration schema.
SRC_ONLY_KEYS = ("source_directory", "compute_target", "distributed_job_config", "resume_from", "docker_runtime_config")
PYTHON_NAMES = ("python", "python3")
ARGUMENT_TYPES = (str, int, float, bool)


class ScriptRunConfig:
    """Azure ML v1's ``ScriptRunConfig``, same signature and defaults."""

    MAX_DURATION_SECONDS_DEFAULT = MAX_DURATION_SECONDS_DEFAULT

    def __init__(
        self,
        source_directory: str | os.PathLike[str],
        script: str | None = None,
        arguments: list[Any] | tuple[Any, ...] | None = None,
        run_config: RunConfiguration | None = None,
        compute_target: Any = None,
        environment: Environment | None = None,
        distributed_job_config: DistributedConfig | None = None,
        resume_from: Any = None,
        max_run_duration_seconds: int | None = MAX_DURATION_SECONDS_DEFAULT,
        command: str | list[str] | None = None,
        docker_runtime_config: DockerConfiguration | None = None,
    ):
        if command and (script or arguments):
            raise ConfigError(
                "give either command or script (+ arguments), not both: put the script and its "
                "arguments into the command, or drop the command",
                field="command",
            )
        if isinstance(arguments, str):
            raise ConfigError(
                f"must be a list such as ['--epochs', 10], got the text {arguments!r}; "
                "for a whole command line use command=",
                field="arguments",
            )
        if environment is not None and not isinstance(environment, Environment):
            environment = Environment.from_dict(environment, ("environment",))  # a name or an Azure-style dict
        # v1 took '' (as None) for the current folder: ScriptRunConfig(source_directory='', script='train.py')
        self.source_directory = os.fspath(source_directory) if source_directory not in (None, "") else "."
        self.run_config = run_config if run_config is not None else RunConfiguration()
        set_by = _ARGUMENTS_SET_BY.get(id(self.run_config))
        if arguments is None and set_by is not None and set_by is not self:
            # One RunConfiguration given to several ScriptRunConfigs (v1 samples reuse one per target): the fields
            # are shared and the newest ScriptRunConfig sets them, so it never runs with another one's arguments
            # (v1 kept them per ScriptRunConfig). Arguments put into the RunConfiguration by hand stay.
            arguments = []
        self._lines = LineMap()
        self._compute_target: Any = None
        self._distributed: DistributedConfig | None = None
        if script is not None:
            self.script = script
        if arguments is not None:
            self.arguments = arguments
        if command is not None:
            self.command = command
        if environment is not None:
            self.run_config.environment = environment
        if docker_runtime_config is not None:
            self.docker_runtime_config = docker_runtime_config
        if (
            run_config is None
            or max_run_duration_seconds != MAX_DURATION_SECONDS_DEFAULT
            or self.run_config.max_run_duration_seconds is None
        ):
            self.run_config.max_run_duration_seconds = max_run_duration_seconds
        if compute_target is not None:
            if run_config is None:
                self.compute_target = compute_target
            else:
                _warn_target_ignored(compute_target, run_config)
        if distributed_job_config is not None:
            self.distributed_job_config = distributed_job_config
        self.resume_from = resume_from

    @property
    def resume_from(self) -> Any:
        """A run id, a checkpoint folder, or a datastore path kept as ``datastore://name/path``."""
        return self._resume_from

    @resume_from.setter
    def resume_from(self, value: Any) -> None:
        if value is None or isinstance(value, str):  # most configs: no import of the data layer
            self._resume_from = value
            return
        from runconfig_jupyter.core.data.resume import resume_text

        self._resume_from = resume_text(value)

    # -- fields kept in the run configuration -----------------------------------------
    @property
    def script(self) -> str | None:
        return self.run_config.script

    @script.setter
    def script(self, value: str | None) -> None:
        """``./sub/../train.py`` is stored as ``train.py`` (a path that still leaves the folder fails validation)."""
        if isinstance(value, str) and value and not os.path.isabs(value):
            value = posixpath.normpath(value.replace("\\", "/"))
        self.run_config.script = value

    @property
    def arguments(self) -> list[Any]:
        return self.run_config.arguments

    @arguments.setter
    def arguments(self, value: list[Any] | None) -> None:
        """Data objects among them (``ds.as_named_input('x').as_mount()``, ``datastore.path('p').as_download()``,
        ``OutputFileDatasetConfig``) become entries of data / dataReferences / outputData and a placeholder."""
        self.run_config.arguments = list(value or [])
        _ARGUMENTS_SET_BY[id(self.run_config)] = self
        lift_data_objects(self.run_config)

    @property
    def command(self) -> str | list[str] | None:
        return self.run_config.command

    @command.setter
    def command(self, value: str | list[str] | None) -> None:
        """Data objects among the words of a list (``[..., "--data-dir", dataset.as_download(), ...]``, as v1's
        per-node launch samples write) become data entries and a placeholder, as in ``arguments``."""
        self.run_config.command = value
        lift_data_objects(self.run_config)

    @property
    def environment(self) -> Environment:
        return self.run_config.environment

    @environment.setter
    def environment(self, value: Environment) -> None:
        self.run_config.environment = value

    @property
    def max_run_duration_seconds(self) -> int | None:
        return self.run_config.max_run_duration_seconds

    @max_run_duration_seconds.setter
    def max_run_duration_seconds(self, value: int | None) -> None:
        self.run_config.max_run_duration_seconds = value

    @property
    def docker_runtime_config(self) -> DockerConfiguration:
        return self.run_config.docker

    @docker_runtime_config.setter
    def docker_runtime_config(self, value: DockerConfiguration | Mapping[str, Any]) -> None:
        """A ``DockerConfiguration`` or its fields as a dict (``{"use_docker": True, "shm_size": "4g"}``)."""
        if isinstance(value, Mapping):
            value = DockerConfiguration.from_dict(dict(value), ("docker_runtime_config",))
        elif not isinstance(value, DockerConfiguration):
            raise ConfigError(
                f"must be a DockerConfiguration or a dict of its fields, got {type(value).__name__}",
                field="docker_runtime_config",
            )
        self.run_config.docker = value

    @property
    def compute_target(self) -> Any:
        return self._compute_target

    @compute_target.setter
    def compute_target(self, value: Any) -> None:
        """A target name or an object with ``.name``; the run configuration's ``target`` follows it."""
        self._compute_target = value
        name = value if isinstance(value, str) else getattr(value, "name", None)
        if isinstance(name, str) and name:
            self.run_config.target = name

    @property
    def distributed_job_config(self) -> DistributedConfig | None:
        return self._distributed

    @distributed_job_config.setter
    def distributed_job_config(self, value: DistributedConfig | Mapping[str, Any] | None) -> None:
        """Setting one maps it onto framework/communicator/node_count/section, as Azure ML does."""
        if value is None:
            self._distributed = None
            return
        config = distributed_from_dict(value, ("distributed_job_config",))
        for name, setting in config.run_settings().items():
            setattr(self.run_config, name, setting)
        self._distributed = config

    @property
    def target_name(self) -> str:
        target = self._compute_target
        if isinstance(target, str) and target:
            return target
        name = getattr(target, "name", None)
        if isinstance(name, str) and name:
            return name
        return self.run_config.target or DEFAULT_TARGET

    # -- what the targets use ---------------------------------------------------------------
    def argv(self, python: str = "python", env: Mapping[str, str] | None = None) -> list[str]:
        """The process to start, without a shell: ``[python, script, *arguments]`` or the split command.

        ``env`` is the environment of the process being started: ``$NAME``/``${NAME}`` in the command
        and in the arguments expand from it, per process, as Azure ML's shell did (core/launch.py);
        without ``env`` the references are shown as ``${NAME}`` (for display and records).
        Arguments keep their Python types in the config and become ``str()`` here (0.1 -> "0.1").
        A command starting with ``python``/``python3`` gets the target's interpreter instead.
        """
        return expand(self.argv_template(python), env)

    def argv_template(self, python: str = "python") -> list[str]:
        """``argv`` before expansion: targets that start several processes expand it once per process."""
        template, interpreter_slot = self._template()
        return with_interpreter(template, interpreter_slot, python)

    def _template(self) -> tuple[list[str], bool]:
        """The command's template words, and whether the first is where the target's interpreter goes."""
        if self.command:
            parts = split_command(self.command)
            return parts, bool(parts) and parts[0] in PYTHON_NAMES
        return ["python", literal(str(self.script)), *(argument_template(a) for a in self.arguments)], True

    def launch_record(self) -> dict[str, Any]:
        """What starting this run's one process takes, as JSON: recorded in run.json at submit (``launch``) for a
        target whose driver then starts the script without rebuilding the configuration (core/runs/launch.py
        ``recorded_argv``; the local target, targets/local/target.py)."""
        template, interpreter_slot = self._template()
        return {
            "argv_template": template,
            "interpreter_slot": interpreter_slot,
            "environment_variables": self.environment_variables(),
            "max_run_duration_seconds": self.max_run_duration_seconds,
            "mlflow_tracking": bool(self.run_config.history.enable_mlflow_tracking),
        }

    def effective_environment(self) -> Environment:
        return self.run_config.environment

    def environment_variables(self) -> dict[str, str]:
        """The environment's variables, overridden by the run configuration's (run-specific) ones."""
        merged = {**self.run_config.environment.environment_variables, **self.run_config.environment_variables}
        return {str(k): "" if v is None else str(v) for k, v in merged.items()}

    # -- validation -------------------------------------------------------------------------
    def validate(
        self, check_files: bool = True, *, home: Path | None = None, root: Path | None = None
    ) -> Confinement | None:
        """Raise ``ConfigError`` naming the field (and the YAML line when read from YAML) if unusable.

        With ``check_files`` every path also goes through the confinement check (core/confine.py): inside
        the source directory, the run ``home`` or a registered place, never a system location; ``root``
        (the server's root, for REST) bounds everything more tightly. Returns the confinement (``None``
        without ``check_files``): its ``source`` is the real folder that was checked, the one to package.
        """
        if not isinstance(self.source_directory, str) or not self.source_directory:
            raise self._error("must be a folder path", "source_directory")
        lift_data_objects(self.run_config)  # objects put into run_config.arguments (or a command list) directly
        if check_files:  # first: nothing below may look into a folder a run may not reach
            _confine(Path(self.source_directory), home, root, self._lines.line(("source_directory",)))
        source = Path(self.source_directory).expanduser()
        if check_files and not _accessible(source, "source_directory", Path.is_dir):
            raise self._error(
                f"'{self.source_directory}' is not a folder; point source_directory at the folder holding your script",
                "source_directory",
            )
        if self.command and (self.script or self.arguments):
            raise self._error("give either command or script (+ arguments), not both", "command")
        if self.command:
            self._check_command()
        elif not self.script:
            raise self._error("nothing to run: set script (a file in source_directory) or command", "script")
        else:
            self._check_script(source, check_files)
        if not isinstance(self.arguments, list):
            raise self._error("must be a list, e.g. [--epochs, 10]", "arguments")
        for index, argument in enumerate(self.arguments):
            if not isinstance(argument, ARGUMENT_TYPES):
                raise self._error(
                    f"must be text or a number, got {type(argument).__name__} {argument!r}; quote it",
                    "arguments",
                    index,
                )
            self._checked(check_text, argument, "arguments", index)
        self._checked(check_duration, self.max_run_duration_seconds, "max_run_duration_seconds")
        target = self._compute_target
        if target is not None and not isinstance(target, str) and not isinstance(getattr(target, "name", None), str):
            raise self._error("must be a target name such as 'local' or 'docker'", "compute_target")
        if self.resume_from is not None and not isinstance(self.resume_from, str):
            raise self._error("must be a run id, a path or (datastore, 'path')", "resume_from")
        try:
            check_variables(self.run_config.environment_variables, "environment_variables")
            self.run_config.check(prefix="run_config")
            check_exec_size(self.argv(python="python"), self.environment_variables())
            from runconfig_jupyter.core.safety.confine import check_config

            confinement = check_config(self, home, root) if check_files else None
            if confinement is not None and self.resume_from:
                self._check_resume_from(confinement)
        except ConfigError as error:
            if error.line is None and error.field:
                path = error.field.removeprefix("run_config.").split(".")
                line = self._lines.find(path, ("environment", *path))
                if line:
                    error.line = line
                    error.args = (f"{error.args[0]} (line {line})",)
            raise
        return confinement

    def _check_resume_from(self, confinement: Confinement) -> None:
        """A run id or host folder through the confinement check; a datastore path by asking its store."""
        from runconfig_jupyter.core.data.resume import check_resume, parse

        if parse(self.resume_from) is not None:  # no host path is named: the store is asked
            check_resume(self.resume_from)
        else:
            confinement.resume_from(self.resume_from)

    def _check_script(self, source: Path, check_files: bool) -> None:
        if not isinstance(self.script, str):
            raise self._error("must be a file name such as train.py", "script")
        script = Path(self.script)
        if script.is_absolute() or ".." in script.parts:
            raise self._error(
                f"'{self.script}' must be a path relative to source_directory ({self.source_directory})", "script"
            )
        if check_files and not _accessible(source / script, "script", Path.is_file):
            names = _python_files(source)
            guess = closest(self.script, names)
            hint = f" Did you mean '{guess}'?" if guess else ""
            raise self._error(f"'{self.script}' is not a file in {source}.{hint}", "script")

    def _check_command(self) -> None:
        command = self.command
        if isinstance(command, list):
            if not all(isinstance(part, ARGUMENT_TYPES) for part in command):
                raise self._error("a command list holds only text and numbers", "command")
            for index, part in enumerate(command):
                self._checked(check_text, part, "command", index)
        elif not isinstance(command, str):
            raise self._error("must be a command line (text) or a list of words", "command")
        else:
            self._checked(check_text, command, "command")
        try:
            split_command(command)
        except ValueError as error:
            raise self._error(f"cannot split {command!r}: {error}; close the quote", "command") from None

    def _checked(self, check: Callable[[Any, str], Any], value: Any, name: str, index: int | None = None) -> None:
        """Run an input check (core/input_checks.py); its ConfigError gains the YAML line of the field."""
        try:
            check(value, name if index is None else f"{name}[{index}]")
        except ConfigError as error:
            raise self._error(error.message, name, index) from None

    def _error(self, message: str, name: str, index: int | None = None) -> ConfigError:
        path: tuple[Any, ...] = (name,) if index is None else (name, index)
        line = self._lines.find(path, (name,))
        return ConfigError(message, field=name if index is None else f"{name}[{index}]", line=line)

    # -- (de)serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-able and exact: ``ScriptRunConfig.from_dict(c.to_dict()).to_dict() == c.to_dict()``."""
        target = self._compute_target
        if target is not None and not isinstance(target, str):
            target = getattr(target, "name", None)
        return {
            "source_directory": self.source_directory,
            "compute_target": target,
            "distributed_job_config": distributed_to_dict(self._distributed),
            "resume_from": self.resume_from,
            "run_config": self.run_config.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScriptRunConfig:
        unknown = set(data) - {
            "source_directory",
            "compute_target",
            "distributed_job_config",
            "resume_from",
            "run_config",
        }
        if unknown:
            key = sorted(unknown)[0]
            raise UnknownKeyError(key, [*SRC_ONLY_KEYS, "run_config"])
        run_config = RunConfiguration.from_dict(data.get("run_config") or {}, ("run_config",))
        config = cls(
            data.get("source_directory") or ".",
            run_config=run_config,
            max_run_duration_seconds=run_config.max_run_duration_seconds,
            resume_from=data.get("resume_from"),
        )
        config._compute_target = data.get("compute_target")
        if data.get("distributed_job_config"):
            # Already mapped onto run_config when it was saved; do not re-apply over later edits.
            config._distributed = distributed_from_dict(data["distributed_job_config"], ("distributed_job_config",))
        return config

    @classmethod
    def from_yaml(
        cls,
        text: str,
        source_directory: str | os.PathLike[str] = ".",
        *,
        home: Path | None = None,
        root: Path | None = None,
    ) -> ScriptRunConfig:
        """A ``%%runconfig`` body: Azure's runconfig schema plus the ScriptRunConfig keys.

        ``source_directory`` in the YAML is resolved against the given one (the notebook's folder). Files the
        YAML names (environment file, conda file) are read only after the confinement check (core/confine.py)
        accepted them, against the run ``home`` and, for REST submits, the server's ``root``.
        """
        data, lines = parse_yaml(text, what="run configuration")
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ConfigError("the body must be YAML keys, e.g. 'script: train.py'", line=1)
        src_lookup = {norm(key): key for key in SRC_ONLY_KEYS}
        pulled: dict[str, tuple[str, Any]] = {}
        rest: dict[Any, Any] = {}
        for key, value in data.items():
            name = src_lookup.get(norm(key))
            if name is None:
                rest[key] = value
            elif name in pulled:
                raise ConfigError(
                    f"given twice, as '{pulled[name][0]}' and '{key}'", field=name, line=lines.line((key,))
                )
            else:
                pulled[name] = (key, value)
        base = Path(source_directory).expanduser()
        folder = base
        if "source_directory" in pulled:
            key, value = pulled["source_directory"]
            if not isinstance(value, str) or not value:
                raise ConfigError("must be a folder path", field="source_directory", line=lines.line((key,)))
            given = Path(value).expanduser()
            folder = given if given.is_absolute() else base / given
        confinement = _confine(folder, home, root, lines.line((pulled.get("source_directory", ("",))[0],)))
        environment = rest.get(next((k for k in rest if norm(k) == "environment"), None))
        if isinstance(environment, str) and environment.endswith((".yml", ".yaml")):
            env_file = _confined_file(confinement, environment, "environment", lines.line(("environment",)))
            rest = {k: v for k, v in rest.items() if norm(k) != "environment"}
            env_data, env_lines = parse_yaml(
                read_text_bounded(env_file, "environment file", field="environment"),
                what=f"environment {environment}",
            )
            run_config = RunConfiguration.from_dict(rest, (), lines, also_valid=SRC_ONLY_KEYS)
            run_config.environment = Environment.from_dict(env_data, ("environment",), env_lines)
        else:
            run_config = RunConfiguration.from_dict(rest, (), lines, also_valid=SRC_ONLY_KEYS)
        python = run_config.environment.python
        if python.conda_dependencies_file and not python.has_conda():
            where = lines.line(("environment", "python", "condaDependenciesFile"))
            field = "environment.python.conda_dependencies_file"
            conda_file = _confined_file(confinement, python.conda_dependencies_file, field, where)
            python.conda_dependencies_file = str(conda_file)
        try:
            read_conda_file(run_config.environment, (folder,))
        except ConfigError as error:
            error.line = error.line or lines.line(("environment", "python", "condaDependenciesFile"))
            raise
        has_limit = any(norm(k) == "maxrundurationseconds" for k in rest)
        target_key = next((k for k in rest if norm(k) == "target"), None)
        config = cls(
            os.path.normpath(folder),
            run_config=run_config,
            max_run_duration_seconds=run_config.max_run_duration_seconds if has_limit else MAX_DURATION_SECONDS_DEFAULT,
        )
        config._lines = lines
        if "compute_target" in pulled:
            key, value = pulled["compute_target"]
            if target_key is not None and rest[target_key] not in (value, None):
                raise ConfigError(
                    f"'{key}: {value}' and '{target_key}: {rest[target_key]}' disagree; keep one",
                    field="compute_target",
                    line=lines.line((key,)),
                )
            if not isinstance(value, str) or not value:
                raise ConfigError(
                    "must be a target name such as 'local' or 'docker'", field="compute_target", line=lines.line((key,))
                )
            config.compute_target = value
        if "docker_runtime_config" in pulled:
            key, value = pulled["docker_runtime_config"]
            config.run_config.docker = DockerConfiguration.from_dict(value, (key,), lines)
        if "distributed_job_config" in pulled:
            key, value = pulled["distributed_job_config"]
            config.distributed_job_config = distributed_from_dict(value, (key,), lines)
        if "resume_from" in pulled:
            config.resume_from = pulled["resume_from"][1]
        return config

    def to_yaml(self) -> str:
        """A ``%%runconfig`` body that ``from_yaml`` reads back to an equal config."""
        head: dict[str, Any] = {"source_directory": self.source_directory}
        data = self.to_dict()
        for key in ("compute_target", "distributed_job_config", "resume_from"):
            if data[key] is not None:
                head[key] = data[key]
        return dump_yaml({**head, **data["run_config"]})

    # -- presentation ------------------------------------------------------------------------------
    def summary(self) -> str:
        """A few lines for humans: what runs, where, in what environment, for how long (no variable values)."""
        import shlex  # only for this text: not loaded by every import of the configuration classes

        what = shlex.join(self.argv()) if self.command or self.script else "(nothing to run yet)"
        rows = [
            ("run", what if not self.command else f"command: {what}"),
            ("source", self.source_directory),
            ("target", self.target_name),
            ("environment", self.environment.describe()),
        ]
        names = sorted(self.environment_variables())
        if names:
            rows.append(("variables", ", ".join(names)))
        from runconfig_jupyter.core.data.bindings import describe_entries

        data = describe_entries(self.run_config)
        if data:
            rows.append(("data", data))
        limit = self.max_run_duration_seconds
        rows.append(("max duration", f"{limit} s" if limit else "no limit"))
        rc = self.run_config
        if self._distributed is not None or rc.node_count > 1 or rc.framework != "Python":
            rows.append(("distributed", self._describe_distribution()))
        if rc.docker.use_docker or rc.docker.arguments:
            rows.append(("docker run", f"shm {rc.docker.shm_size}, args {rc.docker.arguments}"))
        kept = sorted(rc.extra)
        if kept:
            rows.append(("kept as-is", ", ".join(kept) + " (not used here)"))
        width = max(len(label) for label, _ in rows)
        return "\n".join(f"  {label.ljust(width)}  {value}" for label, value in rows)

    def _describe_distribution(self) -> str:
        rc = self.run_config
        if rc.framework == "PyTorch":
            processes = rc.pytorch.process_count or rc.node_count
            return f"PyTorch ({rc.communicator}), {processes} process(es) on {rc.node_count} node(s)"
        if rc.framework == "TensorFlow":
            return f"TensorFlow, {rc.tensorflow.worker_count} worker(s), {rc.tensorflow.parameter_server_count} PS"
        if rc.communicator in ("IntelMpi", "OpenMpi", "Mpi"):
            return f"MPI, {rc.mpi.process_count_per_node} process(es) per node on {rc.node_count} node(s)"
        return f"{rc.framework} / {rc.communicator} on {rc.node_count} node(s)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ScriptRunConfig) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        what = f"command={self.command!r}" if self.command else f"script={self.script!r}, arguments={self.arguments!r}"
        return f"ScriptRunConfig(source_directory={self.source_directory!r}, {what}, target={self.target_name!r})"


def lift_data_objects(run_config: RunConfiguration) -> None:
    """``bindings.lift_arguments`` when anything in ``run_config`` could be a data object.

    Plain arguments (``ARGUMENT_TYPES``) and section entries already in their recorded form (dicts) never are,
    and they are what most configurations hold: those never import the data layer (core/data/bindings.py and
    the plan, ~3 ms and five dataclasses of a fresh submitting script).
    """
    arguments = run_config.arguments if isinstance(run_config.arguments, list) else []
    command = run_config.command if isinstance(run_config.command, list) else []
    sections = (run_config.data_references, run_config.data, run_config.output_data)
    if all(isinstance(item, ARGUMENT_TYPES) for item in (*arguments, *command)) and all(
        not isinstance(entries, dict) or all(isinstance(entry, dict) for entry in entries.values())
        for entries in sections
    ):
        return
    from runconfig_jupyter.core.data.bindings import lift_arguments

    lift_arguments(run_config)


def _confine(folder: Path, home: Path | None, root: Path | None, line: int | None) -> Confinement:
    from runconfig_jupyter.core.safety.confine import Confinement

    try:
        return Confinement.for_source(folder, home, root)
    except ConfigError as error:
        raise _at_line(error, line) from None


def _confined_file(confinement: Confinement, value: Any, field: str, line: int | None) -> Path:
    """A file the YAML names, resolved against its source folder and accepted by the confinement check."""
    try:
        return confinement.path(value, field, kind="file")
    except ConfigError as error:
        raise _at_line(error, line) from None


def _at_line(error: ConfigError, line: int | None) -> ConfigError:
    if line and error.line is None:
        error.line = line
        error.args = (f"{error.args[0]} (line {line})",)
    return error


def _accessible(path: Path, field: str, test: Callable[[Path], bool]) -> bool:
    """``test(path)``, with "permission denied" turned into a ConfigError naming the field (not a raw OSError)."""
    try:
        return test(path)
    except OSError as error:
        raise ConfigError(
            f"cannot look at {path}: {error.strerror}; fix its permissions or choose another folder", field=field
        ) from None


def _python_files(source: Path, limit: int = 500) -> list[str]:
    """Up to ``limit`` .py files under ``source`` for a "did you mean" hint, no deeper than snapshots go."""
    names: list[str] = []
    for folder, dirs, files in os.walk(source, onerror=lambda _error: None):
        deep = len(Path(folder).relative_to(source).parts) >= MAX_TREE_DEPTH  # os.walk recurses (3.11)
        dirs[:] = [] if deep else [d for d in dirs if not d.startswith(".")]
        names += [Path(folder, f).relative_to(source).as_posix() for f in files if f.endswith(".py")]
        if len(names) >= limit:
            break
    return names[:limit]


def _warn_target_ignored(compute_target: Any, run_config: RunConfiguration) -> None:
    """Azure ML v1 ignores ``compute_target`` when ``run_config`` is given (the run goes to run_config.target)."""
    name = compute_target if isinstance(compute_target, str) else getattr(compute_target, "name", compute_target)
    if name == run_config.target:
        return
    warnings.warn(
        f"compute_target {name!r} is ignored because run_config was given, as in Azure ML: the run goes to "
        f"run_config.target {run_config.target!r}. Set run_config.target = {name!r} (or drop run_config) to run there.",
        UserWarning,
        stacklevel=3,
    )
