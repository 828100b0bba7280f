// Runtime glue for the examples, so each one runs unchanged on Deno, Bun and Node: stdout,
// env, argv, exit codes, Ctrl-C, TTY and colour detection. The library itself (src/) uses
// none of this; it lives here because examples are command-line programs.
//
// Deno 2 also has a `process` global, so Deno is checked first everywhere.

interface DenoStd {
  writeSync(p: Uint8Array): number;
  isTerminal(): boolean;
}
interface DenoLike {
  env: { get(name: string): string | undefined };
  args: string[];
  stdout: DenoStd;
  stderr: DenoStd;
  exitCode: number;
  addSignalListener(signal: "SIGINT", handler: () => void): void;
  removeSignalListener(signal: "SIGINT", handler: () => void): void;
}
interface NodeStd {
  write(text: string): boolean;
  isTTY?: boolean;
}
interface ProcessLike {
  env: Record<string, string | undefined>;
  argv: string[];
  stdout: NodeStd;
  stderr: NodeStd;
  exitCode?: number | string;
  on(signal: "SIGINT", handler: () => void): void;
  off(signal: "SIGINT", handler: () => void): void;
}

const g = globalThis as unknown as { Deno?: DenoLike; process?: ProcessLike };
const encoder = new TextEncoder();

/** An environment variable, or `undefined` (also when env access is not permitted). */
export function env(name: string): string | undefined {
  try {
    if (g.Deno) return g.Deno.env.get(name);
    return g.process?.env[name];
  } catch {
    return undefined; // Deno without --allow-env
  }
}

/** Command-line arguments after the script name. */
export function args(): string[] {
  if (g.Deno) return [...g.Deno.args];
  return g.process?.argv.slice(2) ?? [];
}

function writeTo(stream: "stdout" | "stderr", text: string): void {
  if (g.Deno) {
    const out = g.Deno[stream];
    let bytes = encoder.encode(text);
    // writeSync may write less than asked: loop until everything is out.
    while (bytes.length > 0) bytes = bytes.subarray(out.writeSync(bytes));
    return;
  }
  if (g.process) g.process[stream].write(text);
  else console.log(text); // some other runtime: a newline too many beats nothing
}

/** Writes to stdout without adding a newline. */
export function write(text: string): void {
  writeTo("stdout", text);
}

/** Writes to stderr without adding a newline. */
export function writeErr(text: string): void {
  writeTo("stderr", text);
}

/** Whether stdout (or stderr) is an interactive terminal. */
export function isTTY(stream: "stdout" | "stderr" = "stdout"): boolean {
  try {
    if (g.Deno) return g.Deno[stream].isTerminal();
    return g.process?.[stream].isTTY === true;
  } catch {
    return false;
  }
}

/** Colours only on a terminal, and never when NO_COLOR is set (https://no-color.org). */
export function useColor(stream: "stdout" | "stderr" = "stdout"): boolean {
  const noColor = env("NO_COLOR");
  return noColor === undefined || noColor === "" ? isTTY(stream) : false;
}

/** ANSI styles; each is the identity when colours are off. */
export interface Paint {
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
  magenta(s: string): string;
}

/** Styles for a stream, or plain text when `enabled` is false. */
export function paint(enabled: boolean): Paint {
  const style = (open: number, close: number) => (s: string) =>
    enabled ? `\x1b[${open}m${s}\x1b[${close}m` : s;
  return {
    bold: style(1, 22),
    dim: style(2, 22),
    red: style(31, 39),
    green: style(32, 39),
    yellow: style(33, 39),
    cyan: style(36, 39),
    magenta: style(35, 39),
  };
}

/** Sets the exit code the process ends with (lets pending output flush, unlike exit()). */
export function setExitCode(code: number): void {
  if (g.Deno) g.Deno.exitCode = code;
  else if (g.process) g.process.exitCode = code;
}

/** Calls `handler` on Ctrl-C instead of dying; returns a function that removes it. */
export function onInterrupt(handler: () => void): () => void {
  try {
    if (g.Deno) {
      g.Deno.addSignalListener("SIGINT", handler);
      return () => g.Deno!.removeSignalListener("SIGINT", handler);
    }
    if (g.process) {
      g.process.on("SIGINT", handler);
      return () => g.process!.off("SIGINT", handler);
    }
  } catch { /* no signals here (e.g. Windows without SIGINT support): keep the default */ }
  return () => {};
}

/**
 * Whether the module is the program's entry point (`import.meta.main` on Deno, Bun and
 * Node ≥ 24.2; a path comparison on older Node).
 */
export function isMain(meta: ImportMeta): boolean {
  const m = meta as ImportMeta & { main?: unknown; filename?: string };
  if (typeof m.main === "boolean") return m.main;
  const entry = g.process?.argv[1];
  return entry !== undefined && m.filename !== undefined &&
    (m.filename === entry || m.filename === `${entry}.ts`);
}

/** Milliseconds since `start`, for display. */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}
