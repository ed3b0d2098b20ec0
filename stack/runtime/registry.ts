/**
 * The functions as `supabase functions serve` runs them: discovered while the stack runs,
 * each in its own process (./function_process.ts), reloaded when a file it may import
 * changes, `verify_jwt` checked before it runs, failures answered as the edge runtime does:
 *
 *   503 BOOT_ERROR    the function failed to load (the error is in the log)
 *   500 WORKER_ERROR  its process exited while answering
 *   546 WORKER_LIMIT  it broke its wall-clock, CPU-time or memory limit and was stopped
 *
 * Bodies `{code, message}` with `sb-error-code`, CORS-readable. Logs are prefixed with the
 * function's name.
 */
import { verb } from "../invocation.ts";
import { createLocalJWKSet, decodeProtectedHeader, type JWK, jwtVerify } from "jose";
import type { FunctionRegistry } from "./gateway.ts";
import {
  BootError,
  FunctionProcess,
  WorkerExitedError,
  WorkerLimitError,
} from "./function_process.ts";
import {
  FUNCTION_NAME,
  functionsEnvFile,
  type FunctionsLayout,
  type FunctionSpec,
  isFile,
  readEnvFile,
  readFunctionsLayout,
} from "./functions_config.ts";

export interface RuntimeOptions {
  configToml: string;
  /** The project's import map (import_map.json). */
  importMap: string;
  /** The project's deno.json (lockfile and npm resolution). */
  denoConfig: string;
  /** The functions' secrets (default: supabase/functions/.env, as the CLI reads it). */
  envFile?: string;
  /** What every function's environment holds before the env file (SUPABASE_URL, keys...). */
  baseEnv: Record<string, string>;
  /** What the env file may not change: the issuer list both doors were started with. */
  fixedEnv?: Record<string, string>;
  /** For verify_jwt: the legacy secret and the stack's public signing keys. */
  jwtSecret: string;
  signingJwks: JWK[];
  log: (line: string) => void;
  /** Debug this function with the V8 inspector (`deno task start --inspect <name>`). */
  inspectFunction?: string;
}

export interface ProcessRuntime extends FunctionRegistry {
  close(): Promise<void>;
  /** Settled once every reload the watcher started has finished (tests wait on it). */
  settled(): Promise<void>;
}

const EDGE_ERRORS = {
  BOOT_ERROR: [503, "Worker failed to boot (please check logs)"],
  WORKER_ERROR: [500, "Function exited due to an error (please check logs)"],
  WORKER_LIMIT: [546, "Worker failed to respond due to a resource limit (please check logs)"],
} as const;

function edgeError(code: keyof typeof EDGE_ERRORS): Response {
  const [status, message] = EDGE_ERRORS[code];
  return Response.json({ code, message }, {
    status,
    headers: { "sb-error-code": code, "access-control-allow-origin": "*" },
  });
}

async function findDenoDir(): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdout: "piped",
    stderr: "null",
  }).output();
  return JSON.parse(new TextDecoder().decode(out.stdout)).denoDir as string;
}

export async function startProcessRuntime(options: RuntimeOptions): Promise<ProcessRuntime> {
  const state = {
    options,
    denoDir: Deno.env.get("DENO_DIR") ?? await findDenoDir(),
    layout: undefined as unknown as FunctionsLayout,
    secrets: {} as Record<string, string>,
    live: new Map<string, FunctionProcess>(),
    all: new Set<FunctionProcess>(),
    closed: false,
    pending: Promise.resolve() as Promise<unknown>,
    jwks: createLocalJWKSet({ keys: options.signingJwks }),
    deniedHosts: deniedHosts(),
    secretKey: new TextEncoder().encode(options.jwtSecret),
    misfits: new Set<string>(),
    legacyEnvNoted: false,
  };
  state.layout = read(state);
  state.secrets = loadSecrets(state);
  const watcher = watchSources(state);
  return {
    names: () => [...state.layout.functions.keys()].sort(),
    handler(name) {
      // A folder made a moment ago, before the watcher said so, is found here. Only a name
      // that has an index.ts costs a re-read: unknown names (typos, scanners) cost one stat.
      if (
        !state.layout.functions.has(name) && !state.layout.disabled.has(name) &&
        FUNCTION_NAME.test(name) &&
        isFile(`${dirOf(options.configToml)}/functions/${name}/index.ts`)
      ) {
        try {
          state.layout = read(state);
        } catch { /* keep the last good state.layout */ }
      }
      const spec = state.layout.functions.get(name);
      if (!spec) return Promise.resolve(null);
      return Promise.resolve((request: Request) => serveFunction(state, spec, request));
    },
    settled: async () => {
      await new Promise((r) => setTimeout(r, 400)); // let the watcher's debounce fire
      await state.pending;
    },
    async close() {
      state.closed = true;
      try {
        watcher.close();
      } catch { /* closed */ }
      await Promise.all([...state.all].map((p) => {
        p.kill("stop");
        return p.exited;
      }));
      state.live.clear();
    },
  };
}

