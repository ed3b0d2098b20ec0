/**
 * `deno task test [deno test args]`: starts the test identity providers and one local stack
 * (random free ports, in-memory database, throwaway keys), runs `deno test` against it,
 * and tears everything down, also when tests fail or the run is interrupted.
 *
 * While the suite runs, every log line the stack and the functions write goes to
 * `.local/test-stack.log`, and every response body the gateway sends is scanned for
 * secrets. Afterwards `tests/after_suite/no_secrets.ts` checks both, and the runner prints
 * one summary line for the two runs together.
 */
import { startStack } from "../stack/start.ts";

if (Deno.args.includes("--help") || Deno.args.includes("-h")) {
  console.log(
    "usage: deno task test [deno test arguments, e.g. tests/auth_api_test.ts --filter refresh]\n" +
      "  starts the test identity providers and one local stack, runs deno test against it,\n" +
      "  then checks every log line and response body for leaked secrets",
  );
  Deno.exit(0);
}
import { type StackContext, startProviders, SUITE_RATE_LIMITS } from "../tests/helpers/stack.ts";

const logPath = new URL("../.local/test-stack.log", import.meta.url).pathname;
await Deno.mkdir(logPath.replace(/\/[^/]+$/, ""), { recursive: true });
const logFile = await Deno.open(logPath, { create: true, write: true, truncate: true });
const encoder = new TextEncoder();
const log = (line: string) => logFile.writeSync(encoder.encode(`${line}\n`));

// Functions run in their own processes and reach the log through the stack's `log`; anything
// else here that writes to the console is product logging too, so it goes to the log file
// that is checked for secrets (and stays off the test report).
for (const level of ["log", "info", "warn", "error", "debug"] as const) {
  console[level] = (...args: unknown[]) => log(`[${level}] ${args.map(String).join(" ")}`);
}
const say = (text: string) => Deno.stdout.writeSync(encoder.encode(`${text}\n`));

const providers = await startProviders();
const started = performance.now();
let secrets: string[] = [];
const JWT = /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/;
/** Responses that hand out tokens by design (and POST /auth/v1/factors/{id}/verify). */
const ISSUES_TOKENS = new Set([
  "/functions/v1/token-exchange",
  "/auth/v1/_local/token",
  "/auth/v1/signup",
  "/auth/v1/token",
  "/auth/v1/verify",
]);
let scanned = 0;

const stack = await startStack({
  port: 0,
  dataDir: null,
  keysPath: null,
  functionEnv: providers.functionEnv,
  authSettings: { rateLimits: SUITE_RATE_LIMITS },
  log,
  observeResponses(request, response) {
    let path: string;
    try {
      path = new URL(request.url).pathname;
    } catch {
      path = "(a request whose Host made no URL)";
    }
    response.text().then((body) => {
      scanned++;
      const kinds: string[] = [];
      if (secrets.some((v) => body.includes(v))) kinds.push("a key or secret value");
      const issues = ISSUES_TOKENS.has(path) || /^\/auth\/v1\/factors\/[^/]+\/verify$/.test(path);
      if (!(issues && response.ok) && JWT.test(body)) kinds.push("a JWT");
      if (kinds.length) {
        log(
          `[leak] ${request.method} ${path} ${response.status} body holds ${kinds.join(" and ")}`,
        );
      }
    }).catch(() => {});
  },
});
const k = stack.keys;
secrets = [
  k.jwtSecret,
  k.secretKey,
  k.publishableKey,
  k.serviceRoleKey,
  k.anonKey,
  k.dbPassword,
  String(k.signingKey.d),
  String(providers.clerk.privateJwk.d),
  String(providers.logto.privateJwk.d),
  String(providers.acme.privateJwk.d),
];
say(
  `local stack for tests: ${stack.status.api_url} (booted in ${
    Math.round(performance.now() - started)
  } ms)`,
);

const context: StackContext = {
  status: stack.status,
  clerk: providers.clerk,
  logto: providers.logto,
  acme: providers.acme,
  appOrigin: providers.appOrigin,
};

/** Run `deno test`, echoing its output, and return its exit code and summary numbers. */
async function denoTest(args: string[], env: Record<string, string>) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["test", "-A", ...args],
    env,
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const forward = () => child.kill("SIGTERM");
  Deno.addSignalListener("SIGINT", forward);
  Deno.addSignalListener("SIGTERM", forward);
  let tail = "";
  for await (const chunk of child.stdout) {
    Deno.stdout.writeSync(chunk);
    tail = (tail + new TextDecoder().decode(chunk)).slice(-4096);
  }
  const { code } = await child.status;
  Deno.removeSignalListener("SIGINT", forward);
  Deno.removeSignalListener("SIGTERM", forward);
  // deno-lint-ignore no-control-regex
  const plain = tail.replace(/\x1b\[[0-9;]*m/g, "");
  const summary = [
    ...plain.matchAll(/^(ok|FAILED) \| (\d+) passed.*?\| (\d+) failed(?: \| (\d+) ignored)?/gm),
  ].pop();
  return {
    code,
    passed: Number(summary?.[2] ?? 0),
    failed: Number(summary?.[3] ?? (code === 0 ? 0 : 1)),
    ignored: Number(summary?.[4] ?? 0),
  };
}

let suite = { code: 1, passed: 0, failed: 1, ignored: 0 };
let after = { code: 1, passed: 0, failed: 1, ignored: 0 };
try {
  suite = await denoTest(["--parallel", ...(Deno.args.length > 0 ? Deno.args : ["tests/"])], {
    EDGE_STACK: JSON.stringify(context),
  });
} finally {
  await stack.stop();
  await Promise.all(providers.servers.map((s) => s.close()));
  await new Promise((r) => setTimeout(r, 50)); // let the last response scans land
  logFile.close();
}
say(`secrets check: the gateway scanned ${scanned} response bodies`);
after = await denoTest(["tests/after_suite/no_secrets.ts"], {
  EDGE_STACK_LOG: logPath,
  EDGE_STACK_SECRETS: JSON.stringify(secrets),
  EDGE_STACK_SCANNED: String(scanned),
});

const passed = suite.passed + after.passed;
const failed = suite.failed + after.failed;
const ignored = suite.ignored + after.ignored;
say(
  `\n${
    failed === 0 && suite.code === 0 && after.code === 0 ? "ok" : "FAILED"
  } | ${passed} passed | ${failed} failed${
    ignored ? ` | ${ignored} ignored` : ""
  } (suite and after-suite secrets check)`,
);
Deno.exit(suite.code !== 0 ? suite.code : after.code);
