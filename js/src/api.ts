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
  capabilities: ICapabilities;
}

export interface IRunDetail extends IRun {
  details: { [key: string]: any };
  log_files: string[];
  files: string[];
  outputs_path: string | null;
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

export function formatDuration(seconds: number | null): string {
  if (seconds === null || seconds === undefined) {
    return '';
  }
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) {
    return `${s}s`;
  }
  if (s < 3600) {
    return `${Math.floor(s / 60)}m ${s % 60}s`;
  }
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
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
