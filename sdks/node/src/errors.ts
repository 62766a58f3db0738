/** Errors a handler throws to fail its attempt with a structured `error` event. */

export interface AgentErrorOptions {
  /** Machine-readable error code; `agent_error` by default. */
  code?: string;
  /** Whether a retry may succeed; `true` by default. */
  retryable?: boolean;
  cause?: unknown;
}

/**
 * Fail the attempt with an `error` event carrying this message, code and retryability.
 * The engine retries the node (if its manifest allows retries) unless `retryable` is false.
 */
export class AgentError extends Error {
  override name = "AgentError";
  readonly code: string;
  readonly retryable: boolean;

  constructor(message: string, options: AgentErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code ?? "agent_error";
    this.retryable = options.retryable ?? true;
  }
}

/** An {@link AgentError} that retrying cannot fix (bad input, bad configuration). */
export class FatalError extends AgentError {
  override name = "FatalError";

  constructor(message: string, options: Omit<AgentErrorOptions, "retryable"> = {}) {
    super(message, { ...options, retryable: false });
  }
}

/**
 * The reason of `ctx.signal` once the agent is asked to stop (SIGTERM, SIGINT, or an
 * `AbortSignal` given to `invoke()`). Throwing it, or anything else, after the stop ends the
 * attempt as cancelled.
 */
export class CancelledError extends Error {
  override name = "CancelledError";
  /** `SIGTERM` or `SIGINT`. */
  readonly signal: "SIGTERM" | "SIGINT";

  constructor(signal: "SIGTERM" | "SIGINT") {
    super(`stopped by ${signal}`);
    this.signal = signal;
  }
}
