/**
 * Tools the agent can call: {@link defineTool} to declare one, {@link createToolRegistry} to
 * index them by name, and {@link runTool} to validate a model's arguments and execute a call.
 *
 * A tool call can go wrong in three ways the model can fix (unknown tool, bad arguments, the
 * tool threw). None of them is thrown: {@link runTool} returns them as a {@link ToolOutcome}
 * that the agent feeds back to the model. Only aborts propagate.
 *
 * @module
 */
import * as z from "zod";
import { untilAborted } from "./_abort.ts";
import { checkJSONSchema, isJSONSchema, validateJSONSchema } from "./_json_schema.ts";
import { clipText, describeValue, errorText, isPlainObject } from "./_text.ts";
import { type JSONSchemaObject, toolParametersSchema } from "./tool_schema.ts";

/**
 * What a tool's `execute` receives besides its arguments.
 *
 * @example Stop work when the run is aborted
 * ```ts
 * import type { ToolContext } from "@ai-agent/orchestrator";
 * async function fetchPage(url: string, context: ToolContext): Promise<string> {
 *   const response = await fetch(url, { signal: context.signal });
 *   return await response.text();
 * }
 * ```
 */
export interface ToolContext {
  /** Aborted when the agent run is aborted; pass it on to `fetch` and timers. */
  signal: AbortSignal;
  /** The agent step (1-based) that made this call. */
  step: number;
  /**
   * Identifies this call in the agent's events: the server's tool-call id, or, when it gave
   * none, `s<step>c<index>` (9 alphanumerics, as Mistral's chat templates demand).
   */
  callId: string;
}

/**
 * The shape of a tool's `parameters`: a zod 4 object schema made with `z.object({...})` from
 * `"zod"` (zod ≥ 4) or `"zod/v4"` (zod 3.25). Public types name this instead of zod's internal
 * classes. zod 3 schemas (no `_zod`) and zod/mini schemas (no methods such as `describe`) do
 * not fit this type, and are rejected at run time too, with a message naming what was found.
 *
 * @example
 * ```ts
 * import * as z from "zod";
 * import type { ObjectSchema } from "@ai-agent/orchestrator";
 * const parameters: ObjectSchema<{ city: string }> = z.object({ city: z.string() });
 * ```
 */
export interface ObjectSchema<Output = Record<string, unknown>> {
  /** Standard Schema properties (zod provides them). */
  readonly "~standard": {
    readonly version: 1;
    readonly vendor: string;
    readonly types?: { readonly input: unknown; readonly output: Output } | undefined;
  };
  /** zod 4's internals (zod 3 schemas have none). */
  readonly _zod: { readonly version: { readonly major: 4 } };
  /** The object's fields. */
  readonly shape: object;
  /** A zod 4 classic method (zod/mini schemas have no methods of this kind). */
  describe(description: string): unknown;
}

/**
 * The validated arguments type of a parameters schema (like `z.infer`).
 *
 * @example
 * ```ts
 * import * as z from "zod";
 * import type { InferOutput } from "@ai-agent/orchestrator";
 * const parameters = z.object({ a: z.number() });
 * const args: InferOutput<typeof parameters> = { a: 1 };
 * ```
 */
export type InferOutput<S> = S extends ObjectSchema<infer O> ? O
  : S extends JSONSchemaObject ? Record<string, unknown>
  : never;

/**
 * What a tool's `parameters` may be: a zod object schema, or a plain JSON Schema object
 * (`{ type: "object", properties: {...} }`, as MCP servers describe their tools).
 *
 * @example
 * ```ts
 * import * as z from "zod";
 * import type { ToolParameters } from "@ai-agent/orchestrator";
 * const withZod: ToolParameters = z.object({ q: z.string() });
 * const withJSONSchema: ToolParameters = { type: "object", properties: { q: { type: "string" } } };
 * ```
 */
export type ToolParameters = ObjectSchema | JSONSchemaObject;

