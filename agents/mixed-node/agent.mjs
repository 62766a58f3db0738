// mentatlab.mixed-node: the Node.js step of examples/mixed.flow.yaml.
import { defineAgent } from "@mentatlab/sdk";

export const agent = defineAgent({
  inputs: { words: "json", trail: "json" },
  outputs: { counts: "json", trail: "json" },
  handler(ctx, { words, trail }) {
    const counts = new Map();
    for (const word of words) counts.set(word, (counts.get(word) ?? 0) + 1);
    // Most frequent first, then alphabetical: a stable order for the next step.
    const sorted = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    ctx.log(`node: ${sorted.length} distinct words`);
    return { counts: Object.fromEntries(sorted), trail: [...trail, "node"] };
  },
});
