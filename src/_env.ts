// The one place in src/ that touches a runtime's globals: reading LMSTUDIO_* settings.
// Deno may deny env access (no --allow-env): that is "unset", not an error, but the caller
// learns it was denied, so that a failure it causes can say why the variable was not used.
// Browsers and workers have neither global and get `undefined`.

interface DenoLike {
  env: { get(name: string): string | undefined };
}
interface ProcessLike {
  env: Record<string, string | undefined>;
}

/** What reading one environment variable found. */
export interface EnvRead {
  /** The value; `undefined` when unset, empty, or not readable. */
  value: string | undefined;
  /** True when the runtime refused the read (Deno without `--allow-env`). */
  denied: boolean;
}

/** Reads an environment variable where the runtime has one, saying whether it was denied. */
export function readEnvVar(name: string): EnvRead {
  const g = globalThis as { Deno?: DenoLike; process?: ProcessLike };
  try {
    if (g.Deno?.env) return { value: g.Deno.env.get(name) || undefined, denied: false };
  } catch {
    // PermissionDenied / NotCapable.
    return { value: undefined, denied: true };
  }
  try {
    return { value: g.process?.env?.[name] || undefined, denied: false };
  } catch {
    return { value: undefined, denied: true };
  }
}

/** Reads an environment variable where the runtime has one; `undefined` otherwise. */
export function readEnv(name: string): string | undefined {
  return readEnvVar(name).value;
}
