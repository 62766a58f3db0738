import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { EnvelopeError, parseEnvelope } from "../src/protocol.js";

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

describe("parseEnvelope", () => {
  it("fills in the defaults of missing fields", () => {
    assert.deepEqual(parseEnvelope(bytes('{"run":{"id":"r","node":"n","attempt":2.0}}')), {
      protocol: "mentatlab.agent/v1",
      run: { id: "r", node: "n", attempt: 2 },
      inputs: {},
      params: {},
      resume: null,
    });
  });

  it("ignores unknown fields", () => {
    const envelope = parseEnvelope(bytes('{"run":{"id":"r","node":"n","attempt":1,"x":1},"later":true,"resume":{"k":1}}'));
    assert.deepEqual(envelope.resume, { k: 1 });
  });

  it("lists every problem of an invalid envelope", () => {
    const cases: [string | Uint8Array, string][] = [
      ["", "stdin is not a JSON input envelope: Unexpected end of JSON input"],
      ["[1]", "invalid input envelope: envelope: must be an object, got array [1]"],
      [
        '{"protocol":"mentatlab.agent/v2","run":{"id":"r","attempt":0}}',
        "invalid input envelope: protocol: must be 'mentatlab.agent/v1', got string \"mentatlab.agent/v2\"; " +
          "run.node: required; run.attempt: must be an integer >= 1, got number 0",
      ],
      ['{"run":{"id":1,"node":"n","attempt":"1"},"inputs":[],"params":null}',
        'invalid input envelope: run.id: must be a string, got number 1; run.attempt: must be an integer >= 1, got string "1"; ' +
          "inputs: must be an object, got array []; params: must be an object, got null"],
      ['{"inputs":{}}', "invalid input envelope: run: required"],
      [new Uint8Array([0x7b, 0xff, 0x7d]), "stdin is not a JSON input envelope: it is not valid UTF-8"],
    ];
    for (const [input, message] of cases) {
      assert.throws(() => parseEnvelope(typeof input === "string" ? bytes(input) : input), (error: unknown) => {
        assert.ok(error instanceof EnvelopeError);
        assert.equal(error.message, message);
        return true;
      });
    }
  });

  it("rejects NaN, trailing data and a byte order mark", () => {
    for (const text of ['{"run":{"id":"r","node":"n","attempt":1},"x":NaN}', '{"run":{"id":"r","node":"n","attempt":1}} {}', '\uFEFF{"run":{"id":"r","node":"n","attempt":1}}']) {
      assert.throws(() => parseEnvelope(bytes(text)), EnvelopeError);
    }
  });
});