/**
 * A tool: a name the model uses, a description it reads, a zod object schema for the arguments
 * and the function that runs. `execute` receives the arguments already validated (and with
 * zod's defaults and transforms applied).
 *
 * @example A tool with typed arguments
 * ```ts
 * import * as z from "zod";
 * import type { Tool } from "@ai-agent/orchestrator";
 * const parameters = z.object({ a: z.number(), b: z.number() });
 * const add: Tool<typeof parameters, number> = {
 *   name: "add",
 *   description: "Adds two numbers.",
 *   parameters,
 *   execute: ({ a, b }) => a + b,
 * };
 * ```
 */
export interface Tool<P extends ToolParameters = ObjectSchema, R = unknown> {
  /** How the model names the tool: `/^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/`. */
  readonly name: string;
  /** What the tool does and when to use it, for the model. */
  readonly description: string;
  /**
   * The arguments, as a zod object schema (`z.object({...})`) or a plain JSON Schema object
   * (then `execute` gets the validated arguments as they were sent, without defaults applied).
   */
  readonly parameters: P;
  /**
   * Runs the tool. Whatever it returns (or resolves to) is shown to the model: strings as-is,
   * `Map`s and `Set`s as JSON arrays of their entries, everything else as JSON, `undefined` as
   * `"(no result)"`; a function or a symbol is a tool error. Throwing is fine: the model sees
   * the error message (or, for a thrown non-Error, the value as JSON).
   *
   * A property, not a method, so that `args` is checked strictly: an `execute` that expects
   * more than `parameters` gives is a type error.
   */
  readonly execute: (args: InferOutput<P>, context: ToolContext) => R | Promise<R>;
  /**
   * Whether a call must be approved by a person before it runs (README "Controlling a run").
   * `true`, or a function of the validated arguments deciding per call (a throw counts as
   * `true`). When the model calls such a tool nothing of that step runs: the run ends with
   * `stopReason: "interrupted"`, `result.interruptions` and `result.state`, to be continued
   * with `agent.resume()`. Calls with invalid arguments or of unknown tools never need it (they
   * cannot run).
   * @default false
   */
  readonly needsApproval?:
    | boolean
    | ((args: InferOutput<P>, context: ToolContext) => boolean | Promise<boolean>);
}

/**
 * Why a tool call produced no result, as the model and the events see it: no such tool, the
 * schema rejected the arguments, the tool threw, a person rejected the call, or the same call
 * was made too often in a row (the loop guard; README "Controlling a run").
 *
 * @example
 * ```ts
 * import type { ToolErrorKind } from "@ai-agent/orchestrator";
 * const byUser = (kind: ToolErrorKind) => kind === "rejected";
 * ```
 */
export type ToolErrorKind =
  | "unknown_tool"
  | "invalid_arguments"
  | "execution_error"
  | "rejected"
  | "repeated_call";

/**
 * Any tool, whatever its arguments and result: the element type of tool lists. (`any` is
 * needed: `execute`'s parameter is contravariant, so no narrower type accepts tools with
 * different argument schemas.)
 *
 * @example A list of different tools
 * ```ts
 * import * as z from "zod";
 * import { type AnyTool, defineTool } from "@ai-agent/orchestrator";
 * const tools: AnyTool[] = [
 *   defineTool({
 *     name: "now",
 *     description: "Current time as an ISO string.",
 *     parameters: z.object({}),
 *     execute: () => new Date().toISOString(),
 *   }),
 * ];
 * ```
 */
// deno-lint-ignore no-explicit-any
export type AnyTool = Tool<any, unknown>;

const TOOL_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;

/**
 * Keys removed from model-supplied arguments at every depth before validation: they are how
 * naive merge code gets tricked into writing to `Object.prototype`. A tool therefore cannot
 * declare parameters with these names.
 */
const UNSAFE_KEYS: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"]);

