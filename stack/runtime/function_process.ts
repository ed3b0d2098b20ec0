/**
 * One function in its own Deno process, with the limits the hosted edge runtime applies.
 *
 * Isolation: its own module graph, globals and environment (only what a hosted function
 * gets: the SUPABASE_* variables and the project's secrets); permissions: network, env,
 * reading its own folder, writing a temp dir of its own; no subprocesses, no FFI.
 * `Deno.exit()` ends this process only. Limits: a wall-clock limit per request, a CPU-time
 * limit while requests run (read from /proc), a V8 heap limit. A process that breaks one is
 * killed; its requests get 546 WORKER_LIMIT and the next request gets a fresh process.
 */
import type { FunctionSpec, RuntimeSettings } from "./functions_config.ts";
import { cpuMs } from "./proc_cpu.ts";

const HOST = new URL("./function_host.ts", import.meta.url).pathname;

export type KillReason = "wall_clock" | "cpu_time" | "memory" | "reload" | "stop";

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
  /** `host:port` to open the V8 inspector on (debugging; disables the wall-clock limit). */
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

export class BootError extends Error {}
export class WorkerLimitError extends Error {}
export class WorkerExitedError extends Error {}

export class FunctionProcess {
  readonly #options: ProcessOptions;
  readonly #child: Deno.ChildProcess;
  readonly #tmp: string;
  readonly ready: Promise<number>;
  readonly exited: Promise<Deno.CommandStatus>;
  #port = 0;
  #killed: KillReason | null = null;
  #sawOutOfMemory = false;
  /** In-flight requests, by sequence number (ids only grow): the CPU time when each began. */
  readonly #running = new Map<number, number>();
  #seq = 0;
  #monitor: ReturnType<typeof setInterval> | undefined;
  #cpuRead = 0;
  #cpuReadAt = -Infinity;
  #alive = true;

  constructor(options: ProcessOptions) {
    this.#options = options;
    const { spec, runtime } = options;
    this.#tmp = Deno.makeTempDirSync({ prefix: `fn-${spec.name}-` });
    const args = [
      "run",
      // The project's deno.json and lockfile pin what npm: specifiers resolve to.
      `--config=${options.denoConfig}`,
      ...(spec.importMap === options.projectImportMap ? [] : [`--import-map=${spec.importMap}`]),
      "--no-prompt",
      "--allow-net",
      "--allow-env",
      `--allow-read=${[spec.dir, ...options.readable, this.#tmp].join(",")}`,
      `--allow-write=${this.#tmp}`,
      `--v8-flags=--max-old-space-size=${runtime.memoryMb}`,
      ...(options.inspect ? [`--inspect=${options.inspect}`] : []),
      HOST,
      `file://${spec.entrypoint}`,
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
      // The stack holds this pipe open and never writes to it: when the stack dies, the host
      // reads end-of-file and exits (function_host.ts), so no function outlives its stack.
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const lifeline = this.#child.stdin.getWriter();
    this.exited = this.#child.status.then((status) => {
      this.#alive = false;
      lifeline.close().catch(() => {});
      clearInterval(this.#monitor);
      Deno.remove(this.#tmp, { recursive: true }).catch(() => {});
      return status;
    });
    let announce: (port: number) => void;
    this.ready = new Promise<number>((resolve, reject) => {
      announce = resolve;
      this.exited.then((status) => {
        if (this.#port === 0) {
          reject(new BootError(`exited with code ${status.code} before serving`));
        }
      });
    });
    this.ready.catch(() => {});
    this.#pipe(this.#child.stdout, (line) => {
      if (this.#port === 0 && line.startsWith('{"listening":')) {
        this.#port = JSON.parse(line).listening;
        announce(this.#port);
        return;
      }
      options.log(line);
    });
    this.#pipe(this.#child.stderr, (line) => {
      if (/out of memory|heap limit/i.test(line)) this.#sawOutOfMemory = true;
      options.log(line);
    });
  }

  get alive(): boolean {
    return this.#alive;
  }

  /** Forward one request; the body streams both ways and a client disconnect aborts it. */
  async fetch(request: Request, path: string): Promise<Response> {
    const port = await this.ready;
    const id = this.#begin();
    const { runtime } = this.#options;
    const wallClock = this.#options.inspect ? undefined : setTimeout(
      () => this.kill("wall_clock"),
      runtime.wallClockMs,
    );
    let response: Response;
    try {
      response = await fetch(`http://127.0.0.1:${port}${path}`, {
        method: request.method,
        headers: request.headers,
        body: request.body,
        redirect: "manual",
        signal: request.signal,
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
    if (this.#killed === "wall_clock" || this.#killed === "cpu_time") {
      return new WorkerLimitError(this.#killed);
    }
    if (this.#sawOutOfMemory) return new WorkerLimitError("memory");
    if (!this.#alive) return new WorkerExitedError("the function's process exited");
    return error instanceof Error ? error : new Error(String(error));
  }

  /**
   * CPU time is counted per request as the hosted runtime does, which a process serving
   * several requests at once cannot measure exactly: the oldest request in flight is over
   * its limit when the CPU the process used since it began exceeds the limit times the
   * number of requests begun since. A loop in one request trips it; a busy process does not.
   */
  #begin(): number {
    const id = ++this.#seq;
    this.#running.set(id, this.#cpuMs());
    if (this.#monitor === undefined && !this.#options.inspect) {
      this.#monitor = setInterval(() => {
        const oldest = this.#running.entries().next().value;
        if (!oldest) return;
        const [oldestId, cpuAtStart] = oldest;
        const allowed = this.#options.runtime.cpuTimeMs * (this.#seq - oldestId + 1);
        if (this.#cpuMs() - cpuAtStart > allowed) this.kill("cpu_time");
      }, 50);
    }
    return id;
  }

  #end(id: number): void {
    this.#running.delete(id);
    if (this.#running.size === 0) {
      clearInterval(this.#monitor);
      this.#monitor = undefined;
    }
  }

  /**
   * utime + stime of the process, from /proc (Linux); 0 where there is no /proc. A reading
   * less than 10 ms old is reused: under load requests begin far more often than that, and
   * 10 ms of slack is small next to a limit of seconds.
   */
  #cpuMs(): number {
    const now = performance.now();
    if (now - this.#cpuReadAt < 10) return this.#cpuRead;
    this.#cpuReadAt = now;
    return this.#cpuRead = cpuMs(String(this.#child.pid)) ?? 0;
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
