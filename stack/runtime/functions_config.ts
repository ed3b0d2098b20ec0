/**
 * Which functions exist and how they run, read the way the Supabase CLI reads them, so that what
 * runs here is what `supabase functions deploy` ships:
 *
 * - every folder of `supabase/functions/` holding an `index.ts` (not `_`- or `.`-prefixed), and
 *   every `[functions.<name>]` of config.toml, whose `entrypoint` may point anywhere (this
 *   project's `functions/<name>/index.ts`); per function `entrypoint`, `import_map`, `verify_jwt`
 *   (default true, as in the CLI), `enabled` and `static_files`;
 * - a function's import map: its block's `import_map`, else a `deno.json` (or `deno.jsonc`) in
 *   its folder, else `supabase/functions/import_map.json`, else the project's `import_map.json`;
 * - what deploy would skip or break ("misfits"): a folder beside configured functions with an
 *   `index.ts` but no block, a block whose entrypoint is missing. The stack names them at start
 *   and `deno task check` fails on them;
 * - `[edge_runtime]`: `policy` (`per_worker` | `oneshot`), `inspector_port`, `[edge_runtime.secrets]`;
 *   the limits the hosted edge runtime applies are not CLI keys: they come from
 *   FUNCTIONS_WALL_CLOCK_LIMIT_SEC (400), FUNCTIONS_CPU_TIME_LIMIT_MS (2000) and
 *   FUNCTIONS_MEMORY_LIMIT_MB (256);
 * - secrets from an env file in dotenv format, as `supabase functions serve --env-file` and
 *   `supabase secrets set --env-file` read it (`SUPABASE_`-prefixed names are skipped).
 */
import { parse } from "smol-toml";

/** The CLI's function slug rule. */
export const FUNCTION_NAME = /^[A-Za-z][A-Za-z0-9_-]*$/;

export interface FunctionSpec {
  name: string;
  /** Absolute path of the entrypoint module. */
  entrypoint: string;
  /** Absolute path of the import map (a JSON import map or a deno.json with `imports`). */
  importMap: string;
  verifyJwt: boolean;
  /** The function's folder. */
  dir: string;
  /** Files `static_files` adds to what the function may read (absolute paths, globs resolved). */
  staticFiles: string[];
}

export interface RuntimeSettings {
  policy: "per_worker" | "oneshot";
  inspectorPort: number;
  wallClockMs: number;
  cpuTimeMs: number;
  memoryMb: number;
}

/** Something `supabase functions deploy` would skip or break. */
export interface Misfit {
  name: string;
  path: string;
  problem: string;
  fix: string;
}