/** Throws a TypeError naming the bad field; `where` prefixes the message. */
function validateTool(tool: unknown, where: string): asserts tool is AnyTool {
  if (tool === null || typeof tool !== "object") {
    throw new TypeError(
      `${where}: expected an object with name, description, parameters and execute, got ${
        describeValue(tool)
      }`,
    );
  }
  const { name, description, parameters, execute } = tool as Record<string, unknown>;
  if (typeof name !== "string" || !TOOL_NAME.test(name)) {
    throw new TypeError(
      `${where}: name must match ${TOOL_NAME} (other names are tool names the protocol cannot carry), got ${
        describeValue(name)
      }`,
    );
  }
  const label = `${where} "${name}"`;
  if (typeof description !== "string" || description.trim() === "") {
    throw new TypeError(
      `${label}: description must be a non-empty string, got ${describeValue(description)}`,
    );
  }
  let keys: string[];
  if (isJSONSchema(parameters)) {
    keys = checkJSONSchema(parameters, label);
  } else {
    checkParameters(parameters, label);
    keys = Object.keys(parameters.shape);
  }
  for (const key of keys) {
    if (UNSAFE_KEYS.has(key)) {
      throw new TypeError(
        `${label}: parameters must not declare the key "${key}" (it is removed from model arguments)`,
      );
    }
  }
  if (typeof execute !== "function") {
    throw new TypeError(`${label}: execute must be a function, got ${describeValue(execute)}`);
  }
  const { needsApproval } = tool as Record<string, unknown>;
  if (
    needsApproval !== undefined && typeof needsApproval !== "boolean" &&
    typeof needsApproval !== "function"
  ) {
    throw new TypeError(
      `${label}: needsApproval must be true, false or a function, got ${
        describeValue(needsApproval)
      }`,
    );
  }
}

/**
 * Whether this call of a tool must wait for a person's approval: the tool's `needsApproval`,
 * asked with the validated arguments. Unknown tools and arguments the schema rejects need none
 * (they cannot run); a `needsApproval` function that throws counts as "needs approval".
 */
export async function callNeedsApproval(
  registry: ReadonlyMap<string, AnyTool>,
  name: string,
  args: unknown,
  context: ToolContext,
): Promise<boolean> {
  const tool = registry.get(name);
  const rule = tool?.needsApproval;
  if (tool === undefined || rule === undefined || rule === false) return false;
  let parsed;
  try {
    parsed = await parseArguments(tool, withoutPrototypeKeys(args));
  } catch {
    return false; // runTool reports it as an execution error without running the tool
  }
  if (!parsed.success) return false;
  if (rule === true) return true;
  try {
    return Boolean(await rule(parsed.data, context));
  } catch {
    return true;
  }
}

/** The validated arguments, or the message the model reads (zod's or the JSON Schema's). */
async function parseArguments(
  tool: AnyTool,
  args: unknown,
): Promise<{ success: true; data: unknown } | { success: false; error: string; cause: unknown }> {
  const parameters: unknown = tool.parameters;
  if (isJSONSchema(parameters)) {
    const checked = validateJSONSchema(parameters, args);
    return checked.success ? checked : {
      success: false,
      error: checked.message,
      cause: checked.errors,
    };
  }
  // Async so that schemas with async refinements work too.
  const parsed = await (parameters as z.ZodType).safeParseAsync(args);
  return parsed.success ? parsed : {
    success: false,
    error: z.prettifyError(parsed.error),
    cause: parsed.error,
  };
}

/**
 * Throws unless `parameters` is a zod 4 classic object schema, saying which zod was found
 * instead (zod 3 and zod/mini schemas both look like "a ZodObject" to a reader).
 */
