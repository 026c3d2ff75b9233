/**
 * The left-sidebar panel: every run, grouped by experiment (collapsible), updated by push.
 *
 * Each row says what tells runs of one script apart (display name or script + arguments, start time,
 * duration, target, id suffix) and its status in words. Rows are list items holding a real button, so
 * Tab reaches every run and Enter opens it without custom key handling; arrow keys move between rows.
 * Status changes are announced through a polite live region. Cancel asks first (cancel.ts).
 */
import { Styling } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import {
  APIError,
  API_VERSION,
  EventsClient,
  IRun,
  IVersion,
  TERMINAL,
  formatDuration,
  formatTime,
  liveDuration,
  requestAPI,
  runLabel,
  shortId,
  statusWords
} from './api';
import { cancellable, confirmAndCancel } from './cancel';

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

/** The status glyph, hidden from screen readers: the status is always also written in words next to it. */
export function statusIcon(status: string): HTMLSpanElement {
  const icon = document.createElement('span');
  icon.className = `rc-status-icon rc-status-${status}`;
  icon.textContent = STATUS_ICONS[status] ?? '?';
  icon.setAttribute('aria-hidden', 'true');
  return icon;
}

function element<K extends keyof HTMLElementTagNameMap>(tag: K, className: string, text = ''): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  if (text) {
    node.textContent = text;
  }
  return node;
}

export class RunsPanel extends Widget {
  private runs = new Map<string, IRun>();
  private total = 0;
  private collapsed = new Set<string>();
  private list: HTMLDivElement;
  private message: HTMLDivElement;
  private announcer: HTMLDivElement;
  private experimentFilter: HTMLSelectElement;
  private statusFilter: HTMLSelectElement;
  private textFilter: HTMLInputElement;
  private cancelAllButton: HTMLButtonElement;
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
    this.node.setAttribute('role', 'region');
    this.node.setAttribute('aria-label', 'Training runs');

    const header = element('div', 'rc-runs-header');
    const titleRow = element('div', 'rc-runs-title');
    const title = element('h2', '', 'Training runs');
    this.cancelAllButton = element('button', 'jp-Button jp-mod-styled jp-mod-warn rc-cancel-all', 'Cancel all');
    this.cancelAllButton.type = 'button';
    this.cancelAllButton.title = 'Cancel every run that is still going (asks first)';
    this.cancelAllButton.onclick = () => void this.cancelRuns(Array.from(this.runs.values()).filter(cancellable));
    titleRow.append(title, this.cancelAllButton);
    header.appendChild(titleRow);

    // Filters look like JupyterLab's own: its styled <select> wrapper and a styled search input.
    this.textFilter = element('input', 'jp-mod-styled rc-filter-text');
    this.textFilter.type = 'search';
    this.textFilter.placeholder = 'Filter by name, arguments, id or target';
    this.textFilter.setAttribute('aria-label', 'Filter runs by name, arguments, id or target');
    this.textFilter.oninput = () => this.render();
    this.experimentFilter = element('select', 'rc-filter-experiment');
    this.experimentFilter.setAttribute('aria-label', 'Filter by experiment');
    this.statusFilter = element('select', 'rc-filter-status');
    this.statusFilter.setAttribute('aria-label', 'Filter by status');
    this.fillOptions(this.statusFilter, ['', 'Active', ...STATUSES], 'All statuses');
    this.fillOptions(this.experimentFilter, [''], 'All experiments');
    this.experimentFilter.onchange = () => this.render();
    this.statusFilter.onchange = () => this.render();
    const filters = element('div', 'rc-filters');
    filters.append(Styling.wrapSelect(this.experimentFilter), Styling.wrapSelect(this.statusFilter));
    header.append(this.textFilter, filters);

