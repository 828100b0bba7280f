// `npm run demo`: the offline demo (examples/demo.ts: a scripted, tool-using agent run against
// the test kit's fake LM Studio). Plain JavaScript so it runs on whatever Node the machine has:
// setup() installs the dependencies and Node 24 (which runs .ts directly) on first use.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { root, setup } from "./setup.mjs";

const { node } = setup();
const r = spawnSync(node, [join(root, "examples", "demo.ts"), ...process.argv.slice(2)], {
  cwd: root,
  stdio: "inherit",
});
if (r.error) {
  console.error(`demo: could not start ${node}: ${r.error.message}`);
  process.exit(1);
}
process.exit(r.status ?? 1);
