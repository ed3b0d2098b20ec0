/**
 * Which functions exist and how they run, read the way the Supabase CLI reads them:
 *
 * - every folder of the functions directory holding an `index.ts`, except `_`- and
 *   `.`-prefixed ones, plus any `[functions.<name>]` of supabase/config.toml with an
 *   `entrypoint`; per function `entrypoint`, `import_map`, `verify_jwt` (default true, as
 *   in the CLI) and `enabled`;
 * - `[edge_runtime]`: `policy` (`per_worker` | `oneshot`), `inspector_port`, and the limits
 *   the hosted edge runtime applies (local keys, defaults as the CLI's edge runtime sets
 *   them): `wall_clock_limit_sec` (400), `cpu_time_limit_ms` (2000), `memory_limit_mb` (256);
 * - secrets from an env file in dotenv format, as `supabase functions serve --env-file`
 *   and `supabase secrets set --env-file` read it (`SUPABASE_`-prefixed names are skipped).
 */
import { parse } from "smol-toml";

/** The CLI's function slug rule. */
export const FUNCTION_NAME = /^[A-Za-z][A-Za-z0-9_-]*$/;

export interface FunctionSpec {
  name: string;
  /** Absolute path of the entrypoint module. */
  entrypoint: string;
  /** Absolute path of the import map. */
  importMap: string;
  verifyJwt: boolean;
  /** The folder the function may read (its own files). */
  dir: string;
}

export interface RuntimeSettings {
  policy: "per_worker" | "oneshot";
  inspectorPort: number;
  wallClockMs: number;
  cpuTimeMs: number;
  memoryMb: number;
}

export interface FunctionsLayout {
  functions: Map<string, FunctionSpec>;
  runtime: RuntimeSettings;
  /** Names configured `enabled = false` (answered 404, as the CLI skips them). */
  disabled: Set<string>;
}

type Table = Record<string, unknown>;

function abs(base: string, path: string): string {
  return path.startsWith("/") ? path : new URL(path, `file://${base}/`).pathname;
}

/** A regular file is there (any error: no). */
export function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

function number(table: Table, key: string, fallback: number, min: number): number {
  const value = table[key];
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
    throw new Error(`supabase/config.toml: edge_runtime.${key} must be a whole number >= ${min}`);
  }
  return value;
}

/** Read the layout now (called at start and whenever a watched file changes). */
export function readFunctionsLayout(options: {
  functionsDir: string;
  configToml: string;
  defaultImportMap: string;
}): FunctionsLayout {
  const { functionsDir } = options;
  let config: Table = {};
  try {
    config = parse(Deno.readTextFileSync(options.configToml)) as Table;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      throw new Error(`supabase/config.toml: ${(error as Error).message}`);
    }
  }
  const configDir = options.configToml.replace(/\/[^/]*$/, "");
  const edge = (config.edge_runtime ?? {}) as Table;
  const policy = edge.policy ?? "per_worker";
  if (policy !== "per_worker" && policy !== "oneshot") {
    throw new Error('supabase/config.toml: edge_runtime.policy must be "per_worker" or "oneshot"');
  }
  const runtime: RuntimeSettings = {
    policy,
    inspectorPort: number(edge, "inspector_port", 8083, 1),
    wallClockMs: number(edge, "wall_clock_limit_sec", 400, 1) * 1000,
    cpuTimeMs: number(edge, "cpu_time_limit_ms", 2000, 10),
    memoryMb: number(edge, "memory_limit_mb", 256, 16),
  };

  const functions = new Map<string, FunctionSpec>();
  const disabled = new Set<string>();
  let entries: Deno.DirEntry[] = [];
  try {
    entries = [...Deno.readDirSync(functionsDir)];
  } catch { /* no functions directory: no functions */ }
  for (const entry of entries) {
    if (!entry.isDirectory || !FUNCTION_NAME.test(entry.name)) continue;
    const entrypoint = `${functionsDir}/${entry.name}/index.ts`;
    if (!isFile(entrypoint)) continue;
    functions.set(entry.name, {
      name: entry.name,
      entrypoint,
      importMap: options.defaultImportMap,
      verifyJwt: true,
      dir: `${functionsDir}/${entry.name}`,
    });
  }
  const configured = (config.functions ?? {}) as Record<string, Table>;
  for (const [name, table] of Object.entries(configured)) {
    if (!FUNCTION_NAME.test(name)) continue;
    const base = functions.get(name);
    const entrypoint = typeof table.entrypoint === "string"
      ? abs(configDir, table.entrypoint)
      : base?.entrypoint;
    if (!entrypoint || !isFile(entrypoint)) continue;
    if (table.enabled === false) {
      functions.delete(name);
      disabled.add(name);
      continue;
    }
    functions.set(name, {
      name,
      entrypoint,
      importMap: typeof table.import_map === "string"
        ? abs(configDir, table.import_map)
        : options.defaultImportMap,
      verifyJwt: typeof table.verify_jwt === "boolean" ? table.verify_jwt : true,
      dir: entrypoint.replace(/\/[^/]*$/, ""),
    });
  }
  return { functions, runtime, disabled };
}

/**
 * Secrets from a dotenv file: `NAME=value`, `export NAME=value`, `#` comments, single or
 * double quotes (double quotes understand \n). Names starting with SUPABASE_ are reserved
 * for the platform and skipped, as `supabase secrets set` does. A missing file is empty.
 */
export function readEnvFile(path: string): { env: Record<string, string>; skipped: string[] } {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { env: {}, skipped: [] };
    throw error;
  }
  const env: Record<string, string> = {};
  const skipped: string[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!match) throw new Error(`${path}:${index + 1}: expected NAME=value`);
    const [, name, rest] = match as unknown as [string, string, string];
    let value = rest;
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) {
      value = value.slice(1, -1).replace(/\\n/g, "\n").replace(/\\"/g, '"');
    } else if (value.startsWith("'") && value.endsWith("'") && value.length >= 2) {
      value = value.slice(1, -1);
    } else {
      value = value.replace(/\s+#.*$/, "");
    }
    if (name.startsWith("SUPABASE_")) skipped.push(name);
    else env[name] = value;
  });
  return { env, skipped };
}
