// The agent process: run.sh starts it (tests import agent.mjs without running it).
import { agent } from "./agent.mjs";

await agent.run();