function checkParameters(parameters: unknown, label: string): asserts parameters is z.ZodObject {
  if (parameters instanceof z.ZodObject) return;
  const need = "parameters must be a zod object schema (z.object({...})) of zod 4 " +
    '(`import * as z from "zod"` with zod ≥ 4, or from "zod/v4" with zod 3.25), or a plain ' +
    'JSON Schema with type "object"';
  const found = parameters as {
    _zod?: { version?: { major?: unknown; minor?: unknown; patch?: unknown }; def?: unknown };
    _def?: unknown;
    describe?: unknown;
    shape?: unknown;
  } | null;
  if (found !== null && typeof found === "object") {
    const zod = found._zod;
    if (zod === undefined && found._def !== undefined) {
      throw new TypeError(
        `${label}: ${need}; got a zod 3 schema (${className(found)}: it has _def but no ` +
          "_zod), which this library cannot read",
      );
    }
    if (zod !== undefined && zod !== null && typeof zod === "object") {
      const v = zod.version;
      const version = v ? `zod ${String(v.major)}.${String(v.minor)}.${String(v.patch)}` : "zod";
      const type = (zod.def as { type?: unknown } | undefined)?.type;
      if (typeof found.describe !== "function") {
        throw new TypeError(
          `${label}: ${need}; got a zod/mini schema (${className(found)}, ${version}): ` +
            'import z from "zod", not "zod/mini"',
        );
      }
      // A zod 4 object from another copy of zod (two versions installed): it works alike.
      if (type === "object" && v?.major === 4 && typeof found.shape === "object") return;
      throw new TypeError(
        `${label}: ${need}; got a ${version} ${String(type)} schema (${className(found)})`,
      );
    }
  }
  throw new TypeError(`${label}: ${need}; got ${describeValue(parameters)}`);
}

function className(value: object): string {
  const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === "string" && name !== "" ? name : "no class";
}

/**
 * Validates a tool definition and returns it, frozen. Arguments of `execute` are typed from
 * `parameters`.
 *
 * @param definition The tool: `name` matching `/^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/`, a non-empty
 *   `description`, `parameters` made with `z.object({...})` or a plain JSON Schema object
 *   (`type: "object"`; neither declaring `__proto__`, `constructor` or `prototype`) and an
 *   `execute` function.
 * @returns The same object, frozen.
 * @throws {TypeError} Naming the field that is wrong.
 * @throws {ToolSchemaError} When a parameter's type cannot be written as JSON (`z.date()`,
 *   `z.bigint()`, …), naming the field and the fix.
 *
 * @example Define a calculator tool
 * ```ts
 * import * as z from "zod";
 * import { defineTool } from "@ai-agent/orchestrator";
 * const add = defineTool({
 *   name: "add",
 *   description: "Adds two numbers.",
 *   parameters: z.object({ a: z.number(), b: z.number() }),
 *   execute: ({ a, b }) => a + b,
 * });
 * ```
 *
 * @example The same tool with a plain JSON Schema (no zod needed)
 * ```ts
 * import { defineTool } from "@ai-agent/orchestrator";
 * const add = defineTool({
 *   name: "add",
 *   description: "Adds two numbers.",
 *   parameters: {
 *     type: "object",
 *     properties: { a: { type: "number" }, b: { type: "number" } },
 *     required: ["a", "b"],
 *   },
 *   execute: (args) => Number(args.a) + Number(args.b),
 * });
 * ```
 */
export function defineTool<P extends ToolParameters, R>(definition: Tool<P, R>): Tool<P, R> {
  validateTool(definition, "Cannot define tool");
  // Fails now, not at the first run, for parameters the model could never write as JSON.
  toolParametersSchema(definition);
  return Object.freeze(definition);
}

/**
 * Indexes tools by name, validating each one as {@link defineTool} does (tools written as
 * plain objects are accepted too).
 *
 * @param tools The tools to offer.
 * @returns A map from tool name to tool.
 * @throws {TypeError} On a non-tool entry (naming its index and field) or a duplicate name.
 *
 * @example Look a tool up by name
 * ```ts
 * import * as z from "zod";
 * import { defineTool } from "@ai-agent/orchestrator";
 * import { createToolRegistry } from "./tools.ts";
 * const echo = defineTool({
 *   name: "echo",
 *   description: "Returns its input.",
 *   parameters: z.object({ text: z.string() }),
 *   execute: ({ text }) => text,
 * });
 * const registry = createToolRegistry([echo]);
 * console.log(registry.get("echo") === echo); // true
 * ```
 */
export function createToolRegistry(tools: readonly AnyTool[]): ReadonlyMap<string, AnyTool> {
  if (!Array.isArray(tools)) {
    throw new TypeError(
      `Cannot create tool registry: tools must be an array, got ${describeValue(tools)}`,
    );
  }
  const registry = new Map<string, AnyTool>();
  tools.forEach((tool: unknown, index) => {
    validateTool(tool, `Cannot create tool registry: tools[${index}]`);
    if (registry.has(tool.name)) {
      throw new TypeError(`Cannot create tool registry: duplicate tool name "${tool.name}"`);
    }
    registry.set(tool.name, tool);
  });
  return registry;
}

