/** The SDK as a real agent process: stdin, stdout, stderr, signals and exit statuses. */

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { pathToFileURL } from "node:url";

const SDK = pathToFileURL(join(import.meta.dirname, "..", "src", "index.js")).href;
const ENVELOPE = JSON.stringify({ protocol: "mentatlab.agent/v1", run: { id: "r", node: "n", attempt: 1 }, inputs: { text: "hi" } });

interface Finished {
  code: number | null;
  events: Record<string, unknown>[];
  stdout: string;
  stderr: string;
}

function agentFile(body: string): string {
  const dir = mkdtempSync(join(tmpdir(), "mentat-sdk-"));
  const file = join(dir, "agent.mjs");
  writeFileSync(file, `import { defineAgent, AgentError } from ${JSON.stringify(SDK)};\n${body}\n`);
  return file;
}

function run(body: string, options: { stdin?: string; onLine?: (line: string, kill: (signal: NodeJS.Signals) => void) => void; pauseMs?: number } = {}): Promise<Finished> {
  const child = spawn(process.execPath, [agentFile(body)], { stdio: ["pipe", "pipe", "pipe"] });
  child.stdin.end(options.stdin ?? ENVELOPE);
  let stdout = "";
  let stderr = "";
  let pending = "";
  if (options.pauseMs) {
    // A slow reader: the agent's writes must wait, not fail or get lost.
    child.stdout.pause();
    setTimeout(() => child.stdout.resume(), options.pauseMs);
  }
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
    pending += chunk;
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) options.onLine?.(line, (signal) => child.kill(signal));
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  return new Promise((resolve) => {
    child.on("close", (code) => {
      const events = stdout.split("\n").filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
      resolve({ code, events, stdout, stderr });
    });
  });
}

describe("agent process", () => {
  it("turns prints into log events, keeping stdout a clean event stream", async () => {
    const done = await run(`
      await defineAgent({ handler: (ctx, { text }) => {
        console.log("printed %s", text);
        process.stdout.write("partial ");
        process.stdout.write("line\\nunterminated");
        console.error("to stderr");
        return { result: text };
      } }).run();
    `);
    assert.equal(done.code, 0);
    // A last unterminated print is flushed when the attempt ends, before any outcome event.
    assert.deepEqual(done.events, [
      { type: "log", level: "info", message: "printed hi" },
      { type: "log", level: "info", message: "partial line" },
      { type: "output", pin: "result", value: "hi" },
      { type: "log", level: "info", message: "unterminated" },
    ]);
    assert.equal(done.stderr, "to stderr\n");
  });

  it("exits 2 with invalid_envelope when stdin is not an envelope", async () => {
    const done = await run("await defineAgent({ handler: () => ({}) }).run();", { stdin: "{nope" });
    assert.equal(done.code, 2);
    assert.equal(done.events.length, 1);
    assert.equal(done.events[0]?.code, "invalid_envelope");
    assert.equal(done.events[0]?.retryable, false);
  });

  it("exits 143 on SIGTERM after the handler's clean-up", async () => {
    const done = await run(
      `await defineAgent({ handler: async (ctx) => {
         ctx.log("waiting");
         await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
         ctx.log("cleaned up");
       } }).run();`,
      { onLine: (line, kill) => line.includes("waiting") && kill("SIGTERM") },
    );
    assert.equal(done.code, 143);
    assert.deepEqual(done.events.slice(1), [
      { type: "log", level: "info", message: "cleaned up" },
      { type: "error", code: "cancelled", message: "stopped by SIGTERM", retryable: true },
    ]);
  });

  it("reports an exception thrown outside the handler's await chain", async () => {
    const done = await run(`await defineAgent({ handler: () => new Promise(() => { setTimeout(() => { throw new RangeError("stray"); }, 5); }) }).run();`);
    assert.equal(done.code, 1);
    assert.deepEqual(done.events, [{ type: "error", code: "unexpected_error", message: "RangeError: stray", retryable: true }]);
    assert.match(done.stderr, /RangeError: stray/);
  });

  it("blocks on a slow reader instead of losing events", async () => {
    const done = await run(
      `await defineAgent({ handler: (ctx) => { for (let i = 0; i < 64; i++) ctx.output("big", "x".repeat(128 * 1024) + i); } }).run();`,
      { pauseMs: 300 },
    );
    assert.equal(done.code, 0);
    assert.equal(done.events.length, 64);
    assert.equal(done.events.at(-1)?.value, "x".repeat(128 * 1024) + 63);
  });
});
