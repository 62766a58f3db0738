/** Writing events: one compact JSON object per line, synchronously, in order. */

import { writeSync } from "node:fs";

import { encodeJson, type JsonValue } from "./json.js";
import type { AgentEvent } from "./protocol.js";

/** Where event lines go: the process's stdout, or memory in `invoke()`. */
export interface EventSink {
  /** Write one complete line (ending in `\n`). */
  write(line: string): void;
}

export class EventWriter {
  private closed = false;
  private readonly beforeFinal: (() => void)[] = [];

  constructor(private readonly sink: EventSink) {}

  /** Whether the attempt's outcome was written; later events are dropped. */
  get finished(): boolean {
    return this.closed;
  }

  emit(event: AgentEvent): void {
    if (this.closed) return;
    // Encoded before anything is written, so a bad value never leaves half a line.
    const line = `${encodeJson(event as unknown as JsonValue)}\n`;
    this.sink.write(line);
  }

  /** Run `hook` right before the outcome is written (e.g. to flush a pending printed line). */
  onBeforeFinal(hook: () => void): void {
    this.beforeFinal.push(hook);
  }

  /** Write the outcome (if any) as the last event; nothing is written after it. */
  finish(event?: AgentEvent): void {
    if (this.closed) return;
    for (const hook of this.beforeFinal.splice(0)) hook();
    if (event) this.emit(event);
    this.closed = true;
  }
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * A sink writing to a file descriptor with blocking semantics.
 *
 * `writeSync` rather than `process.stdout.write`: a piped stdout is asynchronous in Node,
 * so events could be reordered with stderr, pile up in memory, or be lost when the process
 * exits. libuv may set the pipe non-blocking, so EAGAIN means "wait a little and retry".
 * When the reader is gone (EPIPE), nobody can see further events: stop writing them.
 */
export function fdSink(fd: number): EventSink {
  let broken = false;
  return {
    write(line: string): void {
      if (broken) return;
      const data = Buffer.from(line, "utf8");
      let offset = 0;
      while (offset < data.length) {
        try {
          offset += writeSync(fd, data, offset, data.length - offset);
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (code === "EAGAIN") {
            Atomics.wait(pause, 0, 0, 1);
            continue;
          }
          if (code === "EPIPE") {
            broken = true;
            return;
          }
          throw error;
        }
      }
    },
  };
}

/** A sink keeping the lines in memory, for tests. */
export class MemorySink implements EventSink {
  readonly lines: string[] = [];

  write(line: string): void {
    this.lines.push(line);
  }
}
