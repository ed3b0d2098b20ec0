/**
 * `deno task start [--reset] [--port N] [--env-file F] [--inspect FUNCTION]`: boots the local stack, prints its URLs and keys
 * like `supabase status`, and serves until Ctrl-C. `DATABASE_URL` switches from PGlite to
 * an external PostgreSQL; `PORT` (or --port) moves the gateway off 54321.
 */
import { parseArgs } from "node:util";
import { type StackStatus, startStack } from "./stack.ts";
import { STATE_DIR, STATUS_FILE, writeStatus } from "./status_file.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    reset: { type: "boolean", default: false },
    port: { type: "string" },
    "env-file": { type: "string" },
    inspect: { type: "string" },
    help: { type: "boolean" },
  },
});
if (values.help) {
  console.log(
    [
      "usage: deno task start [--reset] [--port N] [--env-file F] [--inspect FUNCTION]",
      "  --reset     start from a fresh database (migrations, then supabase/seed.sql)",
      "  --port      gateway port (default 54321, or PORT)",
      "  --env-file  the functions' secrets (default functions/.env), as supabase functions serve",
      "  --inspect   open the V8 inspector of one function on [edge_runtime] inspector_port",
    ].join("\n"),
  );
  Deno.exit(0);
}
const portText = values.port ?? Deno.env.get("PORT") ?? "54321";
const port = Number(portText);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`--port/PORT must be a port number, got "${portText}"`);
  Deno.exit(2);
}

let stack;
try {
  stack = await startStack({
    port,
    reset: values.reset ?? false,
    dataDir: `${STATE_DIR}/db`,
    keysPath: `${STATE_DIR}/keys.json`,
    ...(Deno.env.get("DATABASE_URL") ? { databaseUrl: Deno.env.get("DATABASE_URL")! } : {}),
    ...(values["env-file"] ? { envFile: await Deno.realPath(values["env-file"]) } : {}),
    ...(values.inspect ? { inspectFunction: values.inspect } : {}),
  });
} catch (error) {
  console.error(`The local stack could not start: ${(error as Error).message}`);
  Deno.exit(1);
}
await writeStatus(stack.status);
console.log(formatStatus(stack.status, stack.db.kind, stack.bootMs));

let stopping = false;
async function stop(signal: string) {
  if (stopping) return;
  stopping = true;
  console.error(`\n${signal}: stopping the local stack...`);
  await stack!.stop();
  await Deno.remove(STATUS_FILE).catch(() => {});
  Deno.exit(0);
}
Deno.addSignalListener("SIGINT", () => stop("SIGINT"));
Deno.addSignalListener("SIGTERM", () => stop("SIGTERM"));
stack.crashed.then((code) => {
  console.error(`PostgREST crashed (exit code ${code}). Stopping; run deno task start again.`);
  stop("crash").then(() => Deno.exit(1));
});

function formatStatus(s: StackStatus, db: string, ms: number): string {
  const rows: [string, string][] = [
    ["API URL", s.api_url],
    ["Functions URL", s.functions_url],
    ["REST URL", `${s.api_url}/rest/v1`],
    ["JWKS URL", s.jwks_url],
    ["DB URL", s.db_url],
    ["Publishable key", s.publishable_key],
    ["Secret key", s.secret_key],
    ["anon key", s.anon_key],
    ["service_role key", s.service_role_key],
    ["JWT secret", s.jwt_secret],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return [
    `Local stack started in ${ms} ms (database: ${
      db === "pglite" ? "PGlite" : "external PostgreSQL"
    }).`,
    "",
    ...rows.map(([k, v]) => `${k.padStart(width)}: ${v}`),
    "",
    "Mint a user token: deno task token --sub <uuid>. Stop with Ctrl-C.",
  ].join("\n");
}
