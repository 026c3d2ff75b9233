/**
 * runconfig-jupyter's JupyterLab extension: a left-sidebar list of every run,
 * a live run view in the main area, and "Submit this notebook's folder".
 */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { Dialog, ICommandPalette, InputDialog, MainAreaWidget, ToolbarButton, WidgetTracker, showErrorMessage } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { runIcon } from '@jupyterlab/ui-components';

import { APIError, EventsClient, IRun, post } from './api';
import { RunView } from './runview';
import { RunsPanel } from './sidebar';

const PLUGIN_ID = 'runconfig-jupyter:plugin';

namespace CommandIDs {
  export const openRun = 'runconfig:open-run';
  export const submitFolder = 'runconfig:submit-notebook-folder';
  export const showRuns = 'runconfig:show-runs';
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Every training run in the left sidebar: live logs, cancel, re-run.',
  autoStart: true,
  optional: [ILayoutRestorer, INotebookTracker, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    notebooks: INotebookTracker | null,
    palette: ICommandPalette | null
  ) => {
    const events = new EventsClient();
    const tracker = new WidgetTracker<MainAreaWidget<RunView>>({ namespace: 'runconfig-run' });

    const openRun = (runId: string): void => {
      void app.commands.execute(CommandIDs.openRun, { runId });
    };
    const openFolder = async (path: string): Promise<void> => {
      await app.commands.execute('filebrowser:activate');
      await app.commands.execute('filebrowser:go-to-path', { path, dontShowBrowser: false });
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
        const view = new RunView({ runId, events, openRun, openFolder });
        const widget = new MainAreaWidget({ content: view });
        widget.id = `runconfig-run-area-${runId}`;
        widget.title.label = runId;
        widget.title.icon = runIcon;
        widget.title.closable = true;
        void tracker.add(widget);
        app.shell.add(widget, 'main');
        app.shell.activateById(widget.id);
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
        await showErrorMessage('Submit', 'Open a notebook first: its folder is what gets submitted.');
        return;
      }
      await notebook.context.save();
      const path = notebook.context.path;
      const body: { [key: string]: string } = { path, experiment: 'default' };
      try {
        const run = await post<IRun>('runs', body);
        openRun(run.run_id);
      } catch (error) {
        if (error instanceof APIError && error.field === 'runconfig') {
          // no %%runconfig cell: ask for a runconfig file instead
          const answer = await InputDialog.getText({
            title: 'Choose a runconfig file',
            label: `${error.message}\nRunconfig YAML file (relative to the Jupyter root):`,
            placeholder: '.azureml/train.runconfig'
          });
          if (!answer.button.accept || !answer.value) {
            return;
          }
          try {
            const run = await post<IRun>('runs', { ...body, runconfig_file: answer.value });
            openRun(run.run_id);
          } catch (second) {
            await showErrorMessage('Submit failed', (second as Error).message, [Dialog.okButton()]);
          }
          return;
        }
        await showErrorMessage('Submit failed', (error as Error).message, [Dialog.okButton()]);
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
