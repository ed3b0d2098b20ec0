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
  type FunctionsLayout,
  type FunctionSpec,
  isFile,
  readEnvFile,
  readFunctionsLayout,
} from "./functions_config.ts";

export interface RuntimeOptions {
  functionsDir: string;
  configToml: string;
  importMap: string;
  /** The project's deno.json (lockfile and npm resolution). */
  denoConfig: string;
  envFile: string;
  /** What every function's environment holds before the env file (SUPABASE_URL, keys...). */
  baseEnv: Record<string, string>;
  /** For verify_jwt: the legacy secret and the stack's public signing key. */
  jwtSecret: string;
  signingJwk: JWK;
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
    jwks: createLocalJWKSet({ keys: [options.signingJwk] }),
    deniedHosts: deniedHosts(),
    secretKey: new TextEncoder().encode(options.jwtSecret),
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
        FUNCTION_NAME.test(name) && isFile(`${options.functionsDir}/${name}/index.ts`)
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

/** Watch the functions folder, the import map and config.toml; reload 150 ms after a burst. */
function watchSources(state: RuntimeState): Deno.FsWatcher {
  const { options } = state;
  const watched = [options.functionsDir, options.importMap, options.configToml].filter((p) => {
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
        batch.push(...event.paths);
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
  return readFunctionsLayout({
    functionsDir: state.options.functionsDir,
    configToml: state.options.configToml,
    defaultImportMap: state.options.importMap,
  });
}

function loadSecrets(state: RuntimeState): Record<string, string> {
  const { env, skipped } = readEnvFile(state.options.envFile);
  for (const name of skipped) {
    state.options.log(
      `[functions] ${state.options.envFile}: ${name} skipped (SUPABASE_ names are the platform's)`,
    );
  }
  return env;
}

function spawn(state: RuntimeState, spec: FunctionSpec): FunctionProcess {
  const started = performance.now();
  const process = new FunctionProcess({
    spec,
    runtime: state.layout.runtime,
    env: { ...state.options.baseEnv, ...state.secrets },
    denoDir: state.denoDir,
    readable: [state.options.functionsDir, spec.importMap],
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
  const touched = new Set<string>();
  let all = false;
  for (const path of paths) {
    const inside = path.startsWith(`${state.options.functionsDir}/`)
      ? path.slice(state.options.functionsDir.length + 1).split("/")[0]!
      : null;
    if (inside && state.layout.functions.has(inside)) touched.add(inside);
    else all = true;
  }
  try {
    state.layout = read(state);
    if (all) state.secrets = loadSecrets(state);
  } catch (error) {
    state.options.log(`[functions] not reloaded: ${(error as Error).message}`);
    return;
  }
  const names = all ? [...state.live.keys()] : [...touched].filter((n) => state.live.has(n));
  const why = paths.map((p) => p.replace(`${state.options.functionsDir}/`, "functions/")).join(
    ", ",
  );
  const work = names.map(async (name) => {
    const old = state.live.get(name);
    const spec = state.layout.functions.get(name);
    if (!spec) {
      state.live.delete(name);
      await old?.retire();
      return;
    }
    const next = spawn(state, spec);
    state.live.set(name, next);
    state.options.log(`[functions] reloading ${name} (${why} changed)`);
    await next.ready.catch(() => {});
    await old?.retire();
  });
  state.pending = Promise.all([state.pending, ...work]);
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