/**
 * Watch config.toml's folder (supabase/functions among it), every folder holding functions,
 * the import map and the env file; reload 150 ms after a burst. What the CLI keeps there that
 * functions never import (migrations, .temp, .branches) is not a reason to reload.
 */
function watchSources(state: RuntimeState): Deno.FsWatcher {
  const { options } = state;
  const configDir = dirOf(options.configToml);
  const candidates = [configDir, ...state.layout.roots, options.importMap, envFile(state)];
  const watched = [...new Set(candidates)].filter((p) => {
    try {
      Deno.statSync(p);
      return true;
    } catch {
      return false;
    }
  });
  const watcher = Deno.watchFs(watched, { recursive: true });
  (async () => {
    let batch: string[] = [];
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      for await (const event of watcher) {
        if (event.kind === "access") continue;
        const relevant = event.paths.filter((p) =>
          !/\/supabase\/(migrations|\.temp|\.branches|seed\.sql)(\/|$)/.test(p) &&
          !p.startsWith(`${configDir}/migrations/`) && !p.startsWith(`${configDir}/.temp/`)
        );
        if (relevant.length === 0) continue;
        batch.push(...relevant);
        clearTimeout(timer);
        timer = setTimeout(() => {
          const paths = [...new Set(batch)];
          batch = [];
          reload(state, paths);
        }, 150);
      }
    } catch { /* closed */ }
  })();
  return watcher;
}

/** One request to a function: verify_jwt, its process, and the edge runtime's failure answers. */
async function serveFunction(
  state: RuntimeState,
  spec: FunctionSpec,
  request: Request,
): Promise<Response> {
  if (spec.verifyJwt && request.method !== "OPTIONS") {
    const refused = await verifyJwt(state, request);
    if (refused) return refused;
  }
  const url = new URL(request.url);
  const process = processFor(state, spec);
  const oneshotPolicy = state.layout.runtime.policy === "oneshot";
  try {
    const response = await process.fetch(request, `${url.pathname}${url.search}`);
    return oneshotPolicy ? oneshot(response, process) : response;
  } catch (error) {
    if (oneshotPolicy) process.kill("stop");
    if (error instanceof BootError) return edgeError("BOOT_ERROR");
    if (error instanceof WorkerLimitError) {
      // Once per process, however many of its requests the stop ended.
      if (process.firstReport()) {
        state.options.log(`[functions] ${spec.name} stopped: ${error.message} limit`);
      }
      return edgeError("WORKER_LIMIT");
    }
    if (error instanceof WorkerExitedError) return edgeError("WORKER_ERROR");
    if (request.signal.aborted) return new Response(null, { status: 499 });
    state.options.log(`[functions] ${spec.name}: ${(error as Error).message}`);
    return edgeError("WORKER_ERROR");
  }
}

