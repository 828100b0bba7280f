// `<runtime> tests/runtime/smoke_cli.ts <baseURL>`: runs the smoke, prints one line.
import { runSmoke } from "./smoke.ts";

// deno-lint-ignore no-explicit-any
const g = globalThis as any;
const args: string[] = g.Deno ? g.Deno.args : g.process.argv.slice(2);
try {
  console.log(await runSmoke(args[0]!));
} catch (err) {
  console.error(`smoke failed: ${err instanceof Error ? err.stack : err}`);
  if (g.Deno) g.Deno.exit(1);
  else g.process.exit(1);
}
