import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { encodeJson, jsonProblem } from "../src/json.js";

describe("jsonProblem", () => {
  it("accepts JSON values", () => {
    for (const value of [null, true, 0, -1.5, "", "🧠", [], {}, { a: [1, { b: null }] }, Object.create(null)]) {
      assert.equal(jsonProblem(value), undefined);
    }
  });

  it("names what JSON.stringify would silently change", () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const cases: [unknown, string][] = [
      [Number.NaN, "value is NaN (NaN and Infinity are not JSON)"],
      [{ a: [1, Infinity] }, "value.a[1] is Infinity (NaN and Infinity are not JSON)"],
      [undefined, "value is undefined, not a JSON value"],
      [{ f: () => 1 }, "value.f is a function, not a JSON value"],
      [10n, "value is a bigint, not a JSON value"],
      [new Date(0), "value is a Date, not a plain object"],
      [new Map(), "value is a Map, not a plain object"],
      [cyclic, "value.self contains itself (a cycle)"],
      // eslint-disable-next-line no-sparse-arrays
      [[1, , 3], "value[1] is a hole in a sparse array"],
    ];
    for (const [value, expected] of cases) assert.equal(jsonProblem(value), expected);
  });

  it("allows the same object twice when it is not a cycle", () => {
    const shared = { x: 1 };
    assert.equal(jsonProblem([shared, shared]), undefined);
  });
});

describe("encodeJson", () => {
  it("writes compact JSON with line separators escaped", () => {
    assert.equal(encodeJson({ a: "x\u2028y\u2029z\u0085", b: [1, 2] }), '{"a":"x\\u2028y\\u2029z\\u0085","b":[1,2]}');
  });

  it("keeps non-ASCII characters as they are", () => {
    assert.equal(encodeJson("é🧠\n"), '"é🧠\\n"');
  });
});
