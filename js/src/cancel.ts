/**
 * Cancelling runs, asked first: a stray click or Enter on a row must not end hours of training.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { IRun, TERMINAL, post, runLabel, shortId } from './api';

/**
 * Runs that can still be canceled (not ended, target able to cancel, not already asked). The server
 * answers this from the capabilities recorded with the run (`can_cancel`, the answer the notebook
 * widgets give too); the status checks keep a run shown here as it changes locally in step.
 */
export function cancellable(run: IRun): boolean {
  const offered = run.can_cancel ?? run.capabilities?.cancel !== false;
  return offered && !TERMINAL.includes(run.status) && run.status !== 'CancelRequested';
}

/** Ask, then cancel; the runs as the server answered, or [] when the person kept them running. */
export async function confirmAndCancel(runs: IRun[]): Promise<IRun[]> {
  if (!runs.length) {
    return [];
  }
  const body = document.createElement('div');
  const intro = document.createElement('p');
  intro.textContent =
    runs.length === 1
      ? 'This stops the run now. Its log and outputs so far are kept; it cannot be resumed, only re-run.'
      : `This stops ${runs.length} running runs now. Their logs and outputs so far are kept.`;
  const list = document.createElement('ul');
  runs.slice(0, 10).forEach(run => {
    const item = document.createElement('li');
    item.textContent = `${runLabel(run)} (${shortId(run.run_id)}, ${run.experiment})`;
    list.appendChild(item);
  });
  if (runs.length > 10) {
    const more = document.createElement('li');
    more.textContent = `and ${runs.length - 10} more`;
    list.appendChild(more);
  }
  body.append(intro, list);
  const result = await showDialog({
    title: runs.length === 1 ? 'Cancel this run?' : `Cancel ${runs.length} runs?`,
    body: new Widget({ node: body }),
    buttons: [
      Dialog.cancelButton({ label: 'Keep running' }),
      Dialog.warnButton({ label: runs.length === 1 ? 'Cancel run' : 'Cancel all' })
    ]
  });
  if (!result.button.accept) {
    return [];
  }
  const answers = await Promise.allSettled(runs.map(run => post<IRun>(`runs/${run.run_id}/cancel`)));
  const failed = answers.filter(a => a.status === 'rejected') as PromiseRejectedResult[];
  if (failed.length) {
    throw new Error(failed.map(f => (f.reason as Error).message).join('\n'));
  }
  return answers.map(a => (a as PromiseFulfilledResult<IRun>).value);
}