export interface FunctionsLayout {
  functions: Map<string, FunctionSpec>;
  runtime: RuntimeSettings;
  /** Names configured `enabled = false` (answered 404, as the CLI skips them). */
  disabled: Set<string>;
  misfits: Misfit[];
  /** `[edge_runtime.secrets]` (with `env(NAME)` read from the environment, as the CLI does). */
  secrets: Record<string, string>;
  /** Folders holding functions (watched for edits). */
  roots: string[];
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

function dirOf(path: string): string {
  return path.replace(/\/[^/]*$/, "");
}

const LIMIT_KEYS: Record<string, string> = {
  wall_clock_limit_sec: "FUNCTIONS_WALL_CLOCK_LIMIT_SEC",
  cpu_time_limit_ms: "FUNCTIONS_CPU_TIME_LIMIT_MS",
  memory_limit_mb: "FUNCTIONS_MEMORY_LIMIT_MB",
};

function limit(
  env: (name: string) => string | undefined,
  name: string,
  fallback: number,
  min: number,
) {
  const raw = env(name);
  if (raw === undefined || raw.trim() === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be a whole number >= ${min}`);
  return n;
}

/** The `[edge_runtime]` settings and the limits from the environment. */
function runtimeSettings(edge: Table, env: (name: string) => string | undefined): RuntimeSettings {
  for (const [key, variable] of Object.entries(LIMIT_KEYS)) {
    if (key in edge) {
      throw new Error(
        `supabase/config.toml: edge_runtime.${key} is not a Supabase CLI key (2.104 refuses the file): remove it and set ${variable}`,
      );
    }
  }
  const policy = edge.policy ?? "per_worker";
  if (policy !== "per_worker" && policy !== "oneshot") {
    throw new Error('supabase/config.toml: edge_runtime.policy must be "per_worker" or "oneshot"');
  }
  const port = edge.inspector_port ?? 8083;
  if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error("supabase/config.toml: edge_runtime.inspector_port must be a port number");
  }
  return {
    policy,
    inspectorPort: port,
    wallClockMs: limit(env, "FUNCTIONS_WALL_CLOCK_LIMIT_SEC", 400, 1) * 1000,
    cpuTimeMs: limit(env, "FUNCTIONS_CPU_TIME_LIMIT_MS", 2000, 10),
    memoryMb: limit(env, "FUNCTIONS_MEMORY_LIMIT_MB", 256, 16),
  };
}

/** The import map a function without an `import_map` key gets, as the CLI picks it. */
function defaultImportMap(dir: string, functionsDir: string, projectMap: string): string {
  for (
    const candidate of [`${dir}/deno.json`, `${dir}/deno.jsonc`, `${functionsDir}/import_map.json`]
  ) {
    if (isFile(candidate)) return candidate;
  }
  return projectMap;
}

/** `static_files` globs (relative to config.toml's folder) to the files they name. */
function staticFiles(globs: unknown, configDir: string, name: string): string[] {
  if (globs === undefined) return [];
  if (!Array.isArray(globs) || !globs.every((g) => typeof g === "string")) {
    throw new Error(`supabase/config.toml: functions.${name}.static_files must be a list of paths`);
  }
  const out: string[] = [];
  for (const glob of globs as string[]) {
    const full = abs(configDir, glob);
    if (!/[*?[]/.test(full)) {
      out.push(full);
      continue;
    }
    // A glob: list the folder of its first wildcard segment (enough for "dir/*.html").
    const base = full.slice(0, full.search(/[*?[]/)).replace(/\/[^/]*$/, "");
    const pattern = new RegExp(
      `^${
        full.replace(/[.+^${}()|\\]/g, "\\$&").replaceAll("**", "\0").replaceAll("*", "[^/]*")
          .replaceAll("\0", ".*").replaceAll("?", "[^/]")
      }$`,
    );
    const walk = (folder: string) => {
      let entries: Deno.DirEntry[] = [];
      try {
        entries = [...Deno.readDirSync(folder)];
      } catch { /* no folder: no files */ }
      for (const entry of entries) {
        const path = `${folder}/${entry.name}`;
        if (entry.isDirectory) walk(path);
        else if (pattern.test(path)) out.push(path);
      }
    };
    walk(base);
  }
  return out;
}

/** `env(NAME)` values, as the CLI substitutes them in config.toml. */
function secretValues(
  table: Table,
  env: (name: string) => string | undefined,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(table)) {
    if (typeof value !== "string") {
      throw new Error(`supabase/config.toml: edge_runtime.secrets.${name} must be a string`);
    }
    const ref = /^env\(([A-Za-z_][A-Za-z0-9_]*)\)$/.exec(value);
    const resolved = ref ? env(ref[1]!) : value;
    if (resolved !== undefined && !name.startsWith("SUPABASE_")) out[name] = resolved;
  }
  return out;
}

/** Read the layout now (called at start and whenever a watched file changes). */
export function readFunctionsLayout(options: {
  configToml: string;
  /** The project's import map (import_map.json). */
  projectImportMap: string;
  env?: (name: string) => string | undefined;
}): FunctionsLayout {
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  let config: Table = {};
  try {
    config = parse(Deno.readTextFileSync(options.configToml)) as Table;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      throw new Error(`supabase/config.toml: ${(error as Error).message}`);
    }
  }
  const configDir = dirOf(options.configToml);
  const functionsDir = `${configDir}/functions`;
  const edge = (config.edge_runtime ?? {}) as Table;
  const runtime = runtimeSettings(edge, env);

  const functions = new Map<string, FunctionSpec>();
  const disabled = new Set<string>();
  const misfits: Misfit[] = [];
  const folders = (dir: string) => {
    try {
      return [...Deno.readDirSync(dir)]
        .filter((e) =>
          e.isDirectory && FUNCTION_NAME.test(e.name) && isFile(`${dir}/${e.name}/index.ts`)
        )
        .map((e) => e.name);
    } catch {
      return [];
    }
  };
  // supabase/functions/<name>: deployed with or without a block.
  for (const name of folders(functionsDir)) {
    const dir = `${functionsDir}/${name}`;
    functions.set(name, {
      name,
      entrypoint: `${dir}/index.ts`,
      importMap: defaultImportMap(dir, functionsDir, options.projectImportMap),
      verifyJwt: true,
      dir,
      staticFiles: [],
    });
  }
  const configured = (config.functions ?? {}) as Record<string, Table>;
  for (const [name, table] of Object.entries(configured)) {
    if (!FUNCTION_NAME.test(name)) {
      misfits.push({
        name,
        path: options.configToml,
        problem: `[functions.${name}]: not a function name the CLI accepts`,
        fix: "use letters, digits, - and _, starting with a letter",
      });
      continue;
    }
    const base = functions.get(name);
    const entrypoint = typeof table.entrypoint === "string"
      ? abs(configDir, table.entrypoint)
      : base?.entrypoint;
    if (!entrypoint || !isFile(entrypoint)) {
      if (table.enabled !== false) {
        misfits.push({
          name,
          path: entrypoint ?? `${functionsDir}/${name}/index.ts`,
          problem: `[functions.${name}] has no entrypoint file: deploy would fail`,
          fix: entrypoint
            ? `create ${entrypoint}, or fix its entrypoint`
            : `create supabase/functions/${name}/index.ts, or set entrypoint`,
        });
      }
      continue;
    }
    if (table.enabled === false) {
      functions.delete(name);
      disabled.add(name);
      continue;
    }
    const dir = dirOf(entrypoint);
    functions.set(name, {
      name,
      entrypoint,
      importMap: typeof table.import_map === "string"
        ? abs(configDir, table.import_map)
        : defaultImportMap(dir, functionsDir, options.projectImportMap),
      verifyJwt: typeof table.verify_jwt === "boolean" ? table.verify_jwt : true,
      dir,
      staticFiles: staticFiles(table.static_files, configDir, name),
    });
  }
  // Folders beside configured functions outside supabase/functions: deploy-all skips them.
  const roots = new Set<string>([functionsDir]);
  for (const spec of functions.values()) roots.add(dirOf(spec.dir));
  for (const root of roots) {
    if (root === functionsDir) continue;
    for (const name of folders(root)) {
      const path = `${root}/${name}/index.ts`;
      if ([...functions.values()].some((f) => f.entrypoint === path) || disabled.has(name)) {
        continue;
      }
      misfits.push({
        name,
        path,
        problem: `${path} has no [functions.${name}] block: supabase functions deploy skips it`,
        fix: `add [functions.${name}] with entrypoint = "${relative(configDir, path)}"`,
      });
    }
  }
  return {
    functions,
    runtime,
    disabled,
    misfits,
    secrets: secretValues((edge.secrets ?? {}) as Table, env),
    roots: [...roots],
  };
}

/** `path` relative to `from` ("../functions/x/index.ts"), as config.toml writes entrypoints. */
function relative(from: string, path: string): string {
  const a = from.split("/").filter(Boolean);
  const b = path.split("/").filter(Boolean);
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return [...Array(a.length - i).fill(".."), ...b.slice(i)].join("/");
}

/**
 * The functions' env file as the CLI finds it: supabase/functions/.env; a project that kept its
 * secrets in ./functions/.env (this repository's earlier layout) is read there, with `legacy`.
 */
export function functionsEnvFile(configToml: string): { path: string; legacy: boolean } {
  const configDir = dirOf(configToml);
  const cli = `${configDir}/functions/.env`;
  const legacy = `${dirOf(configDir)}/functions/.env`;
  if (!isFile(cli) && isFile(legacy)) return { path: legacy, legacy: true };
  return { path: cli, legacy: false };
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
