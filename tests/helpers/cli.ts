/** Run `deno task <verb>` as a user types it (cli/main.ts), capturing its output. */
const ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

export async function task(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}/cli/main.ts`, ...args],
    env: { NO_COLOR: "1", ...env },
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

export interface StartedCli {
  child: Deno.ChildProcess;
  /** What the start printed on stdout, up to and including its banner. */
  printed: string;
  port: number;
  dbPort: number;
  api: string;
  /** Its stderr, when asked for (`stderr: true`). */
  stderr: ReadableStreamDefaultReader<string> | null;
  /** Ctrl-C, and the exit code. */
  interrupt(): Promise<number>;
}

/** `deno task start` on `state` (free ports unless given), once its banner is printed. */
export async function startCli(
  state: string,
  options: {
    port?: number;
    dbPort?: number;
    extra?: string[];
    stderr?: boolean;
    env?: Record<string, string>;
  } = {},
): Promise<StartedCli> {
  const { freePort } = await import("../../stack/db/ports.ts");
  const port = options.port ?? await freePort();
  const dbPort = options.dbPort ?? await freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `${ROOT}/cli/main.ts`,
      "start",
      "--port",
      String(port),
      "--db-port",
      String(dbPort),
      ...(options.extra ?? []),
    ],
    env: { ...options.env, EDGE_STACK_DIR: state, NO_COLOR: "1" },
    cwd: ROOT,
    stdout: "piped",
    stderr: options.stderr ? "piped" : "null",
  }).spawn();
  const stderr = options.stderr
    ? child.stderr.pipeThrough(new TextDecoderStream()).getReader()
    : null;
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let printed = "";
  const deadline = Date.now() + 60_000;
  while (!printed.includes("Mint a user token")) {
    const { value, done } = await reader.read();
    if (done || Date.now() > deadline) throw new Error(`stack did not start:\n${printed}`);
    printed += value;
  }
  reader.releaseLock();
  child.stdout.cancel().catch(() => {});
  return {
    child,
    printed,
    port,
    dbPort,
    api: `http://127.0.0.1:${port}`,
    stderr,
    async interrupt() {
      child.kill("SIGINT");
      return (await child.status).code;
    },
  };
}
