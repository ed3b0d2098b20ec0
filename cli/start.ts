/**
 * `deno task start`: boots the local stack, prints its URLs and keys like `supabase status`,
 * and serves until Ctrl-C or `deno task stop`. `DATABASE_URL` switches from the embedded
 * PostgreSQL to a server of your own; `PORT` (or --port) moves the gateway off 54321.
 */
import { verb } from "../stack/invocation.ts";
import { fail, parseOrExit, progress, type Verb } from "./args.ts";
import { PROJECT_ROOT } from "./new.ts";
import type { Stack, StackStatus } from "../stack/start.ts";
import {
  clearRunning,
  findRunning,
  readPid,
  stackProcessAlive,
  STATE_DIR,
  writeDatabase,
  writePid,
  writeStatus,
} from "../stack/status_file.ts";

export const start: Verb = {
  name: "start",
  supabase: "supabase start / supabase functions serve",
  summary: "start the local stack (database, PostgREST, Auth, functions) and serve until Ctrl-C",
  usage: [
    "usage: deno task start [--reset] [--port N] [--db-port N] [--env-file F] [--inspect FUNCTION]",
    "  --reset     start from a fresh database (migrations, then supabase/seed.sql)",
    "  --port      gateway port (default 54321, or PORT)",
    "  --db-port   the database's port (default [db] port in supabase/config.toml, 54322)",
    "  --env-file  the functions' secrets (default functions/.env), as supabase functions serve",
    "  --inspect   open the V8 inspector of one function on [edge_runtime] inspector_port",
  ].join("\n"),
  async run(argv) {
    const { values } = parseOrExit(this, argv, {
      reset: { type: "boolean", default: false },
      port: { type: "string" },
      "db-port": { type: "string" },
      "env-file": { type: "string" },
      inspect: { type: "string" },
    });
    const portText = values.port ?? Deno.env.get("PORT") ?? "54321";
    const port = Number(portText);
    if (!/^\d+$/.test(portText) || port > 65535) {
      fail(this, `--port must be a port number (0-65535), got "${portText}"`);
    }
    let dbPort: number | undefined;
    if (values["db-port"] !== undefined) {
      dbPort = Number(values["db-port"]);
      if (!/^\d+$/.test(values["db-port"]) || dbPort < 1 || dbPort > 65535) {
        fail(this, `--db-port must be a port number (1-65535), got "${values["db-port"]}"`);
      }
    }
    const refusal = await whyNotStart(port);
    if (refusal) {
      console.error(refusal);
      return 1;
    }
    let envFile: string | undefined;
    if (values["env-file"]) {
      try {
        envFile = await Deno.realPath(values["env-file"]);
      } catch {
        fail(this, `--env-file ${values["env-file"]}: no such file`);
      }
    }
    progress("Starting the local stack...");
    // Loaded once the arguments are good: `--help` and a refusal answer without the stack's code.
    const [{ openLogFile }, { startStack }] = await Promise.all([
      import("../stack/log_file.ts"),
      import("../stack/start.ts"),
    ]);
    const logFile = openLogFile(STATE_DIR);
    let stack;
    try {
      stack = await startStack({
        port,
        reset: values.reset ?? false,
        stateDir: STATE_DIR,
        configToml: `${PROJECT_ROOT}/supabase/config.toml`,
        ...(dbPort !== undefined ? { dbPort } : {}),
        keysPath: `${STATE_DIR}/keys.json`,
        log: (line) => {
          console.error(line);
          logFile.write(line);
        },
        ...(Deno.env.get("DATABASE_URL") ? { databaseUrl: Deno.env.get("DATABASE_URL")! } : {}),
        ...(envFile ? { envFile } : {}),
        ...(values.inspect ? { inspectFunction: values.inspect } : {}),
      });
    } catch (error) {
      console.error(`The local stack could not start: ${(error as Error).message}`);
      return 1;
    }
    await writeStatus(stack.status);
    await writePid(Deno.pid);
    await writeDatabase({
      kind: stack.db.kind,
      admin_url: stack.db.adminUrl,
      ...(stack.db.server ? { major: Number(stack.db.serverVersion.split(".")[0]) } : {}),
    });
    console.log(formatStatus(stack.status, stack.db, stack.bootMs));

    await serveUntilStopped(stack);
    return 0;
  },
};

/** One stack per state directory (its database files cannot be shared), and a free port. */
async function whyNotStart(port: number): Promise<string | null> {
  const running = await findRunning();
  if (running) {
    return `A local stack is already running at ${running.status.api_url} (pid ${running.pid}, state in ${STATE_DIR}).\n` +
      `Stop it with \`${
        verb("stop")
      }\`, or run a second one with EDGE_STACK_DIR=<another dir> and --port.`;
  }
  // One that no longer answers but whose process lives is still stopping (or hung): its
  // database and files are not free yet.
  const pid = await readPid();
  if (pid !== null && pid !== Deno.pid && stackProcessAlive(pid)) {
    return `The stack of ${STATE_DIR} (pid ${pid}) is still stopping; wait for it, or end it with kill ${pid}.`;
  }
  if (port !== 0) {
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
    } catch {
      return `Port ${port} is in use by another program: pass --port N (or PORT).`;
    }
  }
  return null;
}

/** Serve until Ctrl-C, `deno task stop` (SIGTERM) or a PostgREST crash; then clean up. */
async function serveUntilStopped(stack: Stack): Promise<never> {
  let stopping = false;
  const stop = async (signal: string, code = 0) => {
    if (stopping) return;
    stopping = true;
    console.error(`\n${signal}: stopping the local stack...`);
    await stack.stop();
    await clearRunning(Deno.pid);
    Deno.exit(code);
  };
  Deno.addSignalListener("SIGINT", () => stop("SIGINT"));
  Deno.addSignalListener("SIGTERM", () => stop("SIGTERM"));
  stack.crashed.then((code) => {
    console.error(`PostgREST crashed (exit code ${code}). Stopping; run ${verb("start")} again.`);
    stop("crash", 1);
  });
  return await new Promise<never>(() => {});
}

function formatStatus(s: StackStatus, db: Stack["db"], ms: number): string {
  const rows: [string, string][] = [
    ["API URL", s.api_url],
    ["Functions URL", s.functions_url],
    ["REST URL", `${s.api_url}/rest/v1`],
    ["JWKS URL", s.jwks_url],
    ["DB URL", s.db_url],
    ...(s.inbox_url ? [["Inbox URL", s.inbox_url] as [string, string]] : []),
    ["Publishable key", s.publishable_key],
    ["Secret key", s.secret_key],
    ["anon key", s.anon_key],
    ["service_role key", s.service_role_key],
    ["JWT secret", s.jwt_secret],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return [
    `Local stack started in ${ms} ms (database: ${
      db.kind === "embedded" ? `PostgreSQL ${db.serverVersion}` : "DATABASE_URL"
    }).`,
    "",
    ...rows.map(([k, v]) => `${k.padStart(width)}: ${v}`),
    "",
    `Mint a user token: ${verb("token --sub <uuid>")}. Stop with Ctrl-C or ${verb("stop")}.`,
  ].join("\n");
}
