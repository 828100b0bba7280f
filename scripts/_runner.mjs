// What scripts/test.mjs and scripts/integration.mjs share: running a test runner with its
// output echoed and kept, reading its pass/fail counts, and naming what failed.
//
// The failure lines start with "  ! " so that .ci/run can gather them from every phase and
// print them again at the very end: the end of a CI log is the part that gets read.
import { spawn } from "node:child_process";
import { root } from "./setup.mjs";

/**
 * Runs a command in the project root, echoing its output; resolves with its exit code and
 * output. A run still going when this process exits (a signal, process.exit) is killed.
 */
export function exec(label, cmd, args, env = process.env) {
  console.log(`\n=== ${label}: ${[cmd.split("/").pop(), ...args].join(" ")}`);
  return new Promise((resolveRun) => {
    const child = spawn(cmd, args, { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
    const kill = () => child.kill();
    process.prependListener("exit", kill);
    child.on("close", () => process.off("exit", kill));
    let out = "";
    child.stdout.on("data", (d) => (out += d, process.stdout.write(d)));
    child.stderr.on("data", (d) => (out += d, process.stderr.write(d)));
    child.on("close", (code, signal) => resolveRun({ code: code ?? (signal ? 1 : 0), out }));
  });
}

/**
 * Pass/fail counts from each runner's own summary, as [passed, failed] (undefined when the
 * runner printed none). Deno counts a describe() as one test with steps: count the steps, as
 * Bun and Node count tests.
 */
export const counters = {
  // Failures: one per entry of its ERRORS list, which names failed steps and failed tests
  // without steps alike (its "N failed (M steps)" counts a describe() failing by a step twice).
  deno: (o) => [
    /(\d+) passed \((\d+) steps?\)/.exec(o)?.[2] ?? /(\d+) passed/.exec(o)?.[1],
    failures("deno", o).length || /(\d+) failed/.exec(o)?.[1],
  ],
  bun: (o) => [/^\s*(\d+) pass$/m.exec(o)?.[1], /^\s*(\d+) fail$/m.exec(o)?.[1]],
  node: (o) => [/^ℹ pass (\d+)$/m.exec(o)?.[1], /^ℹ fail (\d+)$/m.exec(o)?.[1]],
};

const isStack = (line) => /^\s*at\s/.test(line);

/** Up to `n` message lines: non-empty, not a stack frame, stopping at the first frame. */
function messageLines(lines, n = 3) {
  const out = [];
  for (const line of lines) {
    if (isStack(line) || out.length === n) break;
    // Skip blanks and the property dump under an AssertionError ("generatedMessage: false,").
    if (line.trim() && !/^\s*\w+: .*,$/.test(line)) out.push(line.trim().slice(0, 240));
  }
  return out;
}

/** Each failed test's name and the first lines of its error, from one runner's output. */
export function failures(runner, out) {
  // deno-lint-ignore no-control-regex
  const lines = out.replace(/\x1b\[[0-9;]*m/g, "").split("\n");
  const found = [];
  if (runner === "node") {
    // After the summary: "✖ failing tests:", then per test "test at …", "✖ name (…ms)", error.
    const start = lines.findIndex((l) => l.startsWith("✖ failing tests:"));
    for (let i = start < 0 ? lines.length : start; i < lines.length; i++) {
      const m = /^✖ (.*?)(?: \([\d.]+m?s\))?$/.exec(lines[i]);
      if (m && i > start) found.push({ name: m[1], message: messageLines(lines.slice(i + 1)) });
    }
  } else if (runner === "deno") {
    // " ERRORS ", then per test "name => location", "error: …", a blank, more message.
    const start = lines.findIndex((l) => l.trim() === "ERRORS");
    const end = lines.findIndex((l) => l.trim() === "FAILURES");
    for (let i = start < 0 ? lines.length : start + 1; i < (end < 0 ? lines.length : end); i++) {
      const m = /^(\S.*?) => \S+$/.exec(lines[i]);
      if (m) found.push({ name: m[1], message: messageLines(lines.slice(i + 1)) });
    }
  } else if (runner === "bun") {
    // The error comes first (source excerpt, "error: …" or "SomeError: …"), then "(fail) name".
    let from = 0;
    for (let i = 0; i < lines.length; i++) {
      if (/^\d+ tests? failed:$/.test(lines[i])) break; // the recap lists them again
      if (/^\((pass|skip|todo)\) /.test(lines[i])) from = i + 1;
      const m = /^\(fail\) (.*?)(?: \[[\d.]+m?s\])?$/.exec(lines[i]);
      if (!m) continue;
      const block = lines.slice(from, i);
      const at = block.findIndex((l) => /^(error: |\w*Error\b)/.test(l));
      found.push({ name: m[1], message: at < 0 ? [] : messageLines(block.slice(at)) });
      from = i + 1;
    }
  }
  return found;
}

/** The summary lines for one runner's failures, each starting with "  ! ". */
export function failureLines(runner, out, max = 20) {
  const found = failures(runner, out);
  const lines = [];
  for (const { name, message } of found.slice(0, max)) {
    lines.push(`  ! ${runner}: ${name}`);
    for (const m of message) lines.push(`  !     ${m}`);
  }
  if (found.length > max) lines.push(`  ! ${runner}: … and ${found.length - max} more`);
  return lines;
}
