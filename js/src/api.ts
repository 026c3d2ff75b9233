/**
 * Talking to the runconfig-jupyter server extension: REST calls and one shared
 * websocket for live run updates and log follow.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export const API_PATH = 'runconfig/api';
/** The API version this front end speaks; the server reports its own in /version. */
export const API_VERSION = 1;

export interface ICapabilities {
  cancel?: boolean;
  gpu?: boolean;
  distributed?: boolean;
  max_duration?: boolean;
  reattach?: boolean;
  description?: string;
}

export interface IRun {
  run_id: string;
  experiment: string;
  status: string;
  target: string;
  target_type: string;
  script: string | null;
  arguments?: string[];
  display_name: string | null;
  parent_run_id: string | null;
  rerun_of?: string | null;
  interactive?: boolean;
  created_at: number;
  updated_at: number;
  started_at: number | null;
  ended_at: number | null;
  duration: number | null;
  exit_code: number | null;
  phase: string | null;
  reason: string | null;
  tags: { [key: string]: string };
  /** The capabilities recorded with the run at submit (not the target's current configuration). */
  capabilities: ICapabilities;
  /** Whether a cancel can be asked for now (core/runs/run_target.py); absent from older servers. */
  can_cancel?: boolean;
}

export interface IRunDetail extends IRun {
  details: { [key: string]: any };
  log_files: string[];
  files: string[];
  outputs_path: string | null;
}

export interface IFileEntry {
  path: string;
  size: number;
  type: string;
  link?: boolean;
}

export interface IFileListing {
  run_id: string;
  files: IFileEntry[];
  truncated: boolean;
  max_files: number;
}

export interface ILoggedImage {
  name: string;
  path: string;
  step: number | null;
}

export interface IMetrics {
  run_id: string;
  metrics: { [name: string]: any };
  records: any[];
  images: ILoggedImage[];
}

export interface ICharts {
  run_id: string;
  runs: string[];
  mime: string;
  charts: any[];
}

export interface IVersion {
  name: string;
  version: string;
  api_version: number;
}

export const TERMINAL = ['Completed', 'Failed', 'Canceled'];

/** An error the server answered with (typed: error class, message, field). */
export class APIError extends Error {
  constructor(
    public status: number,
    message: string,
    public errorType = '',
    public field = ''
  ) {
    super(message);
  }
}

export async function requestAPI<T>(endpoint: string, init: RequestInit = {}): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, API_PATH, endpoint);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new APIError(0, `cannot reach the Jupyter server: ${error}`);
  }
  const text = await response.text();
  let data: any = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { message: text };
    }
  }
  if (!response.ok) {
    throw new APIError(
      response.status,
      (data && data.message) || response.statusText,
      (data && data.error) || '',
      (data && data.field) || ''
    );
  }
  return data as T;
}

export function post<T>(endpoint: string, body: any = {}): Promise<T> {
  return requestAPI<T>(endpoint, { method: 'POST', body: JSON.stringify(body) });
}

type Listener = (message: any) => void;

/**
 * One websocket per page, shared by the sidebar and every run view.
 * Reconnects with a bounded backoff and replays subscriptions after a reconnect.
 */
export class EventsClient {
  private socket: WebSocket | null = null;
  private listeners = new Set<Listener>();
  private follows = new Map<string, { [name: string]: number }>();
  private runsSubscribed = false;
  private retry = 0;
  private disposed = false;

  connect(): void {
    if (this.disposed || this.socket) {
      return;
    }
    const settings = ServerConnection.makeSettings();
    let url = URLExt.join(settings.wsUrl, API_PATH, 'events');
    if (settings.token) {
      url += `?token=${encodeURIComponent(settings.token)}`;
    }
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.onopen = () => {
      this.retry = 0;
      if (this.runsSubscribed) {
        this.send({ action: 'subscribe_runs' });
      }
      this.follows.forEach((offsets, runId) => {
        this.send({ action: 'follow', run_id: runId, offsets });
      });
    };
    socket.onmessage = event => {
      let message: any;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (message.type === 'log') {
        const offsets = this.follows.get(message.run_id);
        if (offsets) {
          offsets[message.name] = message.next_offset;
        }
      }
      this.listeners.forEach(listener => listener(message));
    };
    socket.onclose = () => {
      this.socket = null;
      if (!this.disposed) {
        this.retry = Math.min(this.retry + 1, 6);
        window.setTimeout(() => this.connect(), 500 * 2 ** this.retry);
      }
    };
  }