/**
 * Options for {@link runTool}.
 *
 * @example Limit a call's output
 * ```ts
 * import type { ToolRunOptions } from "./tools.ts";
 * const options: ToolRunOptions = {
 *   signal: AbortSignal.timeout(10_000),
 *   step: 1,
 *   callId: "call_1",
 *   maxResultChars: 4_000,
 * };
 * ```
 */
export interface ToolRunOptions {
  /** Aborts the call: `runTool` then rejects with `signal.reason`. */
  signal: AbortSignal;
  /** The agent step (1-based), passed to the tool. */
  step: number;
  /** The call's id, passed to the tool. */
  callId: string;
  /**
   * Longer outputs are cut here, with a note saying how much was left out. A positive
   * integer, or `Infinity` for no limit.
   * @default {20_000}
   */
  maxResultChars?: number;
}

/**
 * What came of one tool call. On success `output` is the text shown to the model; on failure
 * `kind` says who has to fix what and `error` is the text shown to the model.
 *
 * @example Report an outcome
 * ```ts
 * import type { ToolOutcome } from "@ai-agent/orchestrator";
 * const describe = (o: ToolOutcome) =>
 *   o.ok ? `${o.tool} → ${o.output}` : `${o.tool} failed (${o.kind}): ${o.error}`;
 * ```
 */
export type ToolOutcome =
  | {
    /** The tool ran and returned. */
    ok: true;
    /** The tool's name. */
    tool: string;
    /** The arguments the tool received (after validation, defaults and transforms). */
    args: unknown;
    /** What the tool returned, as returned. */
    value: unknown;
    /** `value` as text for the model, possibly truncated. */
    output: string;
    /** Wall time of validation plus execution. */
    durationMs: number;
  }
  | {
    /** The call failed in a way the model may fix. */
    ok: false;
    /** The requested tool name. */
    tool: string;
    /** The arguments as the model sent them (prototype keys removed). */
    args: unknown;
    /** No such tool, arguments rejected by the schema, the tool threw, rejected, repeated. */
    kind: ToolErrorKind;
    /** What went wrong, for the model. */
    error: string;
    /** Wall time until the failure. */
    durationMs: number;
    /** The ZodError, the JSON Schema's error list, or the value the tool threw. */
    cause?: unknown;
  };

const DEFAULT_MAX_RESULT_CHARS = 20_000;

/**
 * Runs one tool call: looks the tool up, validates the arguments with its schema, executes it
 * and renders the result as text.
 *
 * Never throws for a tool problem; it returns a failed {@link ToolOutcome} instead:
 * - `unknown_tool`: the error lists the available tool names;
 * - `invalid_arguments`: the error is zod's `z.prettifyError` message (for a JSON Schema, the
 *   innermost problems in the same layout);
 * - `execution_error`: the tool threw or rejected; the error is its message.
 *
 * Aborts are the exception: if `options.signal` is aborted before the call, while the tool runs
 * (even if the tool ignores the signal and never settles) or by the time it returns, this
 * rejects with `options.signal.reason`, unchanged.
 *
 * The arguments are copied before validation without any `__proto__`, `constructor` or
 * `prototype` keys (at every depth), so model-written JSON cannot reach `Object.prototype`
 * through a tool's merge code or change the prototype of what the tool receives.
 *
 * Output: strings as-is; `undefined` as `"(no result)"`; BigInt as its digits; `Map`s and
 * `Set`s (at any depth) as arrays of their entries; everything else as JSON (nested BigInts as
 * strings, circular references as `"[Circular]"`), falling back to `String(value)` when even
 * that fails. A returned function or symbol is an `execution_error` (never sent as source
 * code). A thrown non-Error is described as data (`throw { code: 42 }` gives
 * `The tool failed with {"code":42}`), `throw undefined` says so. Output longer than `maxResultChars` is cut with a note
 * like `"\n…[truncated 12345 more characters]"`.
 *
 * @param registry Tools by name, from {@link createToolRegistry}.
 * @param name The tool the model asked for.
 * @param args The arguments the model sent (JSON data).
 * @param options Signal, step, call id and output limit.
 * @returns The outcome, successful or not.
 * @throws {RangeError} If `maxResultChars` is not a positive integer or `Infinity`.
 *
 * @example Run a call the model asked for
 * ```ts
 * import * as z from "zod";
 * import { defineTool } from "@ai-agent/orchestrator";
 * import { createToolRegistry, runTool } from "./tools.ts";
 * const add = defineTool({
 *   name: "add",
 *   description: "Adds two numbers.",
 *   parameters: z.object({ a: z.number(), b: z.number() }),
 *   execute: ({ a, b }) => a + b,
 * });
 * const outcome = await runTool(createToolRegistry([add]), "add", { a: 2, b: 3 }, {
 *   signal: new AbortController().signal,
 *   step: 1,
 *   callId: "call_1",
 * });
 * console.log(outcome.ok ? outcome.output : outcome.error); // "5"
 * ```
 */
