// Spawned by size_startup.ts in a fresh process per sample: imports the given specifiers and
// prints how long the imports took (in-process, so runtime start-up is not counted).
import process from "node:process";

const specifiers = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const t0 = performance.now();
for (const s of specifiers) await import(s);
const t1 = performance.now();
console.log(JSON.stringify({ importMs: t1 - t0 }));
