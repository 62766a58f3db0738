/** JSON values as the protocol carries them, checked strictly before they are written. */

export type JsonPrimitive = null | boolean | number | string;
export type JsonValue = JsonPrimitive | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/**
 * Why `value` is not a JSON value, or `undefined` when it is one.
 *
 * `JSON.stringify` would quietly turn `NaN` into `null`, drop `undefined` and call `toJSON`
 * on dates; an agent's output must arrive as written, so those are errors here.
 */
export function jsonProblem(value: unknown, path = "value"): string | undefined {
  return problem(value, path, new Set());
}

function problem(value: unknown, path: string, open: Set<object>): string | undefined {
  switch (typeof value) {
    case "string":
    case "boolean":
      return undefined;
    case "number":
      return Number.isFinite(value) ? undefined : `${path} is ${value} (NaN and Infinity are not JSON)`;
    case "object":
      break;
    default:
      return `${path} is ${typeof value === "undefined" ? "undefined" : `a ${typeof value}`}, not a JSON value`;
  }
  if (value === null) return undefined;
  if (open.has(value)) return `${path} contains itself (a cycle)`;
  open.add(value);
  try {
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        if (!(i in value)) return `${path}[${i}] is a hole in a sparse array`;
        const found = problem(value[i], `${path}[${i}]`, open);
        if (found) return found;
      }
      return undefined;
    }
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      const name = (value as { constructor?: { name?: string } }).constructor?.name ?? "object";
      return `${path} is a ${name}, not a plain object`;
    }
    for (const [key, item] of Object.entries(value)) {
      const found = problem(item, `${path}.${key}`, open);
      if (found) return found;
    }
    return undefined;
  } finally {
    open.delete(value);
  }
}

export function isJsonValue(value: unknown): value is JsonValue {
  return jsonProblem(value) === undefined;
}

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

// Legal raw inside JSON strings, but JavaScript's readline and Python's str.splitlines()
// break lines on them, so protocol v1 writers escape them (docs/protocol.md, section 3).
const LINE_BREAKS = /[\u2028\u2029\u0085]/g;

/** Compact JSON on one line, as protocol v1 writes every event. */
export function encodeJson(value: JsonValue): string {
  return JSON.stringify(value).replace(
    LINE_BREAKS,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** `typeof`-style name of a value with a short excerpt, for error messages. */
export function describeValue(value: unknown, limit = 60): string {
  let kind: string = typeof value;
  if (value === null) kind = "null";
  else if (Array.isArray(value)) kind = "array";
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  if (text.length > limit) text = `${text.slice(0, limit - 3)}...`;
  return kind === "null" ? "null" : `${kind} ${text}`;
}