/** What the runtime knows while it runs: its options, the layout, the live processes. */
interface RuntimeState {
  options: RuntimeOptions;
  denoDir: string;
  layout: FunctionsLayout;
  secrets: Record<string, string>;
  /** The live process of each function (per_worker), replaced on reload or after a crash. */
  live: Map<string, FunctionProcess>;
  /** Every process not yet exited, live or retiring: stopping the runtime stops them all. */
  all: Set<FunctionProcess>;
  /** Set by close(): a reload whose timer fires after it starts nothing. */
  closed: boolean;
  /** Reloads started by the watcher (tests wait for them through settled()). */
  pending: Promise<unknown>;
  jwks: ReturnType<typeof createLocalJWKSet>;
  secretKey: Uint8Array;
  /** What functions may not listen on or connect to (see deniedHosts()). */
  deniedHosts: string[];
  /** The misfits last named (each is logged once). */
  misfits: Set<string>;
  /** The legacy functions/.env notice was given. */
  legacyEnvNoted: boolean;
}

/**
 * The wildcard addresses and this machine's own non-loopback ones: a function cannot listen
 * on them (the platform gives functions no sockets to listen on). Loopback stays reachable:
 * the stack itself (SUPABASE_URL) is there.
 */
function deniedHosts(): string[] {
  const own = Deno.networkInterfaces()
    .map((i) => i.address)
    .filter((a) => a !== "127.0.0.1" && a !== "::1" && !a.startsWith("127."));
  return [...new Set(["0.0.0.0", "::", ...own])].map((a) => (a.includes(":") ? `[${a}]` : a));
}

function read(state: RuntimeState): FunctionsLayout {
  const layout = readFunctionsLayout({
    configToml: state.options.configToml,
    projectImportMap: state.options.importMap,
    env: (name) => state.options.baseEnv[name] ?? Deno.env.get(name),
  });
  // Named once each, at start and whenever the set changes.
  const now = layout.misfits.map((m) => `${m.problem} (${m.fix})`);
  for (const line of now) {
    if (!state.misfits.has(line)) state.options.log(`[functions] ${line}`);
  }
  state.misfits = new Set(now);
  return layout;
}

/** The env file: the one given, else the CLI's supabase/functions/.env (or ./functions/.env). */
function envFile(state: RuntimeState): string {
  if (state.options.envFile) return state.options.envFile;
  const found = functionsEnvFile(state.options.configToml);
  if (found.legacy && !state.legacyEnvNoted) {
    state.legacyEnvNoted = true;
    state.options.log(
      `[functions] reading ${found.path}: the Supabase CLI reads supabase/functions/.env; move it there`,
    );
  }
  return found.path;
}

/** `[edge_runtime.secrets]`, then the env file (which wins). */
function loadSecrets(state: RuntimeState): Record<string, string> {
  const file = envFile(state);
  const { env, skipped } = readEnvFile(file);
  for (const name of skipped) {
    state.options.log(`[functions] ${file}: ${name} skipped (SUPABASE_ names are the platform's)`);
  }
  return { ...state.layout.secrets, ...env };
}

function dirOf(path: string): string {
  return path.replace(/\/[^/]*$/, "");
}

function spawn(state: RuntimeState, spec: FunctionSpec): FunctionProcess {
  const started = performance.now();
  const process = new FunctionProcess({
    spec,
    runtime: state.layout.runtime,
    env: { ...state.options.baseEnv, ...state.secrets, ...state.options.fixedEnv },
    denoDir: state.denoDir,
    // Its folder's siblings too (a shared folder such as _shared), and its import map.
    readable: [dirOf(spec.dir), spec.importMap],
    deniedHosts: state.deniedHosts,
    denoConfig: state.options.denoConfig,
    projectImportMap: state.options.importMap,
    log: (line) => state.options.log(`[fn:${spec.name}] ${line}`),
    ...(state.options.inspectFunction === spec.name
      ? { inspect: `127.0.0.1:${state.layout.runtime.inspectorPort}` }
      : {}),
  });
  state.all.add(process);
  process.exited.then(() => state.all.delete(process));
  process.ready.then(
    () =>
      state.options.log(
        `[functions] ${spec.name} ready in ${Math.round(performance.now() - started)} ms`,
      ),
    () => state.options.log(`[functions] ${spec.name} failed to boot (see its log lines above)`),
  );
  return process;
}

/** The process to send a request to: the state.live one, or a new one. */
function processFor(state: RuntimeState, spec: FunctionSpec): FunctionProcess {
  if (state.layout.runtime.policy === "oneshot") return spawn(state, spec);
  let process = state.live.get(spec.name);
  if (!process || !process.alive) {
    process = spawn(state, spec);
    state.live.set(spec.name, process);
  }
  return process;
}

