/**
 * The import map a function's process runs with. A function on the project's import map runs
 * with the project's deno.json (its lockfile pins npm versions). A function with a map of its
 * own (a `deno.json` beside it, as `supabase functions new` writes, or an `import_map`) runs with
 * that map, as the edge runtime runs it, extended in three ways:
 *
 * - `scopes` give the stack's own host code (stack/, functions/_shared/) the project's map, so
 *   the host never resolves through a user's map;
 * - entries whose target is a `jsr:`/`npm:` package also map its subpaths (`name/`), as deno.json
 *   `imports` do, and relative targets are made absolute (the map is written elsewhere);
 * - `@supabase/functions-js/edge-runtime.d.ts`, published on JSR only (unreachable here), is the
 *   stack's copy of those types (./edge_runtime.d.ts).
 */

const ROOT = new URL("../../", import.meta.url);
const EDGE_TYPES = new URL("./edge_runtime.d.ts", import.meta.url).href;
/** The function's process must be able to read it (it is loaded by a dynamic import). */
export const EDGE_TYPES_PATH = new URL(EDGE_TYPES).pathname;
const EDGE_TYPE_SPECIFIERS = [
  "@supabase/functions-js/edge-runtime.d.ts",
  "jsr:@supabase/functions-js/edge-runtime.d.ts",
  "jsr:@supabase/functions-js@2/edge-runtime.d.ts",
  "jsr:@supabase/functions-js@^2/edge-runtime.d.ts",
];

type Imports = Record<string, string>;

/** The `imports` and `scopes` of an import map or deno.json(c). */
function readMap(path: string): { imports: Imports; scopes: Record<string, Imports> } {
  let text = Deno.readTextFileSync(path);
  if (path.endsWith(".jsonc")) {
    text = text.replace(/^\s*\/\/.*$/gm, "").replace(/\/\*[\s\S]*?\*\//g, "");
  }
  const parsed = JSON.parse(text);
  return { imports: parsed.imports ?? {}, scopes: parsed.scopes ?? {} };
}

/** Relative targets made absolute; package targets also mapped for subpaths. */
function normalize(imports: Imports, base: URL): Imports {
  const out: Imports = {};
  for (const [key, target] of Object.entries(imports)) {
    const resolved = /^(\.\.?\/|\/)/.test(target) ? new URL(target, base).href : target;
    out[key] = resolved;
    if (!key.endsWith("/") && /^(jsr|npm):/.test(resolved) && !(`${key}/` in imports)) {
      out[`${key}/`] = `${resolved}/`;
    }
  }
  return out;
}

/**
 * Deno flags that give a function its import map: the project's config, or a merged map
 * written into `dir`.
 */
export function importMapFlags(options: {
  importMap: string;
  projectImportMap: string;
  denoConfig: string;
  dir: string;
}): string[] {
  if (options.importMap === options.projectImportMap) return [`--config=${options.denoConfig}`];
  const own = readMap(options.importMap);
  const base = new URL(`file://${options.importMap}`);
  const project = normalize(
    readMap(options.projectImportMap).imports,
    new URL(`file://${options.projectImportMap}`),
  );
  const imports = normalize(own.imports, base);
  for (const specifier of EDGE_TYPE_SPECIFIERS) imports[specifier] = EDGE_TYPES;
  const scopes: Record<string, Imports> = {};
  for (const [scope, entries] of Object.entries(own.scopes)) {
    scopes[new URL(scope, base).href] = normalize(entries, base);
  }
  scopes[new URL("stack/", ROOT).href] = project;
  scopes[new URL("functions/_shared/", ROOT).href] = project;
  const path = `${options.dir}/import_map.json`;
  Deno.writeTextFileSync(path, JSON.stringify({ imports, scopes }, null, 2));
  // No project config (its lockfile pins the project's graph, not this one), no lock written
  // into the user's folder.
  return ["--no-config", "--no-lock", `--import-map=${path}`];
}
