/**
 * The left-sidebar panel: every run, grouped by experiment, updated by push.
 */
import { Widget } from '@lumino/widgets';

import {
  APIError,
  API_VERSION,
  EventsClient,
  IRun,
  IVersion,
  TERMINAL,
  formatAge,
  formatDuration,
  liveDuration,
  post,
  requestAPI
} from './api';

export const STATUS_ICONS: { [status: string]: string } = {
  NotStarted: '○',
  Queued: '◔',
  Preparing: '◑',
  Starting: '◕',
  Running: '●',
  Finalizing: '◉',
  CancelRequested: '⊘',
  Completed: '✔',
  Failed: '✖',
  Canceled: '⊗'
};

const STATUSES = Object.keys(STATUS_ICONS);
const PAGE = 200;

export function statusIcon(status: string): HTMLSpanElement {
  const icon = document.createElement('span');
  icon.className = `rc-status-icon rc-status-${status}`;
  icon.textContent = STATUS_ICONS[status] ?? '?';
  icon.title = status;
  return icon;
}

export class RunsPanel extends Widget {
  private runs = new Map<string, IRun>();
  private total = 0;
  private list: HTMLDivElement;
  private message: HTMLDivElement;
  private experimentFilter: HTMLSelectElement;
  private statusFilter: HTMLSelectElement;
  private timer = 0;
  private listener = (message: any) => this.onEvent(message);

  constructor(
    private events: EventsClient,
    private openRun: (runId: string) => void
  ) {
    super();
    this.id = 'runconfig-runs';
    this.addClass('rc-runs-panel');
    this.title.caption = 'Training runs';

    const header = document.createElement('div');
    header.className = 'rc-runs-header';
    const title = document.createElement('h2');
    title.textContent = 'Runs';
    header.appendChild(title);

    this.experimentFilter = document.createElement('select');
    this.experimentFilter.className = 'rc-filter-experiment';
    this.experimentFilter.title = 'Filter by experiment';
    this.statusFilter = document.createElement('select');
    this.statusFilter.className = 'rc-filter-status';
    this.statusFilter.title = 'Filter by status';
    this.fillOptions(this.statusFilter, ['', 'Active', ...STATUSES], 'all statuses');
    this.fillOptions(this.experimentFilter, [''], 'all experiments');
    this.experimentFilter.onchange = () => this.render();
    this.statusFilter.onchange = () => this.render();
    const filters = document.createElement('div');
    filters.className = 'rc-filters';
    filters.append(this.experimentFilter, this.statusFilter);
    header.appendChild(filters);

    this.message = document.createElement('div');
    this.message.className = 'rc-message';
    this.list = document.createElement('div');
    this.list.className = 'rc-run-list';
    this.node.append(header, this.message, this.list);
  }

  private fillOptions(select: HTMLSelectElement, values: string[], allLabel: string): void {
    const current = select.value;
    select.textContent = '';
    for (const value of values) {
      const option = document.createElement('option');
      option.value = value;
      option.textContent = value || allLabel;
      select.appendChild(option);
    }
    if (values.includes(current)) {
      select.value = current;
    }
  }

  /** Version handshake, first page of runs, then live updates. */
  async start(): Promise<void> {
    let version: IVersion;
    try {
      version = await requestAPI<IVersion>('version');
    } catch (error) {
      const status = error instanceof APIError ? error.status : 0;
      this.showMessage(
        status === 404
          ? 'The runconfig-jupyter server extension is not running, so runs cannot be listed. ' +
              'Enable it with "jupyter server extension enable runconfig_jupyter.server" ' +
              '(or reinstall with "pip install runconfig-jupyter") and restart JupyterLab.'
          : `Cannot reach the runconfig-jupyter server extension: ${(error as Error).message}`,
        'rc-missing-server'
      );
      return;
    }
    if (version.api_version !== API_VERSION) {
      this.showMessage(
        `The runconfig-jupyter server extension speaks API ${version.api_version} (package ${version.version}) ` +
          `but this sidebar expects API ${API_VERSION}. Install matching versions with ` +
          '"pip install --upgrade runconfig-jupyter" and restart JupyterLab.',
        'rc-version-mismatch'
      );
      return;
    }
    this.events.addListener(this.listener);
    this.events.subscribeRuns();
    await this.refresh();
    this.timer = window.setInterval(() => this.tickDurations(), 1000);
  }

  async refresh(): Promise<void> {
    try {
      const data = await requestAPI<{ runs: IRun[]; total: number }>(`runs?limit=${PAGE}`);
      this.runs.clear();
      data.runs.forEach(run => this.runs.set(run.run_id, run));
      this.total = data.total;
      this.showMessage('', '');
      this.render();
    } catch (error) {
      this.showMessage(`Cannot list runs: ${(error as Error).message}`, 'rc-error');
    }
  }

  /** The next page of older runs (live pushes only bring runs that change). */
  async loadMore(): Promise<void> {
    try {
      const data = await requestAPI<{ runs: IRun[]; total: number }>(
        `runs?limit=${PAGE}&offset=${this.runs.size}`
      );
      data.runs.forEach(run => this.runs.set(run.run_id, run));
      this.total = data.total;
      this.render();
    } catch (error) {
      this.showMessage(`Cannot list runs: ${(error as Error).message}`, 'rc-error');
    }
  }

