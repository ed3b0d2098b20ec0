/**
 * `deno task test [deno test args]`: starts the test identity providers and one local stack
 * (random free ports, in-memory database, throwaway keys), runs `deno test` against it,
 * and tears everything down, also when tests fail or the run is interrupted.
 */
import { startStack } from "../stack/stack.ts";
import { type StackContext, startProviders } from "../tests/helpers/stack.ts";

const logPath = new URL("../.local/test-stack.log", import.meta.url).pathname;
await Deno.mkdir(logPath.replace(/\/[^/]+$/, ""), { recursive: true });
const logFile = await Deno.open(logPath, { create: true, write: true, truncate: true });
const encoder = new TextEncoder();
const log = (line: string) => logFile.writeSync(encoder.encode(`${line}\n`));

const providers = await startProviders();
const started = performance.now();
const stack = await startStack({
  port: 0,
  dataDir: null,
  keysPath: null,
  functionEnv: providers.functionEnv,
  log,
});
console.log(
  `local stack for tests: ${stack.status.api_url} (booted in ${
    Math.round(performance.now() - started)
  } ms)`,
);

const context: StackContext = {
  status: stack.status,
  clerk: providers.clerk,
  logto: providers.logto,
  appOrigin: providers.appOrigin,
};

let code = 1;
const child = new Deno.Command(Deno.execPath(), {
  args: ["test", "-A", "--parallel", ...(Deno.args.length > 0 ? Deno.args : ["tests/"])],
  env: { EDGE_STACK: JSON.stringify(context), EDGE_STACK_LOG: logPath },
  stdout: "inherit",
  stderr: "inherit",
}).spawn();
const forward = () => child.kill("SIGTERM");
Deno.addSignalListener("SIGINT", forward);
Deno.addSignalListener("SIGTERM", forward);
try {
  code = (await child.status).code;
} finally {
  Deno.removeSignalListener("SIGINT", forward);
  Deno.removeSignalListener("SIGTERM", forward);
  await stack.stop();
  await Promise.all(providers.servers.map((s) => s.close()));
  logFile.close();
}
Deno.exit(code);
