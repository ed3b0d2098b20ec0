/**
 * One function in its own Deno process, with the limits the hosted edge runtime applies.
 *
 * Isolation: its own module graph, globals and environment (only what a hosted function
 * gets: the SUPABASE_* variables and the project's secrets); permissions: network (but no
 * listening on the machine's wildcard or external addresses), env, reading its own folder,
 * writing a temp dir of its own; no subprocesses, no FFI. `Deno.exit()` ends this process only.
 *
 * The stack reaches it over a Unix socket in a folder only the stack's user can enter (not a
 * TCP port any local process could call past `verify_jwt`), and learns that it is ready from a
 * line carrying a nonce the stack wrote to the host's stdin before the function's code was
 * loaded: the function's own output cannot forge it. The same stdin is the lifeline: the host
 * exits when the stack's end of the pipe closes.
 *
 * Limits, watched every 100 ms while the process lives, requests or not:
 * - wall clock per request;
 * - CPU time per request (read from /proc), and CPU burnt while no request is in flight (a
 *   spin after answering, a busy worker thread) drains a bucket of one request's limit that
 *   refills at a tenth of a core;
 * - memory: the process's resident memory (V8 heap, ArrayBuffers, WASM memory, worker
 *   threads) above what it held once loaded; V8's own heap limit, at twice that, is a backstop.
 * A process that breaks one is killed; its requests get 546 WORKER_LIMIT and the next request
 * gets a fresh process.
 */
import type { FunctionSpec, RuntimeSettings } from "./functions_config.ts";
import { cpuMs, residentMb } from "./proc_cpu.ts";
import { EDGE_TYPES_PATH, importMapFlags } from "./import_maps.ts";

const HOST = new URL("./function_host.ts", import.meta.url).pathname;

export type KillReason =
  | "wall_clock"
  | "cpu_time"
  | "background_cpu"
  | "memory"
  | "reload"
  | "stop";

export interface ProcessOptions {
  spec: FunctionSpec;
  runtime: RuntimeSettings;
  env: Record<string, string>;
  /** Deno's cache directory, so the child finds npm packages already downloaded. */
  denoDir: string;
  log: (line: string) => void;
  /** The project's deno.json and import map (a function may name another import map). */
  denoConfig: string;
  projectImportMap: string;
  /** Folders besides its own it may read: the modules it imports (functions/, _shared). */
  readable: string[];
  /** Addresses it may not listen on or connect to: the wildcards and the machine's own. */
  deniedHosts: string[];
  /** `host:port` to open the V8 inspector on (debugging; disables the time limits). */
  inspect?: string;
}

/**
 * How this machine reaches the network (proxies, extra CA certificates): the function's
 * process needs it to fetch anything, and it is machine setup, not a project secret.
 */
const NETWORK_ENV = [
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "NO_PROXY",
  "http_proxy",
  "https_proxy",
  "no_proxy",
  "DENO_CERT",
  "DENO_TLS_CA_STORE",
  // Deno reads Node's variable too: a machine behind a TLS-inspecting proxy may set only it.
  "NODE_EXTRA_CA_CERTS",
  "SSL_CERT_FILE",
  "SSL_CERT_DIR",
];

function passThrough(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of NETWORK_ENV) {
    const value = Deno.env.get(name);
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/** Bodies up to this size with a content-length are read whole before they are passed on. */
const SMALL_BODY_BYTES = 64 * 1024;
const WATCH_MS = 100;
/** Background CPU refills at this many ms per second (a tenth of a core). */
const BACKGROUND_REFILL_MS_PER_S = 100;

export class BootError extends Error {}
export class WorkerLimitError extends Error {}
export class WorkerExitedError extends Error {}

function nonce(): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(16)),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
}

export class FunctionProcess {
  readonly #options: ProcessOptions;
  readonly #child: Deno.ChildProcess;
  readonly #tmp: string;
  readonly #sockets: string;
  readonly #client: Deno.HttpClient;
  readonly ready: Promise<void>;
  readonly exited: Promise<Deno.CommandStatus>;
  #ready = false;
  #killed: KillReason | null = null;
  #sawOutOfMemory = false;
  /** Settles when the process's stderr has been read to its end. */
  #stderrRead: Promise<void> = Promise.resolve();
  /** In-flight requests, by sequence number (ids only grow): the CPU time when each began. */
  readonly #running = new Map<number, number>();
  #seq = 0;
  #watch: ReturnType<typeof setInterval> | undefined;
  #alive = true;
  #baselineMb: number | null = null;
  #lastCpu = 0;
  #lastWatch = performance.now();
  /** CPU (ms) spent with no request in flight, drained at BACKGROUND_REFILL_MS_PER_S. */
  #background = 0;
  /** A request was in flight at some point since the last watch. */
  #busy = false;