    this.message = element('div', 'rc-message');
    this.message.setAttribute('role', 'alert');
    this.announcer = element('div', 'rc-visually-hidden rc-announcer');
    this.announcer.setAttribute('aria-live', 'polite');
    this.announcer.setAttribute('role', 'status');
    this.list = element('div', 'rc-run-list');
    this.list.addEventListener('keydown', event => this.onKey(event));
    this.node.append(header, this.message, this.announcer, this.list);
  }

  private fillOptions(select: HTMLSelectElement, values: string[], allLabel: string): void {
    const current = select.value;
    const wanted = values.map(v => v || allLabel).join('\n');
    if (Array.from(select.options, o => o.textContent).join('\n') === wanted) {
      return; // unchanged: keep the open dropdown and focus as they are
    }
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
      const data = await requestAPI<{ runs: IRun[]; total: number }>(`runs?limit=${PAGE}&offset=${this.runs.size}`);
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

  private announce(text: string): void {
    this.announcer.textContent = text;
  }

  private onEvent(message: any): void {
    if (message.type === 'runs') {
      const changes: string[] = [];
      (message.runs as IRun[]).forEach(run => {
        const before = this.runs.get(run.run_id);
        if (!before) {
          this.total += 1;
          changes.push(`New run ${runLabel(run)} in ${run.experiment}: ${statusWords(run)}`);
        } else if (before.status !== run.status) {
          changes.push(`Run ${runLabel(run)} (${shortId(run.run_id)}) ${statusWords(run)}`);
        }
        this.runs.set(run.run_id, run);
      });
      if (changes.length) {
        this.announce(changes.slice(-3).join('. '));
      }
      this.render();
    } else if (message.type === 'hello') {
      // (re)connected: catch up on anything missed while the socket was down
      void this.refresh();
    }
  }

  private visibleRuns(): IRun[] {
    const experiment = this.experimentFilter.value;
    const status = this.statusFilter.value;
    const text = this.textFilter.value.trim().toLowerCase();
    return Array.from(this.runs.values())
      .filter(run => !experiment || run.experiment === experiment)
      .filter(run => (!status ? true : status === 'Active' ? !TERMINAL.includes(run.status) : run.status === status))
      .filter(
        run =>
          !text ||
          [runLabel(run), run.run_id, run.target, run.experiment, ...Object.values(run.tags ?? {})]
            .join(' ')
            .toLowerCase()
            .includes(text)
      )
      .sort((a, b) => b.created_at - a.created_at);
  }

  /** Redraw the list, keeping keyboard focus on the row (and button) that had it. */
  private render(): void {
    const focused = document.activeElement as HTMLElement | null;
    const inList = focused && this.list.contains(focused);
    const focusKey = inList ? this.focusKey(focused!) : null;

    const all = Array.from(this.runs.values());
    const experiments = Array.from(new Set(all.map(r => r.experiment))).sort();
    this.fillOptions(this.experimentFilter, ['', ...experiments], 'All experiments');
    const active = all.filter(cancellable).length;
    this.cancelAllButton.disabled = active === 0;
    this.cancelAllButton.textContent = active ? `Cancel all (${active})` : 'Cancel all';
    this.cancelAllButton.setAttribute('aria-label', `Cancel all running runs (${active} running)`);

    const runs = this.visibleRuns();
    this.list.textContent = '';
    if (!runs.length) {
      this.list.appendChild(
        element(
          'div',
          'rc-empty',
          this.runs.size
            ? 'No run matches the filters.'
            : 'No runs yet. Submit one with %submit in a notebook or the notebook toolbar\'s "Submit".'
        )
      );
      return;
    }
    const groups = new Map<string, IRun[]>();
    runs.forEach(run => {
      if (!groups.has(run.experiment)) {
        groups.set(run.experiment, []);
      }
      groups.get(run.experiment)!.push(run);
    });
    let index = 0;
    groups.forEach((group, experiment) => {
      index += 1;
      const open = !this.collapsed.has(experiment);
      const section = element('section', 'rc-experiment');
      section.dataset.experiment = experiment;
      const heading = element('h3', 'rc-experiment-heading');
      const toggle = element('button', 'rc-experiment-name');
      toggle.type = 'button';
      toggle.setAttribute('aria-expanded', String(open));
      const listId = `rc-experiment-runs-${index}`;
      toggle.setAttribute('aria-controls', listId);
      const caret = element('span', 'rc-caret', open ? '▾' : '▸');
      caret.setAttribute('aria-hidden', 'true');
      const running = group.filter(r => !TERMINAL.includes(r.status)).length;
      toggle.append(caret, element('span', 'rc-experiment-label', `${experiment} (${group.length})`));
      if (running) {
        toggle.append(element('span', 'rc-experiment-running', `${running} active`));
      }
      toggle.title = `${open ? 'Collapse' : 'Expand'} experiment ${experiment}`;
      toggle.onclick = () => {
        if (open) {
          this.collapsed.add(experiment);
        } else {
          this.collapsed.delete(experiment);
        }
        this.render();
        this.list.querySelector<HTMLElement>(`.rc-experiment[data-experiment="${CSS.escape(experiment)}"] .rc-experiment-name`)?.focus();
      };
      heading.appendChild(toggle);
      const items = element('ul', 'rc-run-items');
      items.id = listId;
      items.setAttribute('aria-label', `Runs of experiment ${experiment}`);
      items.hidden = !open;
      if (open) {
        group.forEach(run => items.appendChild(this.renderRun(run)));
      }
      section.append(heading, items);
      this.list.appendChild(section);
    });
    if (this.total > this.runs.size) {
      const more = element('button', 'jp-Button jp-mod-styled rc-load-more', `Show older runs (${this.total - this.runs.size} more)`);
      more.type = 'button';
      more.onclick = () => void this.loadMore();
      this.list.appendChild(more);
    }
    if (focusKey) {
      this.list.querySelector<HTMLElement>(focusKey)?.focus();
    }
  }

  private focusKey(node: HTMLElement): string | null {
    const row = node.closest<HTMLElement>('.rc-run');
    if (row) {
      const part = node.classList.contains('rc-run-cancel') ? '.rc-run-cancel' : '.rc-run-open';
      return `.rc-run[data-run-id="${CSS.escape(row.dataset.runId ?? '')}"] ${part}`;
    }
    const section = node.closest<HTMLElement>('.rc-experiment');
    if (section) {
      return `.rc-experiment[data-experiment="${CSS.escape(section.dataset.experiment ?? '')}"] .rc-experiment-name`;
    }
    return null;
  }

  private renderRun(run: IRun): HTMLElement {
    const item = element('li', 'rc-run');
    item.dataset.runId = run.run_id;
    item.dataset.status = run.status;
    const label = runLabel(run);
    const started = formatTime(run.started_at ?? run.created_at);
    const duration = formatDuration(liveDuration(run));
    const args = (run.arguments ?? []).join(' ');

    const open = element('button', 'rc-run-open');
    open.type = 'button';
    open.onclick = () => this.openRun(run.run_id);
    const summary = [
      `${label}`,
      `run ${shortId(run.run_id)}`,
      statusWords(run),
      `on ${run.target}`,
      started ? `started ${started}` : '',
      duration ? `took ${duration}` : ''
    ].filter(Boolean);
    open.setAttribute('aria-label', `Open run ${summary.join(', ')}`);
    open.title = [
      `Run ${run.run_id}`,
      `Experiment: ${run.experiment}`,
      `Script: ${run.script ?? ''}${args ? ' ' + args : ''}`,
      run.display_name ? `Name: ${run.display_name}` : '',
      `Target: ${run.target} (${run.target_type})`,
      `Status: ${run.status}${run.reason ? ' - ' + run.reason : ''}`,
      `Started: ${run.started_at ? new Date(run.started_at * 1000).toLocaleString() : 'not yet'}`,
      duration ? `Duration: ${duration}` : '',
      run.parent_run_id ? `Re-run of ${run.parent_run_id}` : '',
      'Enter or click opens the run view'
    ]
      .filter(Boolean)
      .join('\n');

    const first = element('span', 'rc-run-line');
    const name = element('span', 'rc-run-name', run.display_name || run.script || run.run_id);
    first.append(statusIcon(run.status), name);
    if (!run.display_name && args) {
      first.append(element('span', 'rc-run-args', args));
    }
    first.append(element('span', 'rc-run-id', shortId(run.run_id)));
    const meta = element('span', 'rc-run-meta');
    meta.append(element('span', `rc-run-status-text rc-status-${run.status}`, run.status));
    meta.append(element('span', 'rc-run-target', run.target));
    const time = element('span', 'rc-run-age', started);
    time.dataset.runId = run.run_id;
    const took = element('span', 'rc-run-duration', duration);
    took.dataset.runId = run.run_id;
    meta.append(time, took);
    open.append(first, meta);
    item.appendChild(open);

    if (cancellable(run)) {
      const cancel = element('button', 'rc-run-cancel', 'Cancel');
      cancel.type = 'button';
      cancel.title = `Cancel run ${shortId(run.run_id)} (asks first)`;
      cancel.setAttribute('aria-label', `Cancel run ${label} (${shortId(run.run_id)})`);
      cancel.onclick = event => {
        event.stopPropagation();
        void this.cancelRuns([run]);
      };
      item.appendChild(cancel);
    }
    return item;
  }

  private async cancelRuns(runs: IRun[]): Promise<void> {
    try {
      const updated = await confirmAndCancel(runs);
      updated.forEach(run => this.runs.set(run.run_id, run));
      if (updated.length) {
        this.announce(updated.length === 1 ? 'Cancel requested for 1 run' : `Cancel requested for ${updated.length} runs`);
        this.render();
      }
    } catch (error) {
      this.showMessage(`Cancel failed: ${(error as Error).message}`, 'rc-error');
    }
  }

  /** Up/Down move between run rows and experiment headings; Home/End jump to the first/last. */
  private onKey(event: KeyboardEvent): void {
    if (!['ArrowDown', 'ArrowUp', 'Home', 'End'].includes(event.key)) {
      return;
    }
    const stops = Array.from(this.list.querySelectorAll<HTMLElement>('.rc-experiment-name, .rc-run-open'));
    const index = stops.indexOf(document.activeElement as HTMLElement);
    if (index < 0 || !stops.length) {
      return;
    }
    const next =
      event.key === 'Home'
        ? 0
        : event.key === 'End'
          ? stops.length - 1
          : Math.min(stops.length - 1, Math.max(0, index + (event.key === 'ArrowDown' ? 1 : -1)));
    stops[next].focus();
    event.preventDefault();
  }

  private tickDurations(): void {
    this.list.querySelectorAll<HTMLElement>('.rc-run-duration').forEach(el => {
      const run = this.runs.get(el.dataset.runId ?? '');
      if (run && !TERMINAL.includes(run.status)) {
        el.textContent = formatDuration(liveDuration(run));
      }
    });
  }

  dispose(): void {
    window.clearInterval(this.timer);
    this.events.removeListener(this.listener);
    super.dispose();
  }
}