/** Reload what a change touches: its own function, or all (shared code, config, state.secrets). */
function reload(state: RuntimeState, paths: string[]): void {
  if (state.closed) return;
  // A path inside one function's folder reloads that function; anything else (shared code,
  // config.toml, the import map, the env file) reloads them all.
  const changed = new Map<string, string[]>();
  let all = false;
  const shared: string[] = [];
  for (const path of paths) {
    const owner = [...state.layout.functions.values()].find((f) => path.startsWith(`${f.dir}/`));
    if (owner) changed.set(owner.name, [...changed.get(owner.name) ?? [], path]);
    else {
      all = true;
      shared.push(path);
    }
  }
  try {
    state.layout = read(state);
    if (all) {
      const before = state.secrets.AUTH_ISSUERS;
      state.secrets = loadSecrets(state);
      if (state.secrets.AUTH_ISSUERS !== before) {
        state.options.log(
          `[functions] AUTH_ISSUERS changed: both doors read it at start, so restart the stack (${
            verb("stop")
          }, then start)`,
        );
      }
    }
  } catch (error) {
    state.options.log(`[functions] not reloaded: ${(error as Error).message}`);
    return;
  }
  // Paths as the project names them: from the folder holding supabase/ (or config.toml).
  const configDir = dirOf(state.options.configToml);
  const project = `${configDir.endsWith("/supabase") ? dirOf(configDir) : configDir}/`;
  const why = (name: string) =>
    [...(changed.get(name) ?? []), ...shared].map((p) => p.replace(project, "")).join(", ");
  // A function whose own files changed boots again now, so a mistake shows in the log as it is
  // saved. A change every function shares (shared code, config.toml, the env file) retires the
  // others' processes and each boots again on its next request, as the edge runtime starts its
  // workers: saving _shared/ does not boot every function at once.
  const eager = [...changed.keys()].filter((n) => state.live.has(n));
  const lazy = all ? [...state.live.keys()].filter((n) => !changed.has(n)) : [];
  const retired = lazy.map(async (name) => {
    const old = state.live.get(name);
    state.live.delete(name);
    await old?.retire();
  });
  if (lazy.length) {
    state.options.log(
      `[functions] ${lazy.join(", ")} will boot again on their next request (${
        shared.map((p) => p.replace(project, "")).join(", ")
      } changed)`,
    );
  }
  const work = eager.map(async (name) => {
    const old = state.live.get(name);
    const spec = state.layout.functions.get(name);
    if (!spec) {
      state.live.delete(name);
      await old?.retire();
      return;
    }
    const next = spawn(state, spec);
    state.live.set(name, next);
    state.options.log(`[functions] reloading ${name} (${why(name)} changed)`);
    await next.ready.catch(() => {});
    await old?.retire();
  });
  state.pending = Promise.all([state.pending, ...retired, ...work]);
}

async function verifyJwt(state: RuntimeState, request: Request): Promise<Response | null> {
  const header = request.headers.get("authorization");
  if (!header) {
    return Response.json({ msg: "Error: Missing authorization header" }, { status: 401 });
  }
  const [scheme, token] = header.split(" ");
  if (scheme !== "Bearer" || !token) {
    return Response.json({ msg: "Error: Auth header is not 'Bearer {token}'" }, { status: 401 });
  }
  try {
    const { alg } = decodeProtectedHeader(token);
    if (alg === "HS256") await jwtVerify(token, state.secretKey, { algorithms: ["HS256"] });
    else await jwtVerify(token, state.jwks, { algorithms: ["ES256", "RS256"] });
    return null;
  } catch {
    return Response.json({ msg: "Invalid JWT" }, { status: 401 });
  }
}

/** oneshot: the process ends once its one response has been sent. */
function oneshot(response: Response, process: FunctionProcess): Response {
  if (!response.body) {
    process.kill("stop");
    return response;
  }
  const body = response.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({ flush: () => process.kill("stop") }),
  );
  return new Response(body, { status: response.status, headers: response.headers });
}