  constructor(options: ProcessOptions) {
    this.#options = options;
    const { spec, runtime } = options;
    this.#tmp = Deno.makeTempDirSync({ prefix: `fn-${spec.name}-` });
    // Made 0700 by makeTempDir: only the stack's own user can reach the socket inside.
    this.#sockets = Deno.makeTempDirSync({ prefix: `fn-${spec.name}-sock-` });
    const socket = `${this.#sockets}/http.sock`;
    this.#client = Deno.createHttpClient({ proxy: { transport: "unix", path: socket } });
    const args = [
      "run",
      ...importMapFlags({
        importMap: spec.importMap,
        projectImportMap: options.projectImportMap,
        denoConfig: options.denoConfig,
        dir: this.#sockets,
      }),
      "--no-prompt",
      // request.signal aborts when the client goes away, not after every answer.
      "--unstable-no-legacy-abort",
      "--allow-net",
      ...(options.deniedHosts.length ? [`--deny-net=${options.deniedHosts.join(",")}`] : []),
      "--allow-env",
      `--allow-read=${
        [
          spec.dir,
          ...options.readable,
          ...spec.staticFiles,
          EDGE_TYPES_PATH,
          this.#tmp,
          this.#sockets,
        ]
          .join(",")
      }`,
      `--allow-write=${this.#tmp},${this.#sockets}`,
      // V8's heap limit is a backstop at twice the memory limit: at the limit itself a heap that
      // grows makes V8 collect garbage again and again, and that CPU ran into the CPU limit
      // first on a loaded machine (a memory hog reported as cpu_time). The watcher, which counts
      // all of the process's memory, stops it at the memory limit.
      `--v8-flags=--max-old-space-size=${runtime.memoryMb * 2}`,
      ...(options.inspect ? [`--inspect=${options.inspect}`] : []),
      HOST,
      `file://${spec.entrypoint}`,
      socket,
    ];
    this.#child = new Deno.Command(Deno.execPath(), {
      args,
      clearEnv: true,
      env: {
        ...passThrough(),
        ...options.env,
        DENO_DIR: options.denoDir,
        TMPDIR: this.#tmp,
        NO_COLOR: "1",
      },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const secret = nonce();
    const lifeline = this.#child.stdin.getWriter();
    lifeline.write(new TextEncoder().encode(`${secret}\n`)).catch(() => {});
    this.exited = this.#child.status.then((status) => {
      this.#alive = false;
      lifeline.close().catch(() => {});
      clearInterval(this.#watch);
      this.#client.close();
      Deno.remove(this.#tmp, { recursive: true }).catch(() => {});
      Deno.remove(this.#sockets, { recursive: true }).catch(() => {});
      return status;
    });
    let announce: () => void;
    this.ready = new Promise<void>((resolve, reject) => {
      announce = resolve;
      this.exited.then((status) => {
        if (!this.#ready) reject(new BootError(`exited with code ${status.code} before serving`));
      });
    });
    this.ready.catch(() => {});
    const readyLine = JSON.stringify({ ready: secret });
    this.#pipe(this.#child.stdout, (line) => {
      if (!this.#ready && line === readyLine) {
        this.#ready = true;
        this.#startWatching();
        announce();
        return;
      }
      options.log(line);
    });
    this.#stderrRead = this.#pipe(this.#child.stderr, (line) => {
      if (/out of memory|heap limit/i.test(line)) this.#sawOutOfMemory = true;
      options.log(line);
    });
  }

  /** Takes requests: running, and not being killed (SIGKILL is sent, the exit not seen yet). */
  get alive(): boolean {
    return this.#alive && this.#killed === null;
  }

  #reported = false;

  /** True the first time only: a process stopped by a limit is reported once. */
  firstReport(): boolean {
    if (this.#reported) return false;
    this.#reported = true;
    return true;
  }

  /** Forward one request; the body streams both ways and a client disconnect aborts it. */
  async fetch(request: Request, path: string): Promise<Response> {
    await this.ready;
    const id = this.#begin();
    const { runtime } = this.#options;
    const wallClock = this.#options.inspect ? undefined : setTimeout(
      () => this.kill("wall_clock"),
      runtime.wallClockMs,
    );
    let response: Response;
    try {
      response = await fetch(`http://localhost${path}`, {
        method: request.method,
        headers: request.headers,
        body: request.body,
        redirect: "manual",
        signal: request.signal,
        client: this.#client,
      });
    } catch (error) {
      clearTimeout(wallClock);
      this.#end(id);
      throw await this.#why(error);
    }
    if (!response.body) {
      clearTimeout(wallClock);
      this.#end(id);
      return response;
    }
    const length = Number(response.headers.get("content-length") ?? NaN);
    if (length <= SMALL_BODY_BYTES) {
      // A small body of known length (most answers) is read whole, in one native read: the
      // request is over when it has arrived, and no stream is pumped through JS.
      let bytes: Uint8Array<ArrayBuffer>;
      try {
        bytes = await response.bytes();
      } catch (error) {
        clearTimeout(wallClock);
        this.#end(id);
        throw await this.#why(error);
      }
      clearTimeout(wallClock);
      this.#end(id);
      return new Response(bytes, {
        status: response.status,
        statusText: response.statusText,
        headers: response.headers,
      });
    }
    // Any other body: the request is over when it has been sent (or the client went away).
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(wallClock);
      this.#end(id);
    };
    const body = response.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({ flush: finish }),
    );
    request.signal.addEventListener("abort", finish, { once: true });
    return new Response(body, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  }

  kill(reason: KillReason): void {
    if (!this.#alive) return;
    this.#killed ??= reason;
    try {
      this.#child.kill("SIGKILL");
    } catch { /* already gone */ }
  }

  /** Stop after the requests in flight are answered (or after `graceMs`). */
  async retire(graceMs = 10_000): Promise<void> {
    const deadline = Date.now() + graceMs;
    while (this.#alive && this.#running.size > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    this.kill("reload");
    await this.exited;
  }

  async #why(error: unknown): Promise<Error> {
    // A process that died mid-request: wait a moment to learn why.
    await Promise.race([this.exited, new Promise((r) => setTimeout(r, 200))]);
    // Its last words first: V8's out-of-memory report may still be in the pipe when it exits
    // (on a loaded machine, for longer than the wait above).
    if (!this.#alive) {
      await Promise.race([this.#stderrRead, new Promise((r) => setTimeout(r, 1000))]);
    }
    const reason = this.#killed;
    if (reason === "wall_clock" || reason === "cpu_time" || reason === "background_cpu") {
      return new WorkerLimitError(reason === "wall_clock" ? "wall_clock" : "cpu_time");
    }
    if (reason === "memory" || this.#sawOutOfMemory) return new WorkerLimitError("memory");
    if (!this.#alive) return new WorkerExitedError("the function's process exited");
    return error instanceof Error ? error : new Error(String(error));
  }

  #begin(): number {
    const id = ++this.#seq;
    this.#busy = true;
    this.#running.set(id, this.#cpuNow());
    return id;
  }

  #end(id: number): void {
    this.#running.delete(id);
  }

  #cpuRead = 0;
  #cpuReadAt = -Infinity;

  /**
   * utime + stime of the process (all its threads), from /proc; 0 where there is none. A
   * reading under 10 ms old is reused: under load requests begin far more often than that.
   */
  #cpuNow(): number {
    const now = performance.now();
    if (now - this.#cpuReadAt < 10) return this.#cpuRead;
    this.#cpuReadAt = now;
    return this.#cpuRead = cpuMs(String(this.#child.pid)) ?? 0;
  }

  #startWatching(): void {
    if (this.#options.inspect) return; // paused in a debugger is not a runaway
    this.#baselineMb = residentMb(String(this.#child.pid));
    this.#lastCpu = this.#cpuNow();
    this.#lastWatch = performance.now();
    this.#watch = setInterval(() => this.#check(), WATCH_MS);
  }

  /** The limits, checked every WATCH_MS for as long as the process lives. */
  #check(): void {
    if (!this.#alive) return;
    const pid = String(this.#child.pid);
    const { cpuTimeMs, memoryMb } = this.#options.runtime;
    const resident = residentMb(pid);
    if (resident !== null && this.#baselineMb !== null && resident - this.#baselineMb > memoryMb) {
      this.#options.log(
        `stopped: ${
          Math.round(resident - this.#baselineMb)
        } MB in use (memory limit ${memoryMb} MB)`,
      );
      return this.kill("memory");
    }
    const cpu = this.#cpuNow();
    const now = performance.now();
    const spent = cpu - this.#lastCpu;
    const refill = BACKGROUND_REFILL_MS_PER_S * (now - this.#lastWatch) / 1000;
    this.#lastCpu = cpu;
    this.#lastWatch = now;
    // CPU is counted per request as the hosted runtime does, which a process serving several
    // requests at once cannot measure exactly: the oldest request in flight is over its limit
    // when the CPU used since it began exceeds the limit times the requests begun since.
    const oldest = this.#running.entries().next().value;
    if (oldest) {
      const [oldestId, cpuAtStart] = oldest;
      if (cpu - cpuAtStart > cpuTimeMs * (this.#seq - oldestId + 1)) return this.kill("cpu_time");
    }
    const busy = this.#busy || this.#running.size > 0;
    this.#busy = this.#running.size > 0;
    this.#background = Math.max(0, this.#background + (busy ? 0 : spent) - refill);
    if (this.#background > cpuTimeMs) {
      this.#options.log(
        `stopped: CPU time with no request in flight (over ${cpuTimeMs} ms, CPU limit)`,
      );
      this.kill("background_cpu");
    }
  }

  async #pipe(stream: ReadableStream<Uint8Array>, line: (text: string) => void): Promise<void> {
    let rest = "";
    try {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        const parts = (rest + chunk).split("\n");
        rest = parts.pop() ?? "";
        for (const part of parts) if (part !== "") line(part);
      }
    } catch { /* process gone */ }
    if (rest !== "") line(rest);
  }
}
