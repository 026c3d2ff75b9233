"""``%runconfig_form`` and ``%runs_table``: the widget front end as magics.

A separate Magics class so the main magics module needs no widget import;
``runconfig_jupyter.magics.load_ipython_extension`` can register it too.
"""

from __future__ import annotations

import sys
from typing import Any

from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring


@magics_class
class WidgetMagics(Magics):
    @magic_arguments()
    @argument("name", nargs="?", default=None, help="Load this ScriptRunConfig variable into the form.")
    @argument("--experiment", "-e", default="notebook", help="Experiment for Submit.")
    @argument("-o", "--output", default=None, help="Store the form in this variable (form.config, form.run).")
    @line_magic
    def runconfig_form(self, line: str) -> Any:
        """Show a form that builds, checks and submits a ScriptRunConfig."""
        from runconfig_jupyter.widgets.form import RunConfigForm

        args = parse_argstring(self.runconfig_form, line)
        config = self.shell.user_ns.get(args.name) if args.name else None
        if args.name and config is None:
            print(
                f"RunConfigError: no variable named '{args.name}'; define it with %%runconfig {args.name}",
                file=sys.stderr,
            )
            return None
        form = RunConfigForm(config, experiment=args.experiment)
        if args.output:
            self.shell.user_ns[args.output] = form
        form.show()
        return None

    @magic_arguments()
    @argument("--experiment", "-e", default=None)
    @argument("--status", "-s", default=None)
    @argument("--limit", "-n", type=int, default=20)
    @line_magic
    def runs_table(self, line: str) -> Any:
        """Show recent runs as a table widget (filter, details, compare two, cancel); same as ``%runs --table``."""
        from runconfig_jupyter.widgets.runs_table import show_runs_table

        args = parse_argstring(self.runs_table, line)
        show_runs_table(args.experiment, args.status, args.limit)
        return None


def load_ipython_extension(ipython: Any) -> None:
    ipython.register_magics(WidgetMagics(shell=ipython, config=ipython.config))
