/**
 * runconfig-jupyter's front-end extension for JupyterLab and Notebook 7: a left-sidebar list of every
 * run, a live run view, and "Submit this notebook's folder" on the notebook toolbar.
 *
 * Where the run view opens: JupyterLab's main area (a tab like any document). Notebook 7's page shell
 * holds exactly one main widget (the notebook or the file tree) and ignores a second one, which is why
 * Submit and a click in the sidebar used to open nothing there; its supported place for extra widgets
 * is the panel under the main area (the 'down' area, with closable tabs), so the run view opens there.
 */
import { ILabShell, ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, InputDialog, MainAreaWidget, ToolbarButton, WidgetTracker } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { runIcon } from '@jupyterlab/ui-components';
import { SplitPanel, Widget } from '@lumino/widgets';

import { APIError, EventsClient, IRun, post } from './api';
import { plainMessage, showPlainError } from './messages';
import { RunView } from './runview';
import { RunsPanel } from './sidebar';

const PLUGIN_ID = 'runconfig-jupyter:plugin';

namespace CommandIDs {
  export const openRun = 'runconfig:open-run';
  export const submitFolder = 'runconfig:submit-notebook-folder';
  export const showRuns = 'runconfig:show-runs';
}

/**
 * Notebook 7's down panel sits in a vertical split under the page and first opens at the height of its
 * tab bar; give it a good share of the page so the run shows, unless the person already made it taller.
 */
function giveRoomBelow(widget: Widget): void {
  const split = widget.parent?.parent?.parent as (Widget & Partial<SplitPanel>) | null | undefined;
  if (!split || typeof split.relativeSizes !== 'function' || typeof split.setRelativeSizes !== 'function') {
    return;
  }
  const sizes = split.relativeSizes();
  if (sizes.length === 2 && sizes[1] < 0.3) {
    split.setRelativeSizes([0.55, 0.45]);
  }
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Every training run in the left sidebar: live logs, charts, outputs, cancel, re-run.',
  autoStart: true,
  optional: [ILayoutRestorer, INotebookTracker, ICommandPalette, IRenderMimeRegistry, ILabShell],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    notebooks: INotebookTracker | null,
    palette: ICommandPalette | null,
    rendermime: IRenderMimeRegistry | null,
    labShell: ILabShell | null
  ) => {
    const events = new EventsClient();
    const tracker = new WidgetTracker<MainAreaWidget<RunView>>({ namespace: 'runconfig-run' });
    // JupyterLab: a main-area tab. Notebook 7 (no ILabShell): the panel under the notebook.
    const area = labShell ? 'main' : 'down';

    const openRun = (runId: string): void => {
      void app.commands.execute(CommandIDs.openRun, { runId });
    };

    const panel = new RunsPanel(events, openRun);
    panel.title.icon = runIcon;
    app.shell.add(panel, 'left', { rank: 600 });
    void panel.start();

    app.commands.addCommand(CommandIDs.showRuns, {
      label: 'Show Training Runs',
      execute: () => app.shell.activateById(panel.id)
    });

    app.commands.addCommand(CommandIDs.openRun, {
      label: 'Open Training Run',
      execute: args => {
        const runId = args.runId as string;
        const existing = tracker.find(w => w.content.runId === runId);
        if (existing) {
          app.shell.activateById(existing.id);
          return existing;
        }
        const view = new RunView({ runId, events, openRun, rendermime });
        const widget = new MainAreaWidget({ content: view });
        widget.id = `runconfig-run-area-${runId}`;
        widget.addClass('rc-run-area');
        widget.title.label = runId;
        widget.title.icon = runIcon;
        widget.title.closable = true;
        view.title.changed.connect(() => {
          widget.title.label = view.title.label;
          widget.title.caption = view.title.caption;
        });
        void tracker.add(widget);
        app.shell.add(widget, area);
        app.shell.activateById(widget.id);
        if (area === 'down') {
          giveRoomBelow(widget);
        }
        void view.start();
        return widget;
      }
    });
    if (restorer) {
      void restorer.restore(tracker, {
        command: CommandIDs.openRun,
        args: widget => ({ runId: widget.content.runId }),
        name: widget => widget.content.runId
      });
    }

    const submitFolder = async (notebook: NotebookPanel | null): Promise<void> => {
      if (!notebook) {
        await showPlainError('Nothing to submit', 'Open a notebook first: its folder is what gets submitted.');
        return;
      }
      await notebook.context.save();
      const body: { [key: string]: string } = { path: notebook.context.path, experiment: 'default' };
      try {
        openRun((await post<IRun>('runs', body)).run_id);
        return;
      } catch (error) {
        if (!(error instanceof APIError && error.field === 'runconfig')) {
          await showPlainError('The run was not submitted', plainMessage(error));
          return;
        }
      }
      // No %%runconfig cell in the notebook: ask for a runconfig file instead.
      const answer = await InputDialog.getText({
        title: 'Choose a runconfig file',
        label:
          'This notebook has no %%runconfig cell. Give a runconfig file (YAML, e.g. .azureml/train.runconfig) ' +
          'relative to the Jupyter root:',
        placeholder: '.azureml/train.runconfig'
      });
      if (!answer.button.accept || !answer.value) {
        return;
      }
      try {
        openRun((await post<IRun>('runs', { ...body, runconfig_file: answer.value })).run_id);
      } catch (error) {
        await showPlainError('The run was not submitted', plainMessage(error));
      }
    };

    app.commands.addCommand(CommandIDs.submitFolder, {
      label: "Submit This Notebook's Folder",
      caption: "Submit the notebook's folder as a training run, using its %%runconfig cell or a runconfig file",
      icon: runIcon,
      isEnabled: () => !!notebooks?.currentWidget,
      execute: () => submitFolder(notebooks?.currentWidget ?? null)
    });

    if (palette) {
      palette.addItem({ command: CommandIDs.showRuns, category: 'Training Runs' });
      palette.addItem({ command: CommandIDs.submitFolder, category: 'Training Runs' });
    }

    if (notebooks) {
      notebooks.widgetAdded.connect((_, notebook) => {
        const button = new ToolbarButton({
          icon: runIcon,
          className: 'rc-submit-button',
          tooltip: "Submit this notebook's folder as a training run (runconfig-jupyter)",
          label: 'Submit',
          onClick: () => void submitFolder(notebook)
        });
        notebook.toolbar.insertItem(10, 'runconfigSubmit', button);
      });
    }
  }
};

export default plugin;
