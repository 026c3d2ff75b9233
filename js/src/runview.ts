/**
 * A view of one run: status in words, Cancel (asks first) / Re-run, its log followed live, metrics as a
 * table and as Vega-Lite charts, logged images, properties and tags, inputs, and its outputs read-only.
 *
 * The log keeps its own scroll box: it follows the end while the reader has not scrolled up, keeps their
 * place when they have (with a "Jump to end" control), and never scrolls the page, so opening a finished
 * run leaves its header in sight. Charts are specs built by the server (core/charts.py, the one builder
 * every front end uses) and drawn by the Vega-Lite renderer registered in the rendermime registry, the
 * same one that draws notebook outputs, so no charting code ships here.
 */
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import {
  EventsClient,
  ICharts,
  IFileListing,
  IMetrics,
  IRun,
  IRunDetail,
  TERMINAL,
  fileUrl,
  formatBytes,
  formatDuration,
  formatTime,
  liveDuration,
  post,
  requestAPI,
  runLabel,
  shortId,
  statusWords
} from './api';
import { cancellable, confirmAndCancel } from './cancel';
import { statusIcon } from './sidebar';

export interface IRunViewOptions {
  runId: string;
  events: EventsClient;
  openRun: (runId: string) => void;
  rendermime: IRenderMimeRegistry | null;
}

const MAX_LOG_CHARS = 2_000_000; // keep the page responsive on huge logs; the full log stays on disk
const END_SLACK_PX = 8;
const EMBED_ACTIONS = { export: true, source: false, compiled: false, editor: false };

function element<K extends keyof HTMLElementTagNameMap>(tag: K, className = '', text = ''): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text) {
    node.textContent = text;
  }
  return node;
}

function section(title: string, className: string): { node: HTMLElement; body: HTMLDivElement } {
  const node = element('section', `rc-section ${className}`);
  const heading = element('h3', 'rc-section-title', title);
  const id = `rc-${className}-${Math.random().toString(36).slice(2, 8)}`;
  heading.id = id;
  node.setAttribute('aria-labelledby', id);
  const body = element('div', 'rc-section-body');
  node.append(heading, body);
  return { node, body };
}

function keyValueTable(rows: [string, string][], caption: string): HTMLTableElement {
  const table = element('table', 'rc-kv');
  table.createCaption().textContent = caption;
  for (const [key, value] of rows) {
    const row = table.insertRow();
    const th = element('th', '', key);
    th.scope = 'row';
    row.appendChild(th);
    row.insertCell().textContent = value;
  }
  return table;
}

