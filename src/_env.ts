// The one place in src/ that touches a runtime's globals: reading LMSTUDIO_* settings.
// Deno may deny env access (no --allow-env): that is "unset", not an error. Browsers and
// workers have neither global and get `undefined`.

interface DenoLike {
  env: { get(name: string): string | undefined };
}
interface ProcessLike {
  env: Record<string, string | undefined>;
}

/** Reads an environment variable where the runtime has one; `undefined` otherwise. */
export function readEnv(name: string): string | undefined {
  const g = globalThis as { Deno?: DenoLike; process?: ProcessLike };
  try {
    if (g.Deno?.env) return g.Deno.env.get(name) || undefined;
  } catch {
    // PermissionDenied / NotCapable: treat as unset.
    return undefined;
  }
  try {
    return g.process?.env?.[name] || undefined;
  } catch {
    return undefined;
  }
}
