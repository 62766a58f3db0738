/**
 * `@mentatlab/sdk/client`: a small client of the MentatLab HTTP API (`/api/v1`) on the global
 * `fetch`: submit runs, read them, follow their events live over Server-Sent Events.
 *
 * ```ts
 * const client = new MentatClient({ baseUrl: "http://127.0.0.1:8000", apiKey: process.env.MENTAT_API_KEY });
 * const { id } = await client.createRun({ flow, inputs: { "prompt.text": "hi" } });
 * for await (const event of client.followEvents(id)) console.log(event.seq, event.type, event.data);
 * const run = await client.getRun(id);
 * ```
 */

import { readSse } from "./sse.js";
import { TERMINAL_RUN_STATUSES, type Problem, type RunCreate, type RunEvent, type RunPage, type RunRecord, type RunRef, type RunStatus } from "./types.js";

export * from "./types.js";
export { readSse, type SseMessage } from "./sse.js";

export interface ClientOptions {
  /** The server, e.g. `http://127.0.0.1:8000` (a trailing `/api/v1` is accepted too). */
  baseUrl: string | URL;
  /** An API key (`mentatctl apikey create`), sent as `Authorization: Bearer <key>`. */
  apiKey?: string | undefined;
  /** Another `fetch` (tests, proxies); the global one by default. */
  fetch?: typeof fetch;
  /** Extra headers on every request. */
  headers?: Record<string, string>;
}

export interface RequestOptions {
  signal?: AbortSignal;
}

export interface FollowOptions extends RequestOptions {
  /** Start after this seq (resume a log you have read up to here); from the start by default. */
  after?: number;
  /** Reconnection delay after a dropped stream, before backoff; the server's `retry:` wins. Default 1000. */
  retryDelayMs?: number;
  /** Consecutive failed reconnections before giving up (throwing). Default 5. */
  maxRetries?: number;
}

/** A request the server refused: `status` and, when the server sent one, the RFC 9457 problem. */
export class ApiError extends Error {
  override name = "ApiError";

  constructor(
    readonly status: number,
    message: string,
    readonly problem: Problem | undefined,
  ) {
    super(message);
  }

  static async from(response: Response): Promise<ApiError> {
    const text = await response.text().catch(() => "");
    let problem: Problem | undefined;
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed === "object" && parsed !== null && "title" in parsed) problem = parsed as Problem;
    } catch {
      // Not JSON (a proxy's HTML page): the status says enough.
    }
    const detail = problem ? `${problem.title}: ${problem.detail}` : text.slice(0, 200) || response.statusText;
    return new ApiError(response.status, `HTTP ${response.status}: ${detail}`, problem);
  }
}

// Worth retrying while following: the server restarting, a proxy, a rate limit.
const RETRYABLE_STATUSES = new Set([429, 502, 503, 504]);

export class MentatClient {
  private readonly root: string;
  private readonly fetchFn: typeof fetch;
  private readonly headers: Record<string, string>;

  constructor(options: ClientOptions) {
    const base = String(options.baseUrl).replace(/\/+$/, "");
    this.root = base.endsWith("/api/v1") ? base : `${base}/api/v1`;
    this.fetchFn = options.fetch ?? globalThis.fetch;
    this.headers = { ...options.headers };
    if (options.apiKey) this.headers.Authorization = `Bearer ${options.apiKey}`;
  }

  /** `POST /runs`: validate the flow and queue a run of it. */
  createRun(request: RunCreate, options: RequestOptions = {}): Promise<RunRef> {
    return this.json<RunRef>("POST", "/runs", { flow: request.flow, inputs: request.inputs ?? {} }, options);
  }

  /** `GET /runs/{id}`: the run record. */
  getRun(id: string, options: RequestOptions = {}): Promise<RunRecord> {
    return this.json<RunRecord>("GET", `/runs/${encodeURIComponent(id)}`, undefined, options);
  }

