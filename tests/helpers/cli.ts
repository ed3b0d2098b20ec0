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

/**
 * `deno task start` on `state`, once its banner is printed. Without a port it runs with
 * `--port 0`: the stack picks free ports for everything (its inbox too), so stacks that tests
 * start side by side never meet on a port; the banner says which. A given port (a restart on
 * the same port) puts the inbox on config.toml's 54324, as a user's start does.
 */
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
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `${ROOT}/cli/main.ts`,
      "start",
      "--port",
      String(options.port ?? 0),
      ...(options.dbPort !== undefined ? ["--db-port", String(options.dbPort)] : []),
      ...(options.extra ?? []),
    ],
    env: { ...options.env, EDGE_STACK_DIR: state, NO_COLOR: "1" },
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Its stderr: handed to the test when asked for, else kept (the last 2 KB) to explain a start
  // that fails.
  let errTail = "";
  const errText = child.stderr.pipeThrough(new TextDecoderStream());
  const stderr = options.stderr ? errText.getReader() : null;
  if (!stderr) {
    errText.pipeTo(
      new WritableStream({ write: (t) => void (errTail = (errTail + t).slice(-2048)) }),
    )
      .catch(() => {});
  }
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let printed = "";
  const deadline = Date.now() + 60_000;
  while (!printed.includes("Mint a user token")) {
    const { value, done } = await reader.read();
    if (done || Date.now() > deadline) {
      if (done) await child.status;
      throw new Error(`stack did not start:\n${printed}\nstderr:\n${errTail}`);
    }
    printed += value;
  }
  reader.releaseLock();
  child.stdout.cancel().catch(() => {});
  const port = Number(/API URL: http:\/\/127\.0\.0\.1:(\d+)/.exec(printed)?.[1]);
  const dbPort = Number(/DB URL: postgresql:\/\/[^@\s]+@127\.0\.0\.1:(\d+)\//.exec(printed)?.[1]);
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