  private send(message: any): void {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(message));
    }
  }

  addListener(listener: Listener): void {
    this.listeners.add(listener);
  }

  removeListener(listener: Listener): void {
    this.listeners.delete(listener);
  }

  subscribeRuns(): void {
    this.runsSubscribed = true;
    this.connect();
    this.send({ action: 'subscribe_runs' });
  }

  follow(runId: string): void {
    if (!this.follows.has(runId)) {
      this.follows.set(runId, {});
    }
    this.connect();
    this.send({ action: 'follow', run_id: runId, offsets: this.follows.get(runId) });
  }

  unfollow(runId: string): void {
    this.follows.delete(runId);
    this.send({ action: 'unfollow', run_id: runId });
  }

  dispose(): void {
    this.disposed = true;
    this.socket?.close();
  }
}

/** Durations in the unit a person reads: 42 s, 3 min 5 s, 2 h 10 min, 30 days. */
export function formatDuration(seconds: number | null): string {
  if (seconds === null || seconds === undefined) {
    return '';
  }
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) {
    return `${s} s`;
  }
  if (s < 3600) {
    return `${Math.floor(s / 60)} min ${s % 60} s`;
  }
  if (s < 86400) {
    return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  }
  const days = Math.floor(s / 86400);
  const hours = Math.floor((s % 86400) / 3600);
  return `${days} day${days === 1 ? '' : 's'}` + (hours ? ` ${hours} h` : '');
}

/** A start time: the clock time today, else the date and time. */
export function formatTime(timestamp: number | null): string {
  if (!timestamp) {
    return '';
  }
  const date = new Date(timestamp * 1000);
  const today = new Date();
  const time = date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  return date.toDateString() === today.toDateString()
    ? time
    : `${date.toLocaleDateString([], { month: 'short', day: 'numeric' })} ${time}`;
}

export function formatBytes(size: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = size;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit ? `${value.toFixed(1)} ${units[unit]}` : `${value} B`;
}

/** What a person calls a run: its display name, else the script and its arguments. */
export function runLabel(run: IRun): string {
  if (run.display_name) {
    return run.display_name;
  }
  const args = (run.arguments ?? []).join(' ');
  return [run.script || run.run_id, args].filter(Boolean).join(' ');
}

/** The last part of a run id (its random suffix): short, and unique enough to tell runs apart. */
export function shortId(runId: string): string {
  const parts = runId.split('_');
  return parts[parts.length - 1] || runId;
}

/** The URL of one of a run's files (read-only route); the browser sends the login cookie or the token. */
export function fileUrl(runId: string, path: string, download = false): string {
  const settings = ServerConnection.makeSettings();
  const encoded = path.split('/').map(encodeURIComponent).join('/');
  const url = URLExt.join(settings.baseUrl, API_PATH, 'runs', runId, 'files', encoded);
  const query: string[] = [];
  if (download) {
    query.push('download=1');
  }
  if (settings.token) {
    query.push(`token=${encodeURIComponent(settings.token)}`);
  }
  return query.length ? `${url}?${query.join('&')}` : url;
}

/** A status in words, for screen readers and tooltips (the glyph alone says nothing to them). */
export function statusWords(run: IRun): string {
  const words: { [status: string]: string } = {
    NotStarted: 'not started',
    Queued: 'queued',
    Preparing: 'preparing',
    Starting: 'starting',
    Running: 'running',
    Finalizing: 'finalizing',
    CancelRequested: 'cancel requested',
    Completed: 'completed',
    Failed: 'failed',
    Canceled: 'canceled'
  };
  const word = words[run.status] ?? run.status;
  return run.reason && (run.status === 'Failed' || run.status === 'Canceled') ? `${word}: ${run.reason}` : word;
}

export function formatAge(timestamp: number): string {
  const seconds = Date.now() / 1000 - timestamp;
  return `${formatDuration(seconds)} ago`;
}

export function liveDuration(run: IRun): number | null {
  if (run.started_at === null) {
    return null;
  }
  const end = run.ended_at ?? Date.now() / 1000;
  return end - run.started_at;
}
