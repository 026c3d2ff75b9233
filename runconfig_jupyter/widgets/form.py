"""``RunConfigForm``: build a ScriptRunConfig with a form, check it, submit it, watch it.

Two-way with the config object (``form.load(config)`` fills the form,
``form.build()`` returns a validated ScriptRunConfig) and with ``%%runconfig``
YAML (Export / Load buttons). Validation is the core's own (``ConfigError``
with ``field``) plus the chosen target's ``validate``; each error is shown
under the field it names, and nothing is submitted until everything passes.
The target dropdown comes from ``list_targets`` and the fields a target cannot
use (GPU, distributed) are hidden, so the form never offers what would fail.
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from runconfig_jupyter.core.errors import ConfigError, RunConfigError
from runconfig_jupyter.core.runs.explain import human_duration
from runconfig_jupyter.widgets import form_fields as ff

FIELD_WIDTH = "560px"
STYLE = {"description_width": "170px"}
UNDER_FIELD = "0 0 4px 178px"  # errors and notes line up with the inputs, not the labels


def _text(description: str, value: str = "", placeholder: str = "") -> widgets.Text:
    return widgets.Text(
        value=value, description=description, placeholder=placeholder, style=STYLE, layout={"width": FIELD_WIDTH}
    )


def _area(description: str, placeholder: str = "", rows: int = 3) -> widgets.Textarea:
    return widgets.Textarea(
        description=description, placeholder=placeholder, rows=rows, style=STYLE, layout={"width": FIELD_WIDTH}
    )


class RunConfigForm:
    """A form for one ScriptRunConfig. ``show()`` displays it; ``build()`` / ``submit()`` work headless too."""

    def __init__(
        self,
        config: Any = None,
        *,
        source_directory: str | os.PathLike[str] | None = None,
        experiment: str = "notebook",
        check_targets: bool = True,
        store: Any = None,
        on_submit: Callable[[Any], None] | None = None,
    ):
        self.store = store
        self.on_submit = on_submit
        self.run: Any = None
        self.details: Any = None
        _read_target_settings()
        self.targets = ff.target_choices(check=check_targets)

        source = str(source_directory or (config.source_directory if config is not None else os.getcwd()))
        self.experiment = _text("Experiment", experiment)
        self.source_directory = _text("Source directory", source)
        self.script = widgets.Combobox(
            description="Script",
            placeholder="train.py",
            ensure_option=False,
            style=STYLE,
            layout={"width": FIELD_WIDTH},
        )
        self.command = _text("or command", placeholder="e.g. python -m pkg.train --lr 0.1 (replaces script)")
        self.arguments = _text("Arguments", placeholder="--epochs 10 --lr 0.01 (shell quoting)")
        self.data = _area(
            "Data (YAML)", "dataReferences: / data: / outputData: as in a .runconfig file (see docs/data.md)", rows=4
        )
        self.target = widgets.Dropdown(
            description="Compute target",
            options=[(ff.target_label(info), info.name) for info in self.targets],
            style=STYLE,
            layout={"width": FIELD_WIDTH},
        )
        self.target_info = widgets.HTML(layout={"margin": UNDER_FIELD})
        self.image = _text("Docker base image", placeholder="(default image)")
        self.shm_size = _text("Shared memory (shm)", "2g", placeholder="2g")
        self.gpu = widgets.Checkbox(description="Use GPU", style=STYLE, indent=True)
        self.pip_packages = _area("pip packages", "one per line, e.g. numpy==2.1")
        self.requirements_file = _text("requirements file", placeholder="requirements.txt (in the source directory)")
        self.env_vars = _area("Environment variables", "KEY=VALUE, one per line")
        self.max_duration = widgets.IntText(
            description="Max duration (s)", value=ff.DEFAULT_MAX_DURATION, style=STYLE, layout={"width": "320px"}
        )
        self.max_duration_words = widgets.HTML(layout={"margin": "0 0 0 8px"})
        self.max_duration_words.add_class("runconfig-duration-words")
        self.node_count = widgets.IntText(description="Nodes", value=1, style=STYLE, layout={"width": "320px"})
        self.process_count = widgets.IntText(
            description="Processes per node", value=1, style=STYLE, layout={"width": "320px"}
        )
        self.backend = widgets.Dropdown(
            description="Distribution", options=list(ff.BACKENDS), style=STYLE, layout={"width": "420px"}
        )
        self.yaml = widgets.Textarea(
            placeholder="%%runconfig YAML: Export fills this in; paste YAML and press Load to fill the form",
            rows=10,
            layout={"width": "720px"},
        )
        self.export_button = widgets.Button(description="Export YAML", icon="download")
        self.load_button = widgets.Button(description="Load YAML", icon="upload")
        self.check_button = widgets.Button(description="Check", icon="check")
        self.submit_button = widgets.Button(description="Submit", icon="play", button_style="primary")
        self.message = widgets.HTML()
        self.result = widgets.VBox()

        self.errors: dict[str, widgets.HTML] = {key: widgets.HTML() for key in ff.FIELD_KEYS}
        for label in self.errors.values():
            label.add_class("runconfig-field-error")
            label.layout.display = "none"
            label.layout.margin = UNDER_FIELD

        def row(key: str, *items: widgets.Widget) -> widgets.VBox:
            return widgets.VBox([*items, self.errors[key]])

        self.gpu_row = row("gpu", self.gpu)
        self.docker_box = widgets.VBox([row("image", self.image), row("shm_size", self.shm_size)])
        self.distributed_box = widgets.VBox(
            [widgets.HTML("<b>Distributed</b>"), self.backend, self.node_count, self.process_count],
        )
        self.distributed_row = row("distributed", self.distributed_box)
        self.max_duration_row = row("max_duration", widgets.HBox([self.max_duration, self.max_duration_words]))
        self.widget = widgets.VBox(
            [
                row("experiment", self.experiment),
                row("source_directory", self.source_directory),
                row("script", self.script),
                row("command", self.command),
                row("arguments", self.arguments),
                row("data", self.data),
                row("target", self.target, self.target_info),
                self.gpu_row,
                self.docker_box,
                row("pip_packages", self.pip_packages),
                row("requirements_file", self.requirements_file),
                row("env_vars", self.env_vars),
                self.max_duration_row,
                self.distributed_row,
                widgets.HBox([self.check_button, self.submit_button, self.export_button, self.load_button]),
                row("general", self.message),
                widgets.Accordion(children=[row("yaml", self.yaml)], titles=("%%runconfig YAML",)),
                self.result,
            ]
        )
        self.widget.add_class("runconfig-form")

        self.source_directory.observe(lambda _change: self._scan_scripts(), names="value")
        self.target.observe(lambda _change: self._apply_capabilities(), names="value")
        self.max_duration.observe(lambda _change: self._say_max_duration(), names="value")
        self._say_max_duration()
        self.check_button.on_click(lambda _b: self.check())
        self.submit_button.on_click(lambda _b: self.submit())
        self.export_button.on_click(lambda _b: self.export_yaml())
        self.load_button.on_click(lambda _b: self.load_yaml())
        self._scan_scripts()
        if config is not None:
            self.load(config)
        self._apply_capabilities()

    # -- display -----------------------------------------------------------
    def show(self) -> None:
        """Display the widget. Returns None (like Azure's ``show()``) so a cell ending in it shows it once."""
        from IPython.display import display

        display(self.widget)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    # -- state -------------------------------------------------------------
    def _scan_scripts(self) -> None:
        self.script.options = tuple(ff.find_scripts(self.source_directory.value))

    def _say_max_duration(self) -> None:
        """2592000 means nothing at a glance; "= 30 days" beside it does."""
        seconds = self.max_duration.value
        self.max_duration_words.value = f"= {human_duration(seconds)}" if seconds > 0 else ""

    def _target_info(self) -> Any:
        return next((info for info in self.targets if info.name == self.target.value), None)

    def _apply_capabilities(self) -> None:
        """Hide what the selected target cannot do, and say why a target is unavailable."""
        info = self._target_info()
        caps = info.capabilities if info is not None else None
        self.gpu_row.layout.display = "" if caps is not None and caps.gpu else "none"
        self.distributed_row.layout.display = "" if caps is not None and caps.distributed else "none"
        # A limit only a target that can enforce it offers (Capabilities.max_duration); unknown: shown.
        self.max_duration_row.layout.display = "" if caps is None or caps.max_duration else "none"
        self.docker_box.layout.display = "" if info is not None and info.type == "docker" else "none"
        if info is None:
            self.target_info.value = ""
            return
        state = "available" if info.available else f"<b>unavailable</b>: {html.escape(info.detail)}"
        description = html.escape(caps.description) if caps is not None and caps.description else ""
        self.target_info.value = f"<small>{info.type} &middot; {state}. {description}</small>"

    @property
    def values(self) -> ff.FormValues:
        """The raw field values (strings), as the user typed them."""
        limited = self.max_duration_row.layout.display != "none"  # hidden: the target cannot enforce a limit
        limit = self.max_duration.value if limited else ff.DEFAULT_MAX_DURATION
        return ff.FormValues(
            source_directory=self.source_directory.value,
            experiment=self.experiment.value,
            script=self.script.value,
            command=self.command.value,
            arguments=self.arguments.value,
            data=self.data.value,
            target=self.target.value or "local",
            image=self.image.value,
            shm_size=self.shm_size.value,
            gpu=bool(self.gpu.value) and self.gpu_row.layout.display != "none",
            pip_packages=self.pip_packages.value,
            requirements_file=self.requirements_file.value,
            env_vars=self.env_vars.value,
            max_duration=limit,
            distributed=self.backend.value if self.distributed_row.layout.display != "none" else "None",
            node_count=self.node_count.value,
            process_count=self.process_count.value,
        )

    def load(self, config: Any) -> None:
        """Fill every field from a ScriptRunConfig."""
        values = ff.values_from_config(config)
        self.source_directory.value = values.source_directory
        self.script.value = values.script
        self.command.value = values.command
        self.arguments.value = values.arguments
        self.data.value = values.data
        if values.target not in [info.name for info in self.targets]:
            self.targets.append(ff.missing_target(values.target))
            self.target.options = [(ff.target_label(info), info.name) for info in self.targets]
        self.target.value = values.target
        self.image.value = values.image
        self.shm_size.value = values.shm_size
        self.gpu.value = values.gpu
        self.pip_packages.value = values.pip_packages
        self.requirements_file.value = values.requirements_file
        self.env_vars.value = values.env_vars
        self.max_duration.value = values.max_duration
        self.backend.value = values.distributed
        self.node_count.value = values.node_count
        self.process_count.value = values.process_count
        self._apply_capabilities()

    # -- validation ------------------------------------------------------------
    def clear_errors(self) -> None:
        for label in self.errors.values():
            label.value = ""
            label.layout.display = "none"

    def show_errors(self, errors: list[ConfigError | RunConfigError]) -> None:
        """Put each error under the field it names (``ConfigError.field``); the rest under the buttons."""
        self.clear_errors()
        by_key: dict[str, list[str]] = {}
        for error in errors:
            key = ff.field_key(getattr(error, "field", None))
            by_key.setdefault(key, []).append(f"{type(error).__name__}: {error}")
        for key, messages in by_key.items():
            label = self.errors[key]
            label.value = "".join(
                f"<div style='color:#c62828' class='runconfig-error' data-field='{key}'>{html.escape(m)}</div>"
                for m in messages
            )
            label.layout.display = ""

    @property
    def field_errors(self) -> dict[str, str]:
        """Shown error text by form field (what the user sees; tests read it)."""
        return {key: label.value for key, label in self.errors.items() if label.value}

    def build(self, check_snapshot: bool = False) -> Any:
        """A validated ScriptRunConfig, or None with the errors shown by field.

        ``check_snapshot`` (the Check button) also measures the source folder against the packaging
        limits, the one refusal Submit could still make; Submit itself measures it while packaging.
        """
        self.message.value = ""
        config, errors = ff.build_config(self.values, self.targets)
        if check_snapshot and not any(ff.field_key(getattr(e, "field", None)) == "source_directory" for e in errors):
            errors = [*errors, *ff.check_snapshot(self.values.source_directory, self.store)]
            config = None if errors else config
        if errors:
            self.show_errors(errors)
            return None
        self.clear_errors()
        self.message.value = "<span style='color:#1e7e34'>Configuration is valid.</span>"
        return config

    def check(self) -> bool:
        """What the Check button does: every check Submit makes, all errors shown at once; True when valid."""
        return self.build(check_snapshot=True) is not None

    @property
    def config(self) -> Any:
        """The ScriptRunConfig the form describes; raises the first ConfigError when it is not valid."""
        config, errors = ff.build_config(self.values, self.targets)
        if errors:
            raise errors[0]
        return config

    # -- actions ---------------------------------------------------------------
    def submit(self) -> Any:
        """Validate, submit, show the RunDetails below the form; returns the run or None (nothing submitted)."""
        from runconfig_jupyter.core.runs.script_run import submit

        config = self.build()
        if config is None:
            return None
        try:
            run = submit(
                config,
                self.experiment.value.strip() or "notebook",
                target=self.target.value or "local",
                store=self.store,
            )
        except RunConfigError as error:
            self.message.value = ""
            self.show_errors([error])
            return None
        from runconfig_jupyter.widgets.run_details import RunDetails

        if self.details is not None:
            self.details.close()
        self.run = run
        self.details = RunDetails(run).start()
        self.result.children = (self.details.widget,)
        self.message.value = f"<span style='color:#1e7e34'>Submitted {html.escape(run.id)}</span>"
        if self.on_submit is not None:
            self.on_submit(run)
        return run

    def export_yaml(self) -> str | None:
        """Put the ``%%runconfig`` YAML of what differs from the defaults in the YAML box (and return it)."""
        config = self.build()
        if config is None:
            return None
        text = ff.minimal_yaml(config)
        self.yaml.value = text
        return text

    def load_yaml(self, text: str | None = None) -> Any:
        """Fill the form from ``%%runconfig`` YAML (the YAML box by default); returns the config or None."""
        from runconfig_jupyter.core.config import ScriptRunConfig

        if text is not None:
            self.yaml.value = text
        source = self.source_directory.value or os.getcwd()
        try:
            config = ScriptRunConfig.from_yaml(self.yaml.value, source_directory=source)
        except ConfigError as error:
            self.show_errors([ConfigError(str(error), field="yaml")])
            return None
        self.clear_errors()
        self.load(config)
        self.message.value = "<span style='color:#1e7e34'>Loaded the YAML into the form.</span>"
        return config


def _read_target_settings() -> None:
    """A form used without ``%load_ext runconfig_jupyter`` still sees the shell's ``c.TargetSettings``."""
    from IPython import get_ipython

    from runconfig_jupyter.core.target.target_settings import ensure_target_settings

    shell = get_ipython()
    ensure_target_settings(shell.config if shell is not None else None)
