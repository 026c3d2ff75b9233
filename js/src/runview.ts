/**
 * A main-area view of one run: status, metrics, Cancel / Re-run / outputs, and its log followed live.
 */
import { Widget } from '@lumino/widgets';

import { EventsClient, IRun, IRunDetail, TERMINAL, formatDuration, liveDuration, post, requestAPI } from './api';
import { statusIcon } from './sidebar';

export interface IRunViewOptions {
  runId: string;
  events: EventsClient;
  openRun: (runId: string) => void;
  openFolder: (path: string) => Promise<void>;
}

const MAX_LOG_CHARS = 2_000_000; // keep the page responsive on huge logs; the full log stays on disk

export class RunView extends Widget {
  readonly runId: string;
  private run: IRun | null = null;
  private events: EventsClient;
  private header: HTMLDivElement;
  private error: HTMLDivElement;
  private metrics: HTMLTableElement;
  private log: HTMLPreElement;
  private cancelButton: HTMLButtonElement;
  private rerunButton: HTMLButtonElement;
  private outputsButton: HTMLButtonElement;
  private metricsTimer = 0;
  private listener = (message: any) => this.onEvent(message);

  constructor(private options: IRunViewOptions) {
    super();
    this.runId = options.runId;
    this.events = options.events;
    this.id = `runconfig-run-${options.runId}`;
    this.addClass('rc-run-view');
    this.title.label = options.runId;
    this.title.closable = true;

    this.header = document.createElement('div');
    this.header.className = 'rc-run-header';
    const actions = document.createElement('div');
    actions.className = 'rc-actions';
    this.cancelButton = this.button('Cancel', 'rc-cancel', () => this.cancel());
    this.rerunButton = this.button('Re-run', 'rc-rerun', () => this.rerun());
    this.outputsButton = this.button('Open outputs', 'rc-outputs', () => this.openOutputs());
    actions.append(this.cancelButton, this.rerunButton, this.outputsButton);
    this.error = document.createElement('div');
    this.error.className = 'rc-run-error';
    this.metrics = document.createElement('table');
    this.metrics.className = 'rc-metrics';
    this.log = document.createElement('pre');
    this.log.className = 'rc-log';
    this.node.append(this.header, actions, this.error, this.metrics, this.log);
  }

  private button(label: string, cls: string, onClick: () => void): HTMLButtonElement {
    const button = document.createElement('button');
    button.className = `jp-Button jp-mod-styled jp-mod-reject rc-button ${cls}`;
    button.textContent = label;
    button.onclick = onClick;
    return button;
  }

  async start(): Promise<void> {
    this.events.addListener(this.listener);
    this.events.subscribeRuns();
    this.events.follow(this.runId);
    try {
      const detail = await requestAPI<IRunDetail>(`runs/${this.runId}`);
      this.showRun(detail);
    } catch (error) {
      this.showError((error as Error).message);
    }
    await this.loadMetrics();
    this.metricsTimer = window.setInterval(() => {
      if (this.run && !TERMINAL.includes(this.run.status)) {
        void this.loadMetrics();
      }
      this.renderHeader();
    }, 2000);
  }

  private onEvent(message: any): void {
    if (message.type === 'log' && message.run_id === this.runId) {
      const atBottom = this.node.scrollTop + this.node.clientHeight >= this.node.scrollHeight - 20;
      let text = (this.log.textContent ?? '') + message.text;
      if (text.length > MAX_LOG_CHARS) {
        text = '[earlier output trimmed in this view]\n' + text.slice(-MAX_LOG_CHARS);
      }
      this.log.textContent = text;
      if (atBottom) {
        this.node.scrollTop = this.node.scrollHeight;
      }
    } else if (message.type === 'runs') {
      const run = (message.runs as IRun[]).find(r => r.run_id === this.runId);
      if (run) {
        this.showRun(run);
        if (TERMINAL.includes(run.status)) {
          void this.loadMetrics();
        }
      }
    } else if (message.type === 'log_end' && message.run_id === this.runId) {
      this.log.dataset.complete = 'true';
    } else if (message.type === 'error') {
      this.showError(message.message);
    }
  }

  private showRun(run: IRun): void {
    this.run = run;
    this.node.dataset.status = run.status;
    this.renderHeader();
    const finished = TERMINAL.includes(run.status);
    const canCancel = run.capabilities?.cancel !== false;
    this.cancelButton.style.display = canCancel && !finished ? '' : 'none';
    this.cancelButton.disabled = run.status === 'CancelRequested';
    this.rerunButton.disabled = !finished && run.status !== 'Running';
    if (run.reason && (run.status === 'Failed' || run.status === 'Canceled')) {
      this.showError(`${run.status}${run.phase ? ' while ' + run.phase : ''}: ${run.reason}`);
    }
  }

  private renderHeader(): void {
    const run = this.run;
    if (!run) {
      return;
    }
    this.header.textContent = '';
    const title = document.createElement('h2');
    title.append(statusIcon(run.status), ` ${run.display_name || run.run_id}`);
    const status = document.createElement('span');
    status.className = 'rc-run-status';
    status.textContent = run.status;
    const facts = document.createElement('div');
    facts.className = 'rc-run-facts';
    const duration = formatDuration(liveDuration(run));
    facts.textContent =
      `experiment ${run.experiment} · target ${run.target} (${run.target_type})` +
      (duration ? ` · ${duration}` : '') +
      (run.exit_code !== null ? ` · exit code ${run.exit_code}` : '') +
      (run.rerun_of
        ? ` · re-run of ${run.rerun_of}`
        : run.parent_run_id
          ? ` · child of ${run.parent_run_id}`
          : '') +
      (run.interactive ? ' · interactive' : '');
    this.header.append(title, status, facts);
  }

  private async loadMetrics(): Promise<void> {
    try {
      const data = await requestAPI<{ metrics: { [name: string]: any } }>(`runs/${this.runId}/metrics`);
      this.metrics.textContent = '';
      const names = Object.keys(data.metrics);
      this.metrics.style.display = names.length ? '' : 'none';
      for (const name of names) {
        const row = this.metrics.insertRow();
        row.insertCell().textContent = name;
        const value = data.metrics[name];
        row.insertCell().textContent = Array.isArray(value)
          ? `${JSON.stringify(value[value.length - 1])} (last of ${value.length})`
          : JSON.stringify(value);
      }
    } catch {
      // metrics are optional; the log is what matters
    }
  }

  private showError(text: string): void {
    this.error.textContent = text;
    this.error.style.display = text ? 'block' : 'none';
  }

  private async cancel(): Promise<void> {
    this.cancelButton.disabled = true;
    try {
      this.showRun(await post<IRun>(`runs/${this.runId}/cancel`));
    } catch (error) {
      this.showError((error as Error).message);
      this.cancelButton.disabled = false;
    }
  }

  private async rerun(): Promise<void> {
    try {
      const run = await post<IRun>(`runs/${this.runId}/rerun`);
      this.options.openRun(run.run_id);
    } catch (error) {
      this.showError((error as Error).message);
    }
  }

  private async openOutputs(): Promise<void> {
    try {
      const data = await post<{ path: string }>(`runs/${this.runId}/outputs`);
      await this.options.openFolder(data.path);
    } catch (error) {
      this.showError((error as Error).message);
    }
  }

  dispose(): void {
    window.clearInterval(this.metricsTimer);
    this.events.removeListener(this.listener);
    this.events.unfollow(this.runId);
    super.dispose();
  }
}
