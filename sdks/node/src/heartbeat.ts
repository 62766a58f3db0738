/** Automatic `heartbeat` events while long work runs. */

import type { EventWriter } from "./writer.js";

/** Heartbeats every `everySeconds` until {@link Heartbeats.stop}. */
export class Heartbeats {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly writer: EventWriter,
    readonly everySeconds: number,
  ) {
    if (!(everySeconds > 0) || !Number.isFinite(everySeconds)) {
      throw new RangeError(`heartbeat interval must be a positive number of seconds, got ${everySeconds}`);
    }
  }

  start(): this {
    // Timers fire only while the event loop is free: CPU-bound work that never awaits
    // blocks heartbeats (run it in a worker thread).
    this.timer ??= setInterval(() => this.writer.emit({ type: "heartbeat" }), this.everySeconds * 1000);
    return this;
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}
