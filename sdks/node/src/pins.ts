/**
 * Pins declared in code, with the TypeScript types they give the handler's inputs and outputs.
 *
 * Pin types are the manifest's (`schemas/agent-manifest.v1.schema.json`). Values arrive as
 * JSON, so checks are light: `string`, `number` and `boolean` pins check the JSON type; every
 * other type accepts any JSON value. Nothing is ever converted.
 */

import { describeValue, type JsonObject, type JsonValue } from "./json.js";

export type PinType =
  | "string"
  | "number"
  | "boolean"
  | "json"
  | "binary"
  | "audio"
  | "image"
  | "video"
  | "stream";

export interface PinOptions {
  readonly type: PinType;
  /** Inputs: whether a value must be given; true unless a `default` is declared. */
  readonly required?: boolean;
  /** Inputs: the value used when none is given. */
  readonly default?: JsonValue;
  readonly description?: string;
}

/** A pin declared by its type alone (`"string"`) or with options. */
export type PinSpec = PinType | PinOptions;
export type PinSpecs = { readonly [name: string]: PinSpec };

type ValueOfType<T extends PinType> = T extends "string"
  ? string
  : T extends "number"
    ? number
    : T extends "boolean"
      ? boolean
      : JsonValue;

/** The TypeScript type of a pin's value. */
export type PinValue<S extends PinSpec> = S extends PinType
  ? ValueOfType<S>
  : S extends { readonly type: infer T extends PinType }
    ? ValueOfType<T>
    : never;

// Optional means: may be absent in the handler's inputs (required: false and no default).
type IsOptional<S> = S extends { readonly default: JsonValue }
  ? false
  : S extends { readonly required: false }
    ? true
    : false;

type Simplify<T> = { [K in keyof T]: T[K] } & {};

/** The handler's `inputs` for declared input pins. */
export type InputsOf<S extends PinSpecs> = Simplify<
  { -readonly [K in keyof S as IsOptional<S[K]> extends true ? never : K]: PinValue<S[K]> } & {
    -readonly [K in keyof S as IsOptional<S[K]> extends true ? K : never]?: PinValue<S[K]>;
  }
>;

/** What a handler with declared output pins may return: any subset of them. */
export type OutputsOf<S extends PinSpecs> = Simplify<{ -readonly [K in keyof S]?: PinValue<S[K]> }>;

/** A declared pin, normalised. */
export interface Pin {
  readonly name: string;
  readonly type: PinType;
  readonly required: boolean;
  readonly default?: JsonValue;
  readonly description?: string;
}

export function normalizePins(specs: PinSpecs, what: "input" | "output"): readonly Pin[] {
  return Object.entries(specs).map(([name, spec]) => {
    if (name === "") throw new TypeError(`${what} pin names must not be empty`);
    const options: PinOptions = typeof spec === "string" ? { type: spec } : spec;
    if (!PIN_TYPES.has(options.type)) {
      throw new TypeError(`${what} pin '${name}': unknown type ${describeValue(options.type)}`);
    }
    const pin: { -readonly [K in keyof Pin]: Pin[K] } = {
      name,
      type: options.type,
      required: what === "input" && options.default === undefined && options.required !== false,
    };
    if (options.default !== undefined) {
      const problem = pinProblem(pin, options.default);
      if (problem) throw new TypeError(`${what} pin '${name}': default ${problem}`);
      pin.default = options.default;
    }
    if (options.description !== undefined) pin.description = options.description;
    return Object.freeze(pin);
  });
}

const PIN_TYPES: ReadonlySet<string> = new Set<PinType>([
  "string",
  "number",
  "boolean",
  "json",
  "binary",
  "audio",
  "image",
  "video",
  "stream",
]);

/** Why `value` does not fit `pin`, or `undefined` when it does. */
export function pinProblem(pin: Pin, value: JsonValue): string | undefined {
  const expected = pin.type;
  if (expected === "string" || expected === "number" || expected === "boolean") {
    // typeof true is "boolean", never "number": JSON's booleans are not numbers here either.
    if (typeof value !== expected) return `must be ${expected}, got ${describeValue(value)}`;
  }
  return undefined;
}

/** The inputs given to a handler with declared pins; `FatalError` material otherwise. */
export interface BoundInputs {
  values: JsonObject;
  missing: string[];
  wrong: string[];
  extra: string[];
}

export function bindInputs(pins: readonly Pin[], inputs: JsonObject): BoundInputs {
  const bound: BoundInputs = { values: {}, missing: [], wrong: [], extra: [] };
  const declared = new Set(pins.map((pin) => pin.name));
  for (const pin of pins) {
    const value = Object.hasOwn(inputs, pin.name) ? inputs[pin.name] : undefined;
    if (value === undefined) {
      if (pin.default !== undefined) bound.values[pin.name] = structuredClone(pin.default);
      else if (pin.required) bound.missing.push(`required input '${pin.name}' was not given`);
      continue;
    }
    const problem = pinProblem(pin, value);
    if (problem) bound.wrong.push(`input '${pin.name}' ${problem}`);
    bound.values[pin.name] = value;
  }
  bound.extra = Object.keys(inputs).filter((name) => !declared.has(name));
  return bound;
}