  private showMessage(text: string, kind: string): void {
    this.message.textContent = text;
    this.message.className = `rc-message ${kind}`;
    this.message.style.display = text ? 'block' : 'none';
  }

  private onEvent(message: any): void {
    if (message.type === 'runs') {
      (message.runs as IRun[]).forEach(run => {
        if (!this.runs.has(run.run_id)) {
          this.total += 1;
        }
        this.runs.set(run.run_id, run);
      });
      this.render();
    } else if (message.type === 'hello') {
      // (re)connected: catch up on anything missed while the socket was down
      void this.refresh();
    }
  }

  private visibleRuns(): IRun[] {
    const experiment = this.experimentFilter.value;
    const status = this.statusFilter.value;
    return Array.from(this.runs.values())
      .filter(run => !experiment || run.experiment === experiment)
      .filter(run =>
        !status ? true : status === 'Active' ? !TERMINAL.includes(run.status) : run.status === status
      )
      .sort((a, b) => b.created_at - a.created_at);
  }

  private render(): void {
    const experiments = Array.from(new Set(Array.from(this.runs.values()).map(r => r.experiment))).sort();
    this.fillOptions(this.experimentFilter, ['', ...experiments], 'all experiments');
    const runs = this.visibleRuns();
    this.list.textContent = '';
    if (!runs.length) {
      const empty = document.createElement('div');
      empty.className = 'rc-empty';
      empty.textContent = this.runs.size
        ? 'No run matches the filters.'
        : 'No runs yet. Submit one with %submit in a notebook or "Submit this notebook\'s folder".';
      this.list.appendChild(empty);
      return;
    }
    const groups = new Map<string, IRun[]>();
    runs.forEach(run => {
      if (!groups.has(run.experiment)) {
        groups.set(run.experiment, []);
      }
      groups.get(run.experiment)!.push(run);
    });
    groups.forEach((group, experiment) => {
      const section = document.createElement('div');
      section.className = 'rc-experiment';
      section.dataset.experiment = experiment;
      const heading = document.createElement('div');
      heading.className = 'rc-experiment-name';
      heading.textContent = `${experiment} (${group.length})`;
      section.appendChild(heading);
      group.forEach(run => section.appendChild(this.renderRun(run)));
      this.list.appendChild(section);
    });
    if (this.total > this.runs.size) {
      const more = document.createElement('button');
      more.className = 'jp-Button jp-mod-styled rc-load-more';
      more.textContent = `Show older runs (${this.total - this.runs.size} more)`;
      more.onclick = () => void this.loadMore();
      this.list.appendChild(more);
    }
  }

  private renderRun(run: IRun): HTMLElement {
    const item = document.createElement('div');
    item.className = 'rc-run';
    item.dataset.runId = run.run_id;
    item.dataset.status = run.status;
    item.title = `${run.run_id}\n${run.status}${run.reason ? ': ' + run.reason : ''}`;
    item.onclick = () => this.openRun(run.run_id);

    const name = document.createElement('span');
    name.className = 'rc-run-name';
    name.textContent = run.display_name || run.script || run.run_id;
    const meta = document.createElement('span');
    meta.className = 'rc-run-meta';
    const target = document.createElement('span');
    target.className = 'rc-run-target';
    target.textContent = run.target;
    const duration = document.createElement('span');
    duration.className = 'rc-run-duration';
    duration.dataset.runId = run.run_id;
    duration.textContent = formatDuration(liveDuration(run));
    const age = document.createElement('span');
    age.className = 'rc-run-age';
    age.dataset.runId = run.run_id;
    age.textContent = formatAge(run.created_at);
    meta.append(target, duration, age);
    item.append(statusIcon(run.status), name, meta);
    if (!TERMINAL.includes(run.status) && run.capabilities?.cancel !== false) {
      const cancel = document.createElement('button');
      cancel.className = 'rc-run-cancel';
      cancel.textContent = '■';
      cancel.title = 'Cancel this run';
      cancel.disabled = run.status === 'CancelRequested';
      cancel.onclick = event => {
        event.stopPropagation();
        cancel.disabled = true;
        post<IRun>(`runs/${run.run_id}/cancel`)
          .then(updated => {
            this.runs.set(updated.run_id, updated);
            this.render();
          })
          .catch(error => this.showMessage(`Cancel failed: ${(error as Error).message}`, 'rc-error'));
      };
      item.appendChild(cancel);
    }
    return item;
  }

  private tickDurations(): void {
    this.list.querySelectorAll<HTMLElement>('.rc-run-duration').forEach(el => {
      const run = this.runs.get(el.dataset.runId ?? '');
      if (run && !TERMINAL.includes(run.status)) {
        el.textContent = formatDuration(liveDuration(run));
      }
    });
    this.list.querySelectorAll<HTMLElement>('.rc-run-age').forEach(el => {
      const run = this.runs.get(el.dataset.runId ?? '');
      if (run) {
        el.textContent = formatAge(run.created_at);
      }
    });
  }

  dispose(): void {
    window.clearInterval(this.timer);
    this.events.removeListener(this.listener);
    super.dispose();
  }
}