export async function runTool(
  registry: ReadonlyMap<string, AnyTool>,
  name: string,
  args: unknown,
  options: ToolRunOptions,
): Promise<ToolOutcome> {
  const { signal, step, callId } = options;
  const maxResultChars = options.maxResultChars ?? DEFAULT_MAX_RESULT_CHARS;
  if (
    !(maxResultChars === Infinity || (Number.isInteger(maxResultChars) && maxResultChars > 0))
  ) {
    throw new RangeError(
      `runTool: maxResultChars must be a positive integer or Infinity, got ${maxResultChars}`,
    );
  }
  signal.throwIfAborted();
  const started = performance.now();
  const elapsed = () => performance.now() - started;

  const tool = registry.get(name);
  if (tool === undefined) {
    const names = [...registry.keys()];
    const available = names.length > 0
      ? `Available tools: ${names.join(", ")}.`
      : "No tools are available.";
    return {
      ok: false,
      tool: name,
      args,
      kind: "unknown_tool",
      error: `Unknown tool ${JSON.stringify(name)}. ${available}`,
      durationMs: elapsed(),
    };
  }

  let safeArgs: unknown = args;
  let parsed;
  try {
    safeArgs = withoutPrototypeKeys(args);
    parsed = await parseArguments(tool, safeArgs);
  } catch (error) {
    // A getter on hand-built arguments or a refinement threw: the tool's problem, not the
    // model's, but still not something to crash the run over.
    signal.throwIfAborted();
    return {
      ok: false,
      tool: name,
      args: safeArgs,
      kind: "execution_error",
      error: `Validating the arguments failed: ${errorText(error)}`,
      durationMs: elapsed(),
      cause: error,
    };
  }
  signal.throwIfAborted();
  if (!parsed.success) {
    return {
      ok: false,
      tool: name,
      args: safeArgs,
      kind: "invalid_arguments",
      error: parsed.error,
      durationMs: elapsed(),
      cause: parsed.cause,
    };
  }

  let value: unknown;
  try {
    value = await untilAborted(
      Promise.resolve().then(() => tool.execute(parsed.data, { signal, step, callId })),
      signal,
    );
  } catch (error) {
    // A tool that rejects because the run was aborted must not turn the abort into an
    // observation: the caller expects its own abort reason back.
    signal.throwIfAborted();
    return {
      ok: false,
      tool: name,
      args: parsed.data,
      kind: "execution_error",
      error: thrownText(error),
      durationMs: elapsed(),
      cause: error,
    };
  }
  signal.throwIfAborted();
  if (typeof value === "function" || typeof value === "symbol") {
    // Never sent as source code or "Symbol(…)": almost surely a forgotten call, e.g.
    // `return getWeather` instead of `return getWeather(city)`.
    return {
      ok: false,
      tool: name,
      args: parsed.data,
      kind: "execution_error",
      error: `The tool returned a ${typeof value} instead of a result.`,
      durationMs: elapsed(),
      cause: value,
    };
  }
  return {
    ok: true,
    tool: name,
    args: parsed.data,
    value,
    output: truncate(renderValue(value), maxResultChars),
    durationMs: elapsed(),
  };
}

