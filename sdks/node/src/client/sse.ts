/** A Server-Sent Events parser (WHATWG HTML, "event stream interpretation") over a byte stream. */

export interface SseMessage {
  /** The `event:` field; `message` when absent. */
  event: string;
  /** The `data:` lines joined with `\n`. */
  data: string;
  /** The last `id:` seen so far in the stream (the spec's "last event ID"), if any. */
  id: string | undefined;
  /** A `retry:` reconnection delay in milliseconds, when this message carried one. */
  retry: number | undefined;
}

/**
 * Yield each message of an event stream. Lines end in CRLF, LF or CR; `:` lines are comments
 * (keep-alive pings); a message is dispatched at a blank line, and one without data is not.
 */
export async function* readSse(body: AsyncIterable<Uint8Array>): AsyncGenerator<SseMessage> {
  const decoder = new TextDecoder();
  let buffer = "";
  let data: string[] = [];
  let event = "";
  let id: string | undefined;
  let retry: number | undefined;
  let first = true;
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    if (first && buffer.length > 0) {
      buffer = buffer.replace(/^\uFEFF/, "");
      first = false;
    }
    let match: RegExpExecArray | null;
    // A trailing \r might be the first half of \r\n: keep it until more arrives.
    while ((match = /\r\n|\n|\r(?!$)/.exec(buffer)) !== null) {
      const line = buffer.slice(0, match.index);
      buffer = buffer.slice(match.index + match[0].length);
      if (line === "") {
        if (data.length > 0) yield { event: event || "message", data: data.join("\n"), id, retry };
        data = [];
        event = "";
        retry = undefined;
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "data") data.push(value);
      else if (field === "event") event = value;
      else if (field === "id" && !value.includes("\0")) id = value;
      else if (field === "retry" && /^\d+$/.test(value)) retry = Number(value);
    }
  }
  // A message not terminated by a blank line at end of stream is discarded (spec).
}
