/**
 * Errors in words a person uses: the server's typed errors name API fields (``runconfig_file``,
 * ``compute_target``); here they become the names the person sees, and line breaks are kept.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { APIError } from './api';

const FIELD_WORDS: { [field: string]: string } = {
  path: 'Notebook',
  runconfig: 'Run configuration',
  runconfig_file: 'Runconfig file',
  compute_target: 'Target',
  target: 'Target',
  experiment: 'Experiment name',
  display_name: 'Run name',
  tags: 'Tags',
  script: 'Script',
  arguments: 'Arguments',
  source_directory: 'Source folder',
  body: 'Request'
};

/** "compute_target: unknown target 'gpu'" -> "Target: unknown target 'gpu'". */
export function plainMessage(error: unknown): string {
  if (!(error instanceof APIError)) {
    return (error as Error)?.message ?? String(error);
  }
  let text = error.message;
  if (error.status === 0) {
    return `The Jupyter server did not answer. Is it still running?\n\n${text}`;
  }
  const field = error.field;
  if (field && text.startsWith(`${field}: `)) {
    text = text.slice(field.length + 2);
  }
  const words = field ? FIELD_WORDS[field] ?? FIELD_WORDS[field.split('.').pop() ?? ''] ?? field.replace(/_/g, ' ') : '';
  return words ? `${words}: ${text}` : text;
}

/** A dialog whose text keeps its line breaks (a plain string body would run them together). */
export async function showPlainError(title: string, text: string): Promise<void> {
  const body = document.createElement('div');
  body.className = 'rc-dialog-text';
  body.textContent = text;
  await showDialog({ title, body: new Widget({ node: body }), buttons: [Dialog.okButton({ label: 'OK' })] });
}
