// What the examples say when LM Studio is not there: a short explanation instead of a stack
// trace, and a non-zero exit code.
import {
  APIError,
  ConnectionError,
  DEFAULT_BASE_URL,
  type LMStudioClient,
  LMStudioError,
  ResponseTimeoutError,
} from "../mod.ts";
import { env, paint, setExitCode, useColor, writeErr } from "./_runtime.ts";

const NO_MODEL =
  /no models? (are |is )?loaded|model_not_found|invalid model identifier|model.*not (found|loaded)/i;

/**
 * A friendly explanation when `err` means "LM Studio is not reachable, has no model, or wants
 * an API key"; `undefined` for any other error.
 */
export function lmStudioHelp(err: unknown, baseURL: string, model?: string): string | undefined {
  const p = paint(useColor("stderr"));
  const url = p.bold(baseURL);
  const block = (headline: string, ...body: string[]) =>
    [`${p.red("✗")} ${headline}`, "", ...body, ""].join("\n");
  const demo = `  No LM Studio at hand? Watch the scripted offline demo: ${p.cyan("npm run demo")}`;
  const startServer = [
    "  Is the server running? Start it in LM Studio → Developer → “Start server”,",
    `  or from a terminal:      ${p.cyan("lms server start")}`,
    `  Then load a model:       ${p.cyan("lms load <model>")}   (or set ${
      p.cyan("LMSTUDIO_MODEL")
    })`,
    `  Server elsewhere?        ${p.cyan("LMSTUDIO_BASE_URL=http://<host>:<port>/v1")}`,
    "",
    demo,
  ];

  if (err instanceof ConnectionError) {
    return block(
      `Can't reach LM Studio's server at ${p.bold(err.baseURL || baseURL)}.`,
      ...startServer,
    );
  }
  if (err instanceof ResponseTimeoutError && err.phase === "response") {
    return block(
      `LM Studio at ${url} did not answer within ${err.timeoutMs / 1000} s.`,
      "  It may still be loading the model (the first request can take a while), or be stuck.",
      "",
      ...startServer,
    );
  }
  if (isNoModel(err)) {
    return block(
      model
        ? `LM Studio is running at ${url}, but model ${p.bold(model)} is not loaded.`
        : `LM Studio is running at ${url}, but no model is loaded.`,
      model
        ? `  Load it:          ${p.cyan(`lms load ${model}`)}`
        : `  Load one:         ${p.cyan("lms load <model>")}   (${p.cyan("lms ls")} lists yours)`,
      "                    or pick one at the top of LM Studio's Developer tab",
      `  Choose by name:   ${p.cyan("LMSTUDIO_MODEL=<model>")}   (default: the first loaded model)`,
      "  An instruction-tuned model of ~4B parameters or more works best (e.g. qwen3-4b).",
      "",
      demo,
    );
  }
  if (err instanceof APIError && (err.status === 401 || err.status === 403)) {
    return block(
      `LM Studio at ${url} refused the request (${err.status}): it requires an API key.`,
      `  Set ${p.cyan("LMSTUDIO_API_KEY=<token>")} (LM Studio → Developer → Server settings).`,
    );
  }
  return undefined;
}

function isNoModel(err: unknown): boolean {
  if (err instanceof APIError) {
    return NO_MODEL.test(`${err.serverMessage} ${err.code ?? ""}`);
  }
  // LMStudioClient.resolveModel(): the server listed no model at all.
  return err instanceof LMStudioError && /No model is loaded/.test(err.message);
}

/**
 * Runs an example's body. LM Studio trouble prints {@link lmStudioHelp}; Ctrl-C prints
 * "stopped"; any other error prints its name and message. All three set a non-zero exit code
 * and none prints a stack trace.
 *
 * @param client The example's client (for its base URL and model in the explanation).
 * @param main The example.
 * @param cleanup Runs before anything is printed about an error (e.g. stop a spinner).
 */
export async function runExample(
  client: LMStudioClient | undefined,
  main: () => Promise<void>,
  cleanup?: () => void,
): Promise<void> {
  try {
    await main();
  } catch (err) {
    cleanup?.();
    const baseURL = client?.baseURL ?? env("LMSTUDIO_BASE_URL") ?? DEFAULT_BASE_URL;
    const help = lmStudioHelp(err, baseURL, client?.model);
    if (help) {
      writeErr(`\n${help}`);
      setExitCode(1);
    } else if (err instanceof Error && err.name === "AbortError") {
      writeErr("\n(stopped)\n");
      setExitCode(130);
    } else {
      const e = err instanceof Error ? err : new Error(String(err));
      writeErr(`\n${e.name}: ${e.message}\n`);
      setExitCode(1);
    }
  }
}