/**
 * Copies plain objects and arrays without the keys in {@link UNSAFE_KEYS}. Iterative (an
 * explicit stack) so deep data cannot overflow the call stack; shared and circular references
 * are preserved. Other values (dates, class instances) are kept as they are.
 */
function withoutPrototypeKeys(value: unknown): unknown {
  if (!Array.isArray(value) && !isPlainObject(value)) return value;
  const copies = new Map<object, Record<string, unknown>>();
  const copyOf = (source: object): Record<string, unknown> => {
    let copy = copies.get(source);
    if (copy === undefined) {
      // Plain `{}` targets: assignment is safe because "__proto__" is never assigned.
      copy = Array.isArray(source) ? [] as unknown as Record<string, unknown> : {};
      copies.set(source, copy);
      pending.push(source);
    }
    return copy;
  };
  const pending: object[] = [];
  const root = copyOf(value);
  while (pending.length > 0) {
    const source = pending.pop() as Record<string, unknown>;
    const target = copies.get(source)!;
    for (const key of Object.keys(source)) {
      if (UNSAFE_KEYS.has(key)) continue;
      const item = source[key];
      target[key] = Array.isArray(item) || isPlainObject(item) ? copyOf(item) : item;
    }
    if (Array.isArray(source)) (target as unknown as unknown[]).length = source.length;
  }
  return root;
}

/** The text the model sees for a tool's return value (see {@link runTool}). */
function renderValue(value: unknown): string {
  if (typeof value === "string") return value;
  if (value === undefined) return "(no result)";
  if (typeof value === "bigint") return value.toString();
  try {
    const json = JSON.stringify(value, collections);
    if (json !== undefined) return json;
  } catch {
    try {
      const json = JSON.stringify(value, lenientReplacer());
      if (json !== undefined) return json;
    } catch {
      // fall through to String()
    }
  }
  try {
    return String(value);
  } catch {
    // e.g. an object without a prototype, hence without toString
    return Object.prototype.toString.call(value);
  }
}

/** What the model sees when a tool throws: an Error's text, anything else described as data. */
function thrownText(thrown: unknown): string {
  if (thrown instanceof Error) return errorText(thrown);
  if (thrown === undefined) return "The tool failed without an error message (it threw undefined).";
  if (typeof thrown === "string") return thrown === "" ? 'The tool failed (it threw "").' : thrown;
  return `The tool failed with ${renderValue(thrown)}`;
}

/** A JSON.stringify replacer: `Map`s and `Set`s as arrays of their entries (JSON has neither). */
function collections(this: unknown, _key: string, value: unknown): unknown {
  if (value instanceof Map) return [...value];
  if (value instanceof Set) return [...value];
  return value;
}

/**
 * A JSON.stringify replacer that turns BigInts into strings, cycles into "[Circular]", and
 * Maps and Sets into entries as {@link collections} does.
 */
function lenientReplacer(): (this: unknown, key: string, value: unknown) => unknown {
  // The objects on the path from the root to the value being serialized, as serialized
  // (`ancestors`: a Map's entry array) and as found (`originals`: the Map itself).
  const ancestors: unknown[] = [];
  const originals: unknown[] = [];
  return function (this: unknown, key: string, value: unknown): unknown {
    if (typeof value === "bigint") return value.toString();
    if (value === null || typeof value !== "object") return value;
    while (ancestors.length > 0 && ancestors.at(-1) !== this) {
      ancestors.pop();
      originals.pop();
    }
    if (originals.includes(value)) return "[Circular]";
    const serialized = collections.call(this, key, value);
    ancestors.push(serialized);
    originals.push(value);
    return serialized;
  };
}

/** Cuts `text` at `max` with a note saying how much was left out. */
function truncate(text: string, max: number): string {
  const { head, cut } = clipText(text, max);
  return cut ? `${head}\n…[truncated ${text.length - head.length} more characters]` : text;
}
