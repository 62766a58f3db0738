import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";

import { ApiError, MentatClient, readSse, type RunEvent } from "../src/client/index.js";

const KEY = "mlk_test_secret";

function event(seq: number, type: string, data: Record<string, unknown> = {}): RunEvent {
  return { run_id: "r1", seq, ts: "2025-01-01T00:00:00Z", type, node: null, attempt: null, data } as RunEvent;
}

const LOG: RunEvent[] = [
  event(1, "run.status", { status: "running" }),
  event(2, "log", { level: "info", message: "héllo 🧠" }),
  event(3, "output", { pin: "x", value: [1, 2] }),
  event(4, "run.status", { status: "succeeded" }),
];

const sse = (e: RunEvent): string => `id: ${e.seq}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`;

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
}

describe("MentatClient", () => {
  let server: Server;
  let base: string;
  const seen: Seen[] = [];
  let eventConnections = 0;

  before(async () => {
    server = createServer((request: IncomingMessage, response: ServerResponse) => {
      let body = "";
      request.on("data", (chunk: Buffer) => (body += chunk.toString()));
      request.on("end", () => {
        seen.push({ method: request.method ?? "", url: request.url ?? "", headers: request.headers, body });
        handle(request, response, body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  function problem(response: ServerResponse, status: number, detail: string): void {
    response.writeHead(status, { "Content-Type": "application/problem+json" });
    response.end(JSON.stringify({ type: "about:blank", title: "Not Found", status, detail, instance: "/x" }));
  }

  function handle(request: IncomingMessage, response: ServerResponse, body: string): void {
    if (request.headers.authorization !== `Bearer ${KEY}`) return problem(response, 401, "send an API key");
    const url = request.url ?? "";
    if (request.method === "POST" && url === "/api/v1/runs") {
      const parsed = JSON.parse(body) as { flow: unknown; inputs: unknown };
      response.writeHead(201, { "Content-Type": "application/json" });
      response.end(JSON.stringify({ id: "r1", status: "queued", echo: parsed }));
      return;
    }
    if (url === "/api/v1/runs/r1") {
      response.writeHead(200, { "Content-Type": "application/json" });
      response.end(JSON.stringify({ id: "r1", status: "succeeded", nodes: {}, outputs: {} }));
      return;
    }
    if (url.startsWith("/api/v1/runs?")) {
      response.writeHead(200, { "Content-Type": "application/json" });
      response.end(JSON.stringify({ items: [], next_cursor: null, query: url }));
      return;
    }
    if (url === "/api/v1/runs/r1/events") {
      eventConnections += 1;
      const after = Number(request.headers["last-event-id"] ?? 0);
      response.writeHead(200, { "Content-Type": "text/event-stream" });
      const rest = LOG.filter((e) => e.seq > after);
      if (eventConnections === 1) {
        // First connection: a ping, two events, then the connection drops mid-stream.
        response.write(": ping\n\nretry: 10\n\n");
        response.write(sse(rest[0] as RunEvent) + sse(rest[1] as RunEvent));
        setTimeout(() => response.socket?.destroy(), 20);
        return;
      }
      response.end(rest.map(sse).join(""));
      return;
    }
    if (url === "/api/v1/runs/flaky/events") {
      response.writeHead(503, { "Content-Type": "application/problem+json" });
      response.end(JSON.stringify({ type: "about:blank", title: "Service Unavailable", status: 503, detail: "shutting down" }));
      return;
    }
    problem(response, 404, `no such thing: ${url}`);
  }

  it("creates a run with the flow and inputs, authenticated", async () => {
    const client = new MentatClient({ baseUrl: `${base}/`, apiKey: KEY });
    const ref = await client.createRun({ flow: { kind: "Flow" }, inputs: { "prompt.text": "hi" } });
    assert.equal(ref.id, "r1");
    assert.equal(ref.status, "queued");
    const request = seen.at(-1) as Seen;
    assert.equal(request.headers["content-type"], "application/json");
    assert.deepEqual(JSON.parse(request.body), { flow: { kind: "Flow" }, inputs: { "prompt.text": "hi" } });
  });

  it("gets and lists runs (a trailing /api/v1 in the base URL is fine)", async () => {
    const client = new MentatClient({ baseUrl: `${base}/api/v1`, apiKey: KEY });
    assert.equal((await client.getRun("r1")).status, "succeeded");
    const page = (await client.listRuns({ limit: 5, status: "failed" })) as unknown as { query: string };
    assert.equal(page.query, "/api/v1/runs?limit=5&status=failed");
  });

  it("throws ApiError carrying the problem document", async () => {
    const client = new MentatClient({ baseUrl: base, apiKey: KEY });
    await assert.rejects(client.getRun("nope"), (error: unknown) => {
      assert.ok(error instanceof ApiError);
      assert.equal(error.status, 404);
      assert.equal(error.problem?.detail, "no such thing: /api/v1/runs/nope");
      assert.equal(error.message, "HTTP 404: Not Found: no such thing: /api/v1/runs/nope");
      return true;
    });
    await assert.rejects(new MentatClient({ baseUrl: base }).getRun("r1"), (error: unknown) => error instanceof ApiError && error.status === 401);
  });

  it("follows events over SSE, resuming with Last-Event-ID after a drop, without duplicates", async () => {
    const client = new MentatClient({ baseUrl: base, apiKey: KEY });
    const events: RunEvent[] = [];
    for await (const e of client.followEvents("r1", { retryDelayMs: 10 })) events.push(e);
    assert.deepEqual(events, LOG);
    assert.equal(eventConnections, 2);
    const resumed = seen.filter((s) => s.url === "/api/v1/runs/r1/events").at(-1) as Seen;
    assert.equal(resumed.headers["last-event-id"], "2");
    assert.equal(resumed.headers.accept, "text/event-stream");
  });

  it("starts after a given seq", async () => {
    const client = new MentatClient({ baseUrl: base, apiKey: KEY });
    const events: number[] = [];
    for await (const e of client.followEvents("r1", { after: 2 })) events.push(e.seq);
    assert.deepEqual(events, [3, 4]);
  });

  it("stops when the run has finished before the first event it would send", async () => {
    const client = new MentatClient({ baseUrl: base, apiKey: KEY });
    const events: number[] = [];
    for await (const e of client.followEvents("r1", { after: 4, retryDelayMs: 10 })) events.push(e.seq);
    assert.deepEqual(events, []);
  });

  it("gives up after maxRetries on a server that keeps refusing", async () => {
    const client = new MentatClient({ baseUrl: base, apiKey: KEY });
    const follow = async (): Promise<void> => {
      for await (const e of client.followEvents("flaky", { retryDelayMs: 1, maxRetries: 2 })) void e;
    };
    await assert.rejects(follow(), (error: unknown) => error instanceof ApiError && error.status === 503);
  });

  it("stops at once when its signal is aborted", async () => {
    const client = new MentatClient({ baseUrl: base, apiKey: KEY });
    const stop = new AbortController();
    stop.abort(new Error("enough"));
    await assert.rejects(async () => {
      for await (const e of client.followEvents("r1", { signal: stop.signal })) void e;
    }, /enough/);
  });
});

describe("readSse", () => {
  async function* chunks(...parts: string[]): AsyncGenerator<Uint8Array> {
    for (const part of parts) yield new TextEncoder().encode(part);
  }

  async function all(...parts: string[]): Promise<unknown[]> {
    const out: unknown[] = [];
    for await (const message of readSse(chunks(...parts))) out.push(message);
    return out;
  }

  it("parses fields across chunk boundaries and line endings", async () => {
    assert.deepEqual(await all("\uFEFFid: 1\r\nevent: log\r", "\ndata: a\rdata:b\n\n", ": comment\n\ndata: x", "y\n\n"), [
      { event: "log", data: "a\nb", id: "1", retry: undefined },
      { event: "message", data: "xy", id: "1", retry: undefined },
    ]);
  });

  it("splits multi-byte characters safely and drops an unterminated message", async () => {
    const bytes = new TextEncoder().encode("data: 🧠\n\ndata: cut");
    async function* split(): AsyncGenerator<Uint8Array> {
      yield bytes.slice(0, 8);
      yield bytes.slice(8);
    }
    const out: unknown[] = [];
    for await (const message of readSse(split())) out.push(message);
    assert.deepEqual(out, [{ event: "message", data: "🧠", id: undefined, retry: undefined }]);
  });
});