  /** `GET /runs`: runs, newest first; pass `next_cursor` as `cursor` for the next page. */
  listRuns(query: { limit?: number; cursor?: string; status?: RunStatus } = {}, options: RequestOptions = {}): Promise<RunPage> {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
    const search = params.toString() ? `?${params.toString()}` : "";
    return this.json<RunPage>("GET", `/runs${search}`, undefined, options);
  }

  /** `POST /runs/{id}/cancel`: ask for the run to be cancelled. */
  cancelRun(id: string, options: RequestOptions = {}): Promise<RunRef> {
    return this.json<RunRef>("POST", `/runs/${encodeURIComponent(id)}/cancel`, undefined, options);
  }

  /**
   * `GET /runs/{id}/events`: every event of the run in order, then live ones, ending after
   * the run's final `run.status`. A dropped connection is resumed where it stopped
   * (`Last-Event-ID`), so no event is missed or repeated. Breaking out of the loop closes it.
   */
  async *followEvents(id: string, options: FollowOptions = {}): AsyncGenerator<RunEvent, void, undefined> {
    const path = `/runs/${encodeURIComponent(id)}/events`;
    const maxRetries = options.maxRetries ?? 5;
    let delay = options.retryDelayMs ?? 1000;
    let last = options.after;
    let failures = 0;
    for (;;) {
      options.signal?.throwIfAborted();
      const connection = new AbortController();
      const abort = (): void => connection.abort(options.signal?.reason);
      options.signal?.addEventListener("abort", abort, { once: true });
      let received = false;
      try {
        const headers: Record<string, string> = { ...this.headers, Accept: "text/event-stream" };
        if (last !== undefined) headers["Last-Event-ID"] = String(last);
        let response: Response | undefined;
        try {
          response = await this.fetchFn(this.root + path, { headers, signal: connection.signal });
        } catch (error) {
          if (options.signal?.aborted) throw error;
        }
        if (response && !response.ok) {
          if (!RETRYABLE_STATUSES.has(response.status) || failures >= maxRetries) throw await ApiError.from(response);
          await response.body?.cancel();
        } else if (response?.body) {
          try {
            for await (const message of readSse(response.body)) {
              if (message.retry !== undefined) delay = message.retry;
              if (message.data === "") continue;
              const event = JSON.parse(message.data) as RunEvent;
              // After a reconnection the server resumes after `last`; never yield twice.
              if (last !== undefined && event.seq <= last) continue;
              last = event.seq;
              received = true;
              failures = 0;
              yield event;
              if (event.type === "run.status" && TERMINAL_RUN_STATUSES.has(event.data.status as RunStatus)) return;
            }
          } catch (error) {
            if (options.signal?.aborted || error instanceof SyntaxError) throw error;
            // The connection broke mid-stream: resume below.
          }
          // The server ends the stream after the final event. Ending without one we have
          // seen means we started past it, or the server went away: ask the run itself.
          if (!received && TERMINAL_RUN_STATUSES.has((await this.getRun(id, options)).status)) return;
        }
      } finally {
        options.signal?.removeEventListener("abort", abort);
        connection.abort();
      }
      if (!received) failures += 1;
      if (failures > maxRetries) {
        throw new ApiError(0, `lost the event stream of run ${id} after ${maxRetries} retries`, undefined);
      }
      await sleep(received ? delay : delay * 2 ** Math.max(0, failures - 1), options.signal);
    }
  }

  /** Follow the run's events until it finishes, then return its record. */
  async waitForRun(id: string, options: FollowOptions = {}): Promise<RunRecord> {
    for await (const event of this.followEvents(id, options)) void event;
    return this.getRun(id, options);
  }

  private async json<T>(method: string, path: string, body: unknown, options: RequestOptions): Promise<T> {
    const headers: Record<string, string> = { ...this.headers, Accept: "application/json" };
    const init: RequestInit = { method, headers };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    if (options.signal) init.signal = options.signal;
    const response = await this.fetchFn(this.root + path, init);
    if (!response.ok) throw await ApiError.from(response);
    return (await response.json()) as T;
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, Math.min(ms, 30_000));
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