function show(value: unknown): string {
  if (value === null || value === undefined) {
    return '';
  }
  if (typeof value === 'number') {
    return Number.isInteger(value) ? String(value) : value.toPrecision(6).replace(/\.?0+$/, '');
  }
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** What an exit code means when a signal ended the script (negative: the signal number; 128+n: a shell's). */
export function explainExit(code: number): string {
  const signals: { [n: number]: string } = {
    2: 'SIGINT (interrupted)',
    9: 'SIGKILL (forced stop, often out of memory)',
    15: 'SIGTERM (cancel or time limit)'
  };
  const signal = code < 0 ? -code : code > 128 && code < 160 ? code - 128 : 0;
  if (signal) {
    return ` (killed by ${signals[signal] ?? 'signal ' + signal})`;
  }
  return code === 0 ? ' (success)' : '';
}

export class RunView extends Widget {
  readonly runId: string;
  private run: IRun | null = null;
  private events: EventsClient;
  private rendermime: IRenderMimeRegistry | null;
  private header: HTMLDivElement;
  private title_: HTMLHeadingElement;
  private status: HTMLDivElement;
  private facts: HTMLDivElement;
  private error: HTMLDivElement;
  private logText = document.createTextNode('');
  private log: HTMLPreElement;
  private jumpButton: HTMLButtonElement;
  private following = true;
  private metricsTable: HTMLTableElement;
  private chartsBox: HTMLDivElement;
  private chartWidgets: Widget[] = [];
  private chartsKey = '';
  private logScale: HTMLInputElement;
  private compare: HTMLInputElement;
  private imagesBody: HTMLDivElement;
  private propertiesBody: HTMLDivElement;
  private inputsBody: HTMLDivElement;
  private outputsBody: HTMLDivElement;
  private outputsSection: HTMLElement;
  private cancelButton: HTMLButtonElement;
  private rerunButton: HTMLButtonElement;
  private outputsButton: HTMLButtonElement;
  private metricsCount = -1;
  private timer = 0;
  private listener = (message: any) => this.onEvent(message);

  constructor(private options: IRunViewOptions) {
    super();
    this.runId = options.runId;
    this.events = options.events;
    this.rendermime = options.rendermime;
    this.id = `runconfig-run-${options.runId}`;
    this.addClass('rc-run-view');
    this.title.label = options.runId;
    this.title.closable = true;
    this.node.setAttribute('role', 'region');
    this.node.setAttribute('aria-label', `Training run ${options.runId}`);

    this.header = element('div', 'rc-run-header');
    this.title_ = element('h2', 'rc-run-title', options.runId);
    this.status = element('div', 'rc-run-status');
    this.status.setAttribute('role', 'status');
    this.status.setAttribute('aria-live', 'polite');
    this.facts = element('div', 'rc-run-facts');
    this.header.append(this.title_, this.status, this.facts);

    const actions = element('div', 'rc-actions');
    this.cancelButton = this.button('Cancel', 'jp-mod-warn rc-cancel', () => void this.cancel());
    this.rerunButton = this.button('Re-run', 'rc-rerun', () => void this.rerun());
    this.outputsButton = this.button('Outputs', 'rc-outputs', () => void this.showOutputs());
    this.outputsButton.title = "Show the run's outputs, read in place (download links; nothing is copied)";
    actions.append(this.cancelButton, this.rerunButton, this.outputsButton);
    this.error = element('div', 'rc-run-error');
    this.error.setAttribute('role', 'alert');

    const logSection = section('Log', 'rc-log-section');
    this.log = element('pre', 'rc-log');
    this.log.tabIndex = 0; // scrollable by keyboard
    this.log.setAttribute('aria-label', 'Run log');
    this.log.appendChild(this.logText);
    this.log.dataset.following = 'true';
    this.log.addEventListener('scroll', () => this.onLogScroll());
    this.jumpButton = this.button('Jump to end ↓', 'rc-jump-end', () => this.jumpToEnd());
    this.jumpButton.hidden = true;
    logSection.body.append(this.log, this.jumpButton);

    const metrics = section('Metrics', 'rc-metrics-section');
    this.metricsTable = element('table', 'rc-metrics');
    const chartOptions = element('div', 'rc-chart-options');
    this.logScale = this.checkbox('Log scale', 'rc-log-scale', chartOptions);
    this.compare = this.checkbox("Compare with the experiment's other runs", 'rc-compare', chartOptions);
    this.chartsBox = element('div', 'rc-charts');
    metrics.body.append(this.metricsTable, chartOptions, this.chartsBox);

    const images = section('Images', 'rc-images-section');
    this.imagesBody = images.body;
    const properties = section('Properties and tags', 'rc-properties-section');
    this.propertiesBody = properties.body;
    const inputs = section('Inputs', 'rc-inputs-section');
    this.inputsBody = inputs.body;
    const outputs = section('Outputs (read-only)', 'rc-outputs-section');
    this.outputsSection = outputs.node;
    this.outputsBody = outputs.body;
    images.node.hidden = true;

    this.node.append(
      this.header,
      actions,
      this.error,
      logSection.node,
      metrics.node,
      images.node,
      properties.node,
      inputs.node,
      outputs.node
    );
  }

  private button(label: string, cls: string, onClick: () => void): HTMLButtonElement {
    const button = element('button', `jp-Button jp-mod-styled rc-button ${cls}`, label);
    button.type = 'button';
    button.onclick = onClick;
    return button;
  }

  private checkbox(label: string, cls: string, parent: HTMLElement): HTMLInputElement {
    const wrapper = element('label', `rc-check ${cls}`);
    const input = element('input');
    input.type = 'checkbox';
    input.onchange = () => void this.loadCharts();
    wrapper.append(input, ` ${label}`);
    parent.appendChild(wrapper);
    return input;
  }

  async start(): Promise<void> {
    this.events.addListener(this.listener);
    this.events.subscribeRuns();
    this.events.follow(this.runId);
    try {
      const detail = await requestAPI<IRunDetail>(`runs/${this.runId}`);
      this.showRun(detail);
      this.showDetail(detail);
    } catch (error) {
      this.showError((error as Error).message);
    }
    await Promise.all([this.loadMetrics(), this.loadOutputs()]);
    this.timer = window.setInterval(() => {
      if (this.run && !TERMINAL.includes(this.run.status)) {
        void this.loadMetrics();
      }
      this.renderHeader();
    }, 2000);
  }

  // -- log -----------------------------------------------------------------
  private atEnd(): boolean {
    return this.log.scrollTop + this.log.clientHeight >= this.log.scrollHeight - END_SLACK_PX;
  }

  private onLogScroll(): void {
    this.following = this.atEnd();
    this.log.dataset.following = String(this.following);
    this.jumpButton.hidden = this.following;
  }

  private jumpToEnd(): void {
    this.following = true;
    this.log.scrollTop = this.log.scrollHeight;
    this.log.dataset.following = 'true';
    this.jumpButton.hidden = true;
  }

  private appendLog(text: string): void {
    if (!text) {
      return;
    }
    this.logText.appendData(text);
    if (this.logText.length > MAX_LOG_CHARS) {
      this.logText.data = '[earlier output trimmed in this view]\n' + this.logText.data.slice(-MAX_LOG_CHARS);
    }
    if (this.following) {
      this.log.scrollTop = this.log.scrollHeight; // only the log box scrolls, never the page
    }
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    if (this.following) {
      this.log.scrollTop = this.log.scrollHeight;
    }
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    void this.loadCharts();
  }

  private onEvent(message: any): void {
    if (message.type === 'log' && message.run_id === this.runId) {
      this.appendLog(message.text);
    } else if (message.type === 'runs') {
      const run = (message.runs as IRun[]).find(r => r.run_id === this.runId);
      if (run) {
        const ended = TERMINAL.includes(run.status) && !(this.run && TERMINAL.includes(this.run.status));
        this.showRun(run);
        if (ended) {
          void this.loadMetrics();
          void this.loadOutputs();
        }
      }
    } else if (message.type === 'log_end' && message.run_id === this.runId) {
      this.log.dataset.complete = 'true';
      if (this.run?.status === 'Failed') {
        this.showTraceback(); // the whole log is in now
      }
    } else if (message.type === 'error' && (!message.run_id || message.run_id === this.runId)) {
      this.showError(message.message);
    }
  }

  // -- header ----------------------------------------------------------------
  private showRun(run: IRun): void {
    const previous = this.run?.status;
    this.run = run;
    this.node.dataset.status = run.status;
    this.title.label = `${runLabel(run)} · ${shortId(run.run_id)}`;
    this.title.caption = `Training run ${run.run_id} (${run.status})`;
    this.renderHeader();
    const finished = TERMINAL.includes(run.status);
    this.cancelButton.hidden = !cancellable(run) && run.status !== 'CancelRequested';
    this.cancelButton.disabled = run.status === 'CancelRequested';
    this.rerunButton.disabled = !finished && run.status !== 'Running';
    if (previous !== run.status) {
      this.status.textContent = `Status: ${statusWords(run)}`;
    }
    if (run.reason && (run.status === 'Failed' || run.status === 'Canceled')) {
      this.showError(`${run.status}${run.phase ? ' while ' + run.phase : ''}: ${run.reason}`);
    }
    if (run.status === 'Failed') {
      this.showTraceback();
    }
  }

  private renderHeader(): void {
    const run = this.run;
    if (!run) {
      return;
    }
    this.title_.textContent = '';
    this.title_.append(statusIcon(run.status), ` ${runLabel(run)}`);
    const duration = formatDuration(liveDuration(run));
    this.facts.textContent = [
      `run ${run.run_id}`,
      `experiment ${run.experiment}`,
      `target ${run.target} (${run.target_type})`,
      run.started_at ? `started ${formatTime(run.started_at)}` : '',
      duration ? `${TERMINAL.includes(run.status) ? 'took' : 'running for'} ${duration}` : '',
      run.exit_code !== null ? `exit code ${run.exit_code}${explainExit(run.exit_code)}` : '',
      run.rerun_of ? `re-run of ${run.rerun_of}` : run.parent_run_id ? `child of ${run.parent_run_id}` : '',
      run.interactive ? 'interactive' : ''
    ]
      .filter(Boolean)
      .join(' · ');
  }

  /** A failed script's exception: the last Python traceback of its log, under the error line. */
  private showTraceback(): void {
    const text = this.logText.data;
    const start = text.lastIndexOf('Traceback (most recent call last):');
    if (start < 0) {
      return;
    }
    let box = this.node.querySelector<HTMLPreElement>('.rc-traceback');
    if (!box) {
      box = element('pre', 'rc-traceback');
      box.setAttribute('aria-label', 'The exception that ended the run');
      this.error.after(box);
    }
    box.textContent = text.slice(start, start + 6000).trimEnd();
  }

  private showError(text: string): void {
    this.error.textContent = text;
    this.error.style.display = text ? 'block' : 'none';
  }

  // -- details: properties, tags, inputs -------------------------------------
  private showDetail(detail: IRunDetail): void {
    const details = detail.details ?? {};
    this.propertiesBody.textContent = '';
    const properties = Object.entries(details.properties ?? {}).map(([k, v]) => [k, show(v)] as [string, string]);
    const tags = Object.entries(detail.tags ?? {}).map(([k, v]) => [k, show(v)] as [string, string]);
    this.propertiesBody.append(
      keyValueTable(properties, 'Properties'),
      tags.length ? keyValueTable(tags, 'Tags') : element('p', 'rc-none', 'No tags.')
    );

    const definition = details.runDefinition ?? {};
    // Azure's shape: runDefinition is the run configuration itself (script, arguments, environment, target, ...)
    const config = definition.run_config ?? definition;
    const environment = config.environment ?? {};
    const variables = Object.keys({ ...(environment.environmentVariables ?? {}), ...(config.environmentVariables ?? {}) });
    const rows: [string, string][] = [
      ['Script', show(config.script)],
      ['Command', show(config.command)],
      ['Arguments', (config.arguments ?? []).map(show).join(' ')],
      ['Source directory', show(definition.sourceDirectory ?? definition.source_directory)],
      ['Snapshot', show(details.properties?.ContentSnapshotId ?? details.properties?.snapshotId)],
      ['Target', show(config.target ?? detail.target)],
      ['Environment', show(environment.name) || (environment.docker?.baseImage ? show(environment.docker.baseImage) : 'default')],
      ['Max duration', config.maxRunDurationSeconds ? formatDuration(config.maxRunDurationSeconds) : ''],
      ['Nodes', show(config.nodeCount)],
      ['Environment variables (names)', variables.join(', ')],
      ['Resumed from', show(definition.resume_from)]
    ];
    const data = config.data ?? definition.inputs ?? definition.data;
    if (data && typeof data === 'object' && Object.keys(data).length) {
      rows.push(['Data inputs', Object.keys(data).join(', ')]);
    }
    this.inputsBody.textContent = '';
    this.inputsBody.appendChild(keyValueTable(rows.filter(([, v]) => v), 'Inputs'));
  }

  // -- metrics, charts, images ----------------------------------------------------
  private async loadMetrics(): Promise<void> {
    let data: IMetrics;
    try {
      data = await requestAPI<IMetrics>(`runs/${this.runId}/metrics`);
    } catch {
      return; // metrics are optional; the log is what matters
    }
    if (data.records.length === this.metricsCount) {
      return;
    }
    this.metricsCount = data.records.length;
    this.renderMetricsTable(data);
    this.renderImages(data);
    await this.loadCharts();
  }

  private renderMetricsTable(data: IMetrics): void {
    const table = this.metricsTable;
    table.textContent = '';
    const imageNames = new Set(data.images.map(image => image.name));
    const names = Object.keys(data.metrics).filter(name => !imageNames.has(name));
    if (!names.length) {
      table.createCaption().textContent = 'No metrics logged yet.';
      return;
    }
    table.createCaption().textContent = 'Metrics (last value, count, range)';
    const head = table.createTHead().insertRow();
    for (const label of ['Metric', 'Last', 'Count', 'Min', 'Max']) {
      const th = element('th', '', label);
      th.scope = 'col';
      head.appendChild(th);
    }
    const body = table.createTBody();
    for (const name of names) {
      const value = data.metrics[name];
      const row = body.insertRow();
      const th = element('th', '', name);
      th.scope = 'row';
      row.appendChild(th);
      if (Array.isArray(value)) {
        const numbers = value.filter(v => typeof v === 'number' && isFinite(v));
        row.insertCell().textContent = show(value[value.length - 1]);
        row.insertCell().textContent = String(value.length);
        row.insertCell().textContent = numbers.length ? show(Math.min(...numbers)) : '';
        row.insertCell().textContent = numbers.length ? show(Math.max(...numbers)) : '';
      } else if (value && typeof value === 'object') {
        const columns = Object.keys(value);
        row.insertCell().textContent = `table: ${columns.join(', ')}`;
        row.insertCell().textContent = String(Math.max(0, ...columns.map(c => (Array.isArray(value[c]) ? value[c].length : 1))));
        row.insertCell();
        row.insertCell();
      } else {
        row.insertCell().textContent = show(value);
        row.insertCell().textContent = '1';
        row.insertCell();
        row.insertCell();
      }
    }
  }

  private renderImages(data: IMetrics): void {
    const section = this.imagesBody.parentElement as HTMLElement;
    const seen = new Set<string>();
    const images = data.images.filter(image => !seen.has(image.path) && seen.add(image.path));
    section.hidden = images.length === 0;
    this.imagesBody.textContent = '';
    for (const image of images) {
      const figure = element('figure', 'rc-image');
      const link = element('a');
      link.href = fileUrl(this.runId, image.path);
      link.target = '_blank';
      link.rel = 'noopener';
      const img = element('img');
      img.src = fileUrl(this.runId, image.path);
      img.alt = `${image.name}${image.step !== null ? ` at step ${image.step}` : ''} (${image.path})`;
      img.loading = 'lazy';
      link.appendChild(img);
      figure.append(link, element('figcaption', '', `${image.name}${image.step !== null ? ` · step ${image.step}` : ''}`));
      this.imagesBody.appendChild(figure);
    }
  }

  private async loadCharts(): Promise<void> {
    if (!this.isAttached) {
      return; // renderers need a node in the page; onAfterAttach calls again
    }
    const query: string[] = [];
    if (this.logScale.checked) {
      query.push('log=all');
    }
    if (this.compare.checked && this.run) {
      try {
        const others = await requestAPI<{ runs: IRun[] }>(
          `runs?experiment=${encodeURIComponent(this.run.experiment)}&limit=9`
        );
        const ids = others.runs.map(r => r.run_id).filter(id => id !== this.runId).slice(0, 8);
        if (ids.length) {
          query.push(`compare=${ids.map(encodeURIComponent).join(',')}`);
        }
      } catch {
        // comparing is a bonus; draw this run alone
      }
    }
    let data: ICharts;
    try {
      data = await requestAPI<ICharts>(`runs/${this.runId}/charts${query.length ? '?' + query.join('&') : ''}`);
    } catch (error) {
      this.chartsBox.textContent = `Charts unavailable: ${(error as Error).message}`;
      return;
    }
    const key = JSON.stringify(data.charts);
    if (key === this.chartsKey) {
      return;
    }
    this.chartsKey = key;
    this.disposeCharts();
    this.chartsBox.textContent = '';
    if (!data.charts.length) {
      return;
    }
    const rendermime = this.rendermime;
    if (!rendermime || !rendermime.preferredMimeType({ [data.mime]: {} }, 'any')) {
      this.chartsBox.textContent =
        'This front end has no Vega-Lite renderer, so the metrics are shown as a table only.';
      return;
    }
    for (const spec of data.charts) {
      const figure = element('figure', 'rc-chart');
      figure.setAttribute('role', 'figure');
      figure.setAttribute('aria-label', spec.description ?? spec.title ?? 'metric chart');
      this.chartsBox.appendChild(figure);
      const renderer = rendermime.createRenderer(data.mime);
      // SVG (not canvas): the axes, marks and titles are in the page, described for screen readers.
      // No "Open in Vega Editor": it would post the run's data to an outside site.
      const model = rendermime.createModel({
        data: { [data.mime]: spec },
        metadata: { [data.mime]: { embed_options: { renderer: 'svg', actions: EMBED_ACTIONS } } },
        trusted: true
      });
      Widget.attach(renderer, figure);
      this.chartWidgets.push(renderer);
      void renderer.renderModel(model).then(() => {
        // vega-embed's actions menu is a bare <summary>: give it a name screen readers can say
        figure.querySelector('summary')?.setAttribute('aria-label', `Save the ${spec.title ?? ''} chart`);
      });
    }
  }

  private disposeCharts(): void {
    this.chartWidgets.forEach(widget => {
      if (widget.isAttached) {
        Widget.detach(widget);
      }
      widget.dispose();
    });
    this.chartWidgets = [];
  }

  // -- outputs ---------------------------------------------------------------------
  private async loadOutputs(): Promise<void> {
    let listing: IFileListing;
    try {
      listing = await requestAPI<IFileListing>(`runs/${this.runId}/files`);
    } catch (error) {
      this.outputsBody.textContent = `Cannot list the run's files: ${(error as Error).message}`;
      return;
    }
    this.outputsBody.textContent = '';
    const files = listing.files.filter(f => !f.path.startsWith('logs/'));
    const logs = listing.files.filter(f => f.path.startsWith('logs/'));
    const note = element(
      'p',
      'rc-note',
      'Read in place from the run folder: nothing is copied into your notebook folder. ' +
        (this.run && !TERMINAL.includes(this.run.status) ? 'Outputs appear when the run ends.' : '')
    );
    this.outputsBody.appendChild(note);
    if (!files.length && !logs.length) {
      this.outputsBody.appendChild(element('p', 'rc-none', 'No files yet.'));
      return;
    }
    const table = element('table', 'rc-files');
    table.createCaption().textContent = `${listing.files.length} file${listing.files.length === 1 ? '' : 's'}`;
    const head = table.createTHead().insertRow();
    for (const label of ['File', 'Size', 'Download']) {
      const th = element('th', '', label);
      th.scope = 'col';
      head.appendChild(th);
    }
    const body = table.createTBody();
    for (const file of [...files, ...logs]) {
      const row = body.insertRow();
      row.dataset.path = file.path;
      const view = element('a', 'rc-file-view', file.path);
      view.href = fileUrl(this.runId, file.path);
      view.target = '_blank';
      view.rel = 'noopener';
      view.title = `Open ${file.path} (${file.type}) in a new browser tab`;
      row.insertCell().appendChild(view);
      row.insertCell().textContent = formatBytes(file.size);
      const download = element('a', 'rc-file-download', 'Download');
      download.href = fileUrl(this.runId, file.path, true);
      download.setAttribute('download', file.path.split('/').pop() ?? 'file');
      download.setAttribute('aria-label', `Download ${file.path}`);
      row.insertCell().appendChild(download);
    }
    this.outputsBody.appendChild(table);
    if (listing.truncated) {
      this.outputsBody.appendChild(
        element('p', 'rc-note', `Only the first ${listing.max_files} files are listed.`)
      );
    }
  }

  private async showOutputs(): Promise<void> {
    await this.loadOutputs();
    this.outputsSection.scrollIntoView({ block: 'start' });
    (this.outputsSection.querySelector('a') as HTMLElement | null)?.focus();
  }

  // -- actions -----------------------------------------------------------------------
  private async cancel(): Promise<void> {
    if (!this.run) {
      return;
    }
    try {
      const [updated] = await confirmAndCancel([this.run]);
      if (updated) {
        this.showRun(updated);
      }
    } catch (error) {
      this.showError((error as Error).message);
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

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    window.clearInterval(this.timer);
    this.disposeCharts();
    this.events.removeListener(this.listener);
    this.events.unfollow(this.runId);
    super.dispose();
  }
}
