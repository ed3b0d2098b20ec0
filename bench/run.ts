/**
 * `deno task bench`: every measurement in one run, ours next to the anchors on the same
 * machine, keys and tokens; prints one table, and writes docs/BENCHMARKS.md with --write.
 *
 *   1. verification micro-benchmarks and in-process requests (bench/verify_bench.ts)
 *   2. HTTP load: each handler in its own server process, load from a third process
 *   3. JWKS fetches while under load (both fetch keys from the same counting server)
 *   4. cold start: process start to first 200 response
 *   5. a full `me` request (verify + user-scoped client + PostgREST + PostgreSQL), in process
 *      and over HTTP through the local stack
 *   6. the cost of the token rule in front of PostgREST: /rest/v1 through the gateway next to
 *      PostgREST directly (same token, same run), and the rule alone, in process
 *   7. the local Auth: password sign-in and refresh latency through the gateway, sign-ins/s
 *   8. functions in their own processes next to functions imported into the stack
 *   9. the full request path, with targets: the embedded PostgreSQL (and a DATABASE_URL server
 *      when BENCH_DATABASE_URL or TEST_DATABASE_URL is set) x HS256 / ES256 x PostgREST
 *      directly, /rest/v1, a function
 *  10. stack boot: a new stack on a new cluster (copied from the template) and on an existing one
 *  11. a misbehaving function next to `me`: `me`'s latency while another function burns CPU
 *      after answering, allocates memory outside the V8 heap, or calls itself without end
 */
import { parseArgs } from "node:util";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { freePort } from "../stack/db/ports.ts";
import { type Stack, startStack } from "../stack/start.ts";
import { createRestAuthorizer } from "../stack/runtime/rest_auth.ts";
import { CpuGroups, machineBusyMs, processes } from "./cpu.ts";
import { SUITE_RATE_LIMITS } from "../tests/helpers/stack.ts";

/** The bench drives Auth from one address far past [auth.rate_limit]'s defaults. */
const BENCH_AUTH = { rateLimits: SUITE_RATE_LIMITS };

const USAGE = [
  "usage: deno task bench [--quick] [--write] [--only SCENARIO]",
  "  --quick  shorter loads (a smoke run); never written",
  "  --write  write the table to docs/BENCHMARKS.md (otherwise it is only printed)",
  "  --only   run one scenario: verify (micro + in process), http (load vs @supabase/server),",
  "           cold (cold start), stack (me, /rest/v1, Auth, function isolation),",
  "           matrix (the full request path: embedded PostgreSQL and BENCH_DATABASE_URL x",
  "           HS256/ES256 x PostgREST directly, /rest/v1, /functions/v1/me),",
  "           boot (stack start on a new and on an existing cluster),",
  "           misbehave (`me` latency while another function spins, allocates, recurses),",
  "           suite (the whole `deno task test`, wall time)",
].join("\n");
const SCENARIOS = ["verify", "http", "cold", "stack", "matrix", "boot", "misbehave", "suite"];
let flags;
try {
  flags = parseArgs({
    args: Deno.args,
    strict: true,
    options: {
      quick: { type: "boolean", default: false },
      write: { type: "boolean", default: false },
      only: { type: "string" },
      help: { type: "boolean", default: false },
    },
  }).values;
} catch (error) {
  console.error(`deno task bench: ${(error as Error).message.split("\n")[0]}`);
  console.error(USAGE.split("\n")[0]);
  Deno.exit(2);
}
if (flags.help) {
  console.log(USAGE);
  Deno.exit(0);
}
if (flags.only !== undefined && !SCENARIOS.includes(flags.only)) {
  console.error(`deno task bench: --only must be one of ${SCENARIOS.join(", ")}`);
  Deno.exit(2);
}
if (flags.write && (flags.quick || flags.only)) {
  console.error("deno task bench: --write needs the full run (no --quick, no --only)");
  Deno.exit(2);
}
const want = (scenario: string) => flags.only === undefined || flags.only === scenario;
/** The environment the bench was started with (in-process scenarios add the functions' own). */
const startEnv = Deno.env.toObject();
const deno = Deno.execPath();
const quick = flags.quick;
const LOAD_SECONDS = quick ? 2 : 5;
/** Section 9 measures each path in rounds of this many seconds, interleaved. */
const MATRIX_ROUNDS = quick ? 2 : 5;
const MATRIX_ROUND_SECONDS = quick ? 1 : 2;
const CONCURRENCY = 32;

function run(args: string[], env: Record<string, string> = {}) {
  return new Deno.Command(deno, {
    args,
    // The environment the bench started with: in-process scenarios set the functions' own
    // (AUTH_ISSUERS among them), which a child's stack would take as a second source.
    clearEnv: true,
    env: { ...startEnv, ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
}

// ---------------------------------------------------------------- helpers
/** Requests per second, if every request of the load was answered 200. */
async function rate(url: string, bearer: string): Promise<number> {
  const result = await load(url, bearer, LOAD_SECONDS, 16);
  allAnswered200(url, result.statuses);
  return result.rps;
}

/** A load counts only if every request of it was answered 200. */
function allAnswered200(url: string, statuses: Record<string, number>): void {
  const other = Object.keys(statuses).filter((status) => status !== "200");
  if (other.length > 0) throw new Error(`${url}: ${JSON.stringify(statuses)}`);
}

/** Section 9's profile of one path: what its loads cost, summed over the rounds. */
interface Profile {
  requests: number;
  seconds: number;
  /** part -> CPU ms spent during the loads (the load generator's own included) */
  cpuMs: Map<string, number>;
}
const profiles: [string, string, Profile][] = []; // [database, path, profile]

function mergeProfiles(all: Profile[]): Profile {
  const cpuMs = new Map<string, number>();
  for (const p of all) {
    for (const [part, ms] of p.cpuMs) cpuMs.set(part, (cpuMs.get(part) ?? 0) + ms);
  }
  return {
    requests: all.reduce((a, p) => a + p.requests, 0),
    seconds: all.reduce((a, p) => a + p.seconds, 0),
    cpuMs,
  };
}

/** Section 9: one stack, both algorithms, the three ways to one row; rows with targets. */
async function fullPath(label: string, databaseUrl?: string): Promise<Row[]> {
  console.error(`bench: the full request path on ${label}...`);
  const stack = await startStack({
    port: 0,
    dataDir: null,
    keysPath: null,
    log: () => {},
    authSettings: BENCH_AUTH,
    ...(databaseUrl ? { databaseUrl, reset: true } : {}),
  });
  const out: Row[] = [];
  // The floor for any proxy written in Deno: fetch + Response, no rule, in the stack's process.
  const bare = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const url = new URL(req.url);
    const upstream = await fetch(`${stack.postgrestUrl}${url.pathname}${url.search}`, {
      headers: req.headers,
    });
    return new Response(upstream.body, upstream);
  });
  try {
    // Rates: requests / seconds over all rounds. Ratios: the median of the ratios taken in
    // each round, so that a machine whose speed drifts (shared CPUs) compares like with like.
    const r: Record<string, number> = {};
    const rounds: Record<string, number[]> = {}; // "<path> <alg>" -> req/s per round
    const paths: [string, string, string][] = [
      ["direct", `${stack.postgrestUrl}/posts?select=id&limit=1`, "PostgREST directly"],
      ["rest", `${stack.status.api_url}/rest/v1/posts?select=id&limit=1`, "`/rest/v1`"],
      ["me", `${stack.status.functions_url}/me`, "`/functions/v1/me`"],
      ["bare", `http://127.0.0.1:${bare.addr.port}/posts?select=id&limit=1`, "bare Deno proxy"],
    ];
    const tokens = {
      HS256: await stackToken(stack, "HS256"),
      ES256: await stackToken(stack, "ES256"),
    };
    // Every (path, token) pair is one load of a round, both algorithms in the same rounds.
    const loads = (["HS256", "ES256"] as const).flatMap((alg) =>
      paths.map(([key, url, name]) => ({ key: `${key} ${alg}`, url, alg, name }))
    );
    // One warm-up second per load (JIT, connection pools, caches), then the measured rounds.
    for (const { url, alg } of loads) await load(url, tokens[alg], 1, 16);
    const groups = cpuGroups(stack, databaseUrl !== undefined);
    const measured = new Map<string, Profile[]>();
    for (let round = 0; round < MATRIX_ROUNDS; round++) {
      // Each round starts at another load, so none always runs first.
      for (let i = 0; i < loads.length; i++) {
        const { key, url, alg } = loads[(round * 3 + i) % loads.length]!;
        const profile = await profiledLoad(
          url,
          tokens[alg],
          groups,
          16,
          MATRIX_ROUND_SECONDS,
        );
        measured.set(key, [...measured.get(key) ?? [], profile]);
        (rounds[key] ??= []).push(profile.requests / profile.seconds);
      }
    }
    for (const { key, alg, name } of loads) {
      const merged = mergeProfiles(measured.get(key)!);
      r[key] = merged.requests / merged.seconds;
      profiles.push([label, `${name}, ${alg}`, merged]);
    }
    /** Median over the rounds of a's rate / b's rate in the same round. */
    const ratio = (a: string, b: string) =>
      median(rounds[a]!.map((rate, i) => rate / rounds[b]![i]!));
    if (!databaseUrl) {
      // One request at a time: what one PostgREST request costs, unhurried.
      const token = await stackToken(stack, "HS256");
      const groups = cpuGroups(stack, false);
      const url = `${stack.postgrestUrl}/posts?select=id&limit=1`;
      profiles.push([
        label,
        "PostgREST directly, HS256, one client",
        await profiledLoad(url, token, groups, 1, LOAD_SECONDS),
      ]);
    }
    const rps = (v: number) => `${Math.round(v)} req/s`;
    for (const alg of ["HS256", "ES256"]) {
      out.push([
        `${label}, ${alg}: PostgREST directly / \`/rest/v1\` / \`/functions/v1/me\``,
        `${rps(r[`direct ${alg}`]!)} / ${rps(r[`rest ${alg}`]!)} / ${rps(r[`me ${alg}`]!)}`,
        "",
        "",
        "(for information)",
        "",
      ]);
    }
    out.push([
      `${label}: a bare Deno fetch proxy to PostgREST (no rule), HS256 / ES256`,
      `${rps(r["bare HS256"]!)} / ${rps(r["bare ES256"]!)}`,
      "the floor for any proxy in Deno on this machine",
      `${x(ratio("bare HS256", "direct HS256"))} / ${
        x(ratio("bare ES256", "direct ES256"))
      } of direct`,
      "(for information)",
      "",
    ]);
    const target = (what: string, value: number, goal: number, compared: string) =>
      out.push([
        `${label}: ${what}`,
        xAgainst(value, goal),
        compared,
        xAgainst(value, goal),
        `>= ${goal}x`,
        verdict(value >= goal),
      ]);
    target(
      "`/rest/v1` with an ES256 token vs an HS256 token",
      ratio("rest ES256", "rest HS256"),
      0.9,
      `${rps(r["rest ES256"]!)} vs ${rps(r["rest HS256"]!)}`,
    );
    for (const alg of ["HS256", "ES256"]) {
      target(
        `\`/rest/v1\` through the gateway vs PostgREST directly, ${alg}`,
        ratio(`rest ${alg}`, `direct ${alg}`),
        0.9,
        `${rps(r[`rest ${alg}`]!)} vs ${rps(r[`direct ${alg}`]!)}`,
      );
      target(
        `\`/functions/v1/me\` vs \`/rest/v1\`, ${alg}`,
        ratio(`me ${alg}`, `rest ${alg}`),
        0.75,
        `${rps(r[`me ${alg}`]!)} vs ${rps(r[`rest ${alg}`]!)}`,
      );
    }
  } finally {
    await bare.shutdown();
    await stack.stop();
  }
  return out;
}

/** A user token from the stack's local token endpoint (a new user each time; default alg if none). */
async function stackToken(stack: Stack, alg?: "HS256" | "ES256"): Promise<string> {
  const response = await fetch(`${stack.status.api_url}/auth/v1/_local/token`, {
    method: "POST",
    headers: { apikey: stack.status.secret_key, "content-type": "application/json" },
    body: JSON.stringify({ sub: crypto.randomUUID(), ...(alg ? { alg } : {}) }),
  });
  return (await response.json()).access_token as string;
}

/** The parts of one stack whose CPU the profile counts (read once the functions are up). */
function cpuGroups(stack: Stack, external: boolean) {
  const groups = new CpuGroups();
  const all = processes();
  groups.define("stack process", [String(Deno.pid)]);
  groups.define(
    "function process",
    all.filter((p) => p.ppid === Deno.pid && p.cmdline.includes("function_host")).map((p) =>
      String(p.pid)
    ),
  );
  groups.define("PostgREST", [String(stack.postgrestPid)]);
  // The embedded server and its backends (its children), or every postgres on the machine.
  const postmaster = external ? null : stack.db.server?.pid ?? null;
  groups.define(
    "PostgreSQL",
    all.filter((p) =>
      postmaster === null ? p.comm === "postgres" : p.pid === postmaster || p.ppid === postmaster
    ).map((p) => String(p.pid)),
  );
  return groups;
}

/** One load, with the CPU each part spent during it. */
async function profiledLoad(
  url: string,
  bearer: string,
  groups: CpuGroups,
  concurrency: number,
  seconds: number,
): Promise<Profile> {
  const before = groups.take();
  const result = await load(url, bearer, seconds, concurrency);
  const cpuMs = CpuGroups.since(before, groups.take());
  allAnswered200(url, result.statuses);
  cpuMs.set("load generator", result.cpuMs);
  return {
    requests: result.requests,
    seconds: result.seconds,
    cpuMs,
  };
}

const fmt = (v: number) =>
  v >= 1e6
    ? `${(v / 1e6).toFixed(2)} ms`
    : v >= 1e3
    ? `${(v / 1e3).toFixed(1)} µs`
    : `${v.toFixed(0)} ns`;
const x = (v: number) => `${v >= 10 ? v.toFixed(0) : v.toFixed(2)}x`;
/** x(), with a third digit when two would round a miss up to the goal (0.898 is not 0.90). */
const xAgainst = (v: number, goal: number) =>
  v < goal && Number(v.toFixed(2)) >= goal ? `${v.toFixed(3)}x` : x(v);
type Row = [string, string, string, string, string, string];
const rows: Row[] = [];
const verdict = (ok: boolean) => (ok ? "met" : "**not met**");

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const avg = new Map<string, number>(); // "group/name" -> ns (section 1)
const ns = (group: string, name: string) => {
  const v = avg.get(`${group}/${name}`);
  if (v === undefined) throw new Error(`missing bench ${group}/${name}`);
  return v;
};

// ---------------------------------------------------------------- shared key and token
const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
const jwk = { ...(await exportJWK(publicKey)), kid: "bench-http", alg: "ES256", use: "sig" };
let jwksFetches = 0;
const jwksServer = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
  if (new URL(request.url).pathname === "/auth/v1/.well-known/jwks.json") {
    jwksFetches++;
    return Response.json({ keys: [jwk] });
  }
  return new Response("not found", { status: 404 });
});
const supabaseUrl = `http://127.0.0.1:${jwksServer.addr.port}`;
const now = Math.floor(Date.now() / 1000);
const token = await new SignJWT({
  iss: `${supabaseUrl}/auth/v1`,
  aud: "authenticated",
  sub: "8c6f4a8e-4a4e-4c7b-9f5e-0d4c1b2a3f10",
  role: "authenticated",
  email: "bench@example.com",
}).setProtectedHeader({ alg: "ES256", kid: "bench-http", typ: "JWT" }).setIssuedAt(now)
  .setExpirationTime(now + 3600)
  .sign(privateKey);
const serverEnv = {
  SUPABASE_URL: supabaseUrl,
  SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ default: "sb_publishable_bench_bench_bench_bench" }),
  SUPABASE_SECRET_KEYS: JSON.stringify({ default: "sb_secret_bench_bench_bench_bench_bench" }),
};
await run(["cache", "bench/serve.ts", "bench/load.ts"]);

async function serve(kind: "ours" | "anchor") {
  const port = await freePort();
  const started = performance.now();
  const child = new Deno.Command(deno, {
    args: ["run", "-A", "bench/serve.ts", kind, String(port)],
    env: serverEnv,
    stdout: "null",
    stderr: "null",
  }).spawn();
  const url = `http://127.0.0.1:${port}/functions/v1/me`;
  let firstResponseMs = 0;
  for (;;) {
    try {
      const r = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
      await r.arrayBuffer();
      if (r.status === 200) {
        firstResponseMs = performance.now() - started;
        break;
      }
      throw new Error(`${kind} answered ${r.status}`);
    } catch (error) {
      if (!(error instanceof TypeError)) throw error; // still starting: connection refused
      if (performance.now() - started > 30_000) throw new Error(`${kind} did not start`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  return {
    url,
    firstResponseMs,
    async stop() {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

async function load(
  url: string,
  bearer: string,
  seconds = LOAD_SECONDS,
  concurrency = CONCURRENCY,
) {
  const out = await run([
    "run",
    "-A",
    "bench/load.ts",
    url,
    bearer,
    String(seconds),
    String(concurrency),
  ]);
  return JSON.parse(new TextDecoder().decode(out.stdout)) as {
    rps: number;
    requests: number;
    seconds: number;
    statuses: Record<string, number>;
    cpuMs: number;
  };
}

if (want("verify")) {
  // ---------------------------------------------------------------- 1. deno bench
  console.error("bench: verification and in-process requests (deno bench)...");
  const benchOut = await run(["bench", "-A", "--json", "bench/verify_bench.ts"]);
  if (!benchOut.success) {
    console.error(new TextDecoder().decode(benchOut.stderr));
    Deno.exit(1);
  }
  const report = JSON.parse(new TextDecoder().decode(benchOut.stdout));
  avg.clear();
  for (const b of report.benches) {
    const ok = b.results?.[0]?.ok;
    if (ok) avg.set(`${b.group}/${b.name}`, ok.avg);
  }

  const cachedRatio = ns("verify ES256", "ours, cached (lookup: the wrapper's path)") /
    ns("verify ES256", "Map lookup + exp check (reference)");
  rows.push([
    "cached verification, ES256 (wrapper path)",
    fmt(ns("verify ES256", "ours, cached (lookup: the wrapper's path)")),
    `Map lookup + exp check: ${fmt(ns("verify ES256", "Map lookup + exp check (reference)"))}`,
    `${x(cachedRatio)} the time`,
    "within 2x",
    verdict(cachedRatio <= 2),
  ]);
  rows.push([
    "cached verification, ES256, via async verify()",
    fmt(ns("verify ES256", "ours, cached (async verify)")),
    `Map lookup + exp check: ${fmt(ns("verify ES256", "Map lookup + exp check (reference)"))}`,
    `${
      x(
        ns("verify ES256", "ours, cached (async verify)") /
          ns("verify ES256", "Map lookup + exp check (reference)"),
      )
    } the time`,
    "(for information)",
    "",
  ]);
  for (const alg of ["ES256", "RS256", "EdDSA", "HS256"]) {
    const g = `verify ${alg}`;
    rows.push([
      `uncached verification, ${alg}`,
      fmt(ns(g, "ours, uncached")),
      `jose jwtVerify ${fmt(ns(g, "jose jwtVerify"))}; WebCrypto floor ${
        fmt(ns(g, "WebCrypto verify (floor)"))
      }`,
      `${x(ns(g, "ours, uncached") / ns(g, "jose jwtVerify"))} jose's time`,
      "(for information)",
      "",
    ]);
  }
  rows.push([
    "verification, ES256, repeated token",
    fmt(ns("verify ES256", "ours, cached (lookup: the wrapper's path)")),
    `supabase-js getClaims(token, {jwks}): ${
      fmt(ns("verify ES256", "supabase-js auth.getClaims(token, {jwks})"))
    }`,
    `${
      x(
        ns("verify ES256", "supabase-js auth.getClaims(token, {jwks})") /
          ns("verify ES256", "ours, cached (lookup: the wrapper's path)"),
      )
    } faster`,
    "(for information)",
    "",
  ]);
  // In-process requests, ours next to @supabase/server, each with its target.
  for (
    const [group, goal, goalText] of [
      ["repeated token", 20, ">= 20x"],
      ["first-seen token", 1, "no slower (>= 1x)"],
    ] as const
  ) {
    const ours = ns(`request, ${group}`, "ours withAuth");
    const anchor = ns(`request, ${group}`, "@supabase/server withSupabase");
    rows.push([
      `request in process, ${group}`,
      `${Math.round(1e9 / ours)} req/s`,
      `@supabase/server: ${Math.round(1e9 / anchor)} req/s`,
      `${x(anchor / ours)} throughput`,
      goalText,
      verdict(anchor / ours >= goal),
    ]);
  }
}

if (want("http")) {
  // ---------------------------------------------------------------- 2+3. HTTP load and JWKS fetches
  const http: Record<string, { rps: number; steadyFetches: number; coldFetches: number }> = {};
  for (const kind of ["anchor", "ours"] as const) {
    console.error(`bench: HTTP load, ${kind}...`);
    const before = jwksFetches;
    const server = await serve(kind);
    const cold = jwksFetches - before;
    const result = await load(server.url, token);
    if (Object.keys(result.statuses).some((s) => s !== "200")) {
      throw new Error(`${kind}: ${JSON.stringify(result.statuses)}`);
    }
    http[kind] = { rps: result.rps, coldFetches: cold, steadyFetches: jwksFetches - before - cold };
    await server.stop();
  }

  const httpRatio = http.ours!.rps / http.anchor!.rps;
  rows.push([
    `request over HTTP, repeated token (${CONCURRENCY} concurrent)`,
    `${Math.round(http.ours!.rps)} req/s`,
    `@supabase/server: ${Math.round(http.anchor!.rps)} req/s`,
    `${x(httpRatio)} throughput`,
    ">= 5x",
    verdict(httpRatio >= 5),
  ]);
  rows.push([
    "JWKS fetches under HTTP load (steady state)",
    `${http.ours!.steadyFetches} (cold: ${http.ours!.coldFetches})`,
    `@supabase/server: ${http.anchor!.steadyFetches} (cold: ${http.anchor!.coldFetches})`,
    "",
    "0 per request",
    verdict(http.ours!.steadyFetches === 0),
  ]);
}

if (want("cold")) {
  // ---------------------------------------------------------------- 4. cold start
  const coldStarts: Record<string, number[]> = { ours: [], anchor: [] };
  for (let i = 0; i < (quick ? 3 : 7); i++) {
    for (const kind of ["anchor", "ours"] as const) {
      const server = await serve(kind);
      coldStarts[kind]!.push(server.firstResponseMs);
      await server.stop();
    }
  }
  console.error(`bench: cold start ours ${coldStarts.ours}, anchor ${coldStarts.anchor}`);

  const coldRatio = median(coldStarts.ours!) / median(coldStarts.anchor!);
  rows.push([
    "cold start: process start to first 200 (median)",
    `${median(coldStarts.ours!).toFixed(0)} ms`,
    `@supabase/server template: ${median(coldStarts.anchor!).toFixed(0)} ms`,
    `${x(coldRatio)} the time`,
    "no slower (<= 1x)",
    verdict(coldRatio <= 1),
  ]);
}

if (want("stack")) {
  // ---------------------------------------------------------------- 5. full `me` through the local stack
  console.error("bench: full me requests through the local stack...");
  // A third-party issuer for section 6: the bench's key, under its own iss and audience.
  const thirdPartyIssuer = `${supabaseUrl}/third-party`;
  // Functions imported into the stack's process here; section 8 runs them in their own processes.
  const stack = await startStack({
    port: 0,
    dataDir: null,
    keysPath: null,
    log: () => {},
    authSettings: BENCH_AUTH,
    functionIsolation: "in-process",
    functionEnv: {
      AUTH_ISSUERS: JSON.stringify([{
        issuer: thirdPartyIssuer,
        jwks_url: `${supabaseUrl}/auth/v1/.well-known/jwks.json`,
        mode: "native",
        provider: "oidc",
        id_prefix: "bench",
        audience: "bench",
      }]),
    },
  });
  const issuedToken = await stackToken(stack);
  const me = (await import("../functions/me/index.ts")).default.fetch;
  const meRequest = () =>
    new Request(`${stack.status.functions_url}/me`, {
      headers: { authorization: `Bearer ${issuedToken}` },
    });
  for (let i = 0; i < 20; i++) await (await me(meRequest())).arrayBuffer();
  const inProcessStarted = performance.now();
  let inProcessCount = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (performance.now() - inProcessStarted < LOAD_SECONDS * 1000) {
      const r = await me(meRequest());
      if (r.status !== 200) throw new Error(`me answered ${r.status}`);
      await r.arrayBuffer();
      inProcessCount++;
    }
  }));
  const meInProcess = inProcessCount / ((performance.now() - inProcessStarted) / 1000);
  const meHttp = await load(
    `${stack.status.functions_url}/me`,
    issuedToken,
    LOAD_SECONDS,
    16,
  );

  // ---------------------------------------------------------------- 6. the rule in front of PostgREST
  console.error("bench: /rest/v1 through the gateway next to PostgREST directly...");
  const thirdPartyToken = await new SignJWT({
    iss: thirdPartyIssuer,
    aud: "bench",
    sub: "tp-user-1",
    role: "authenticated",
  }).setProtectedHeader({ alg: "ES256", kid: "bench-http", typ: "JWT" }).setIssuedAt(now)
    .setExpirationTime(now + 3600)
    .sign(privateKey);
  const REST_QUERY = "/posts?select=id&limit=1";
  const restRates: Record<string, number> = {};
  for (const alg of ["HS256", "ES256"] as const) {
    const userTok = await stackToken(stack, alg);
    restRates[`direct ${alg}`] = await rate(`${stack.postgrestUrl}${REST_QUERY}`, userTok);
    restRates[`gateway ${alg}`] = await rate(
      `${stack.status.api_url}/rest/v1${REST_QUERY}`,
      userTok,
    );
  }
  restRates["gateway third-party ES256"] = await rate(
    `${stack.status.api_url}/rest/v1${REST_QUERY}`,
    thirdPartyToken,
  );
  // The rule alone: what the gateway adds to each request before proxying (repeated token).
  const authorize = createRestAuthorizer({
    config: stack.config,
    anonToken: stack.keys.anonKey,
    serviceRoleToken: stack.keys.serviceRoleKey,
  });
  const ruleMicros: Record<string, number> = {};
  for (
    const [label, tok] of [
      ["Supabase ES256", await stackToken(stack, "ES256")],
      ["third-party ES256 (re-signed)", thirdPartyToken],
    ] as const
  ) {
    const request = new Request(`${stack.status.api_url}/rest/v1${REST_QUERY}`, {
      headers: { authorization: `Bearer ${tok}` },
    });
    for (let i = 0; i < 1000; i++) await authorize(request);
    const n = 100_000;
    const t = performance.now();
    for (let i = 0; i < n; i++) await authorize(request);
    ruleMicros[label] = ((performance.now() - t) * 1000) / n;
  }
  // ---------------------------------------------------------------- 7. the local Auth
  console.error("bench: sign-in and refresh through the local Auth...");
  const authUrl = `${stack.status.api_url}/auth/v1`;
  const authPost = async (path: string, body: unknown) => {
    const r = await fetch(`${authUrl}/${path}`, {
      method: "POST",
      headers: { apikey: stack.status.publishable_key, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const answer = await r.json();
    if (!r.ok) throw new Error(`${path}: ${r.status} ${answer.error_code}`);
    return answer;
  };
  const benchUser = { email: "bench@example.com", password: "bench-password-1" };
  await authPost("signup", benchUser);
  const timed = async (n: number, step: () => Promise<unknown>) => {
    const times: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      await step();
      times.push(performance.now() - t);
    }
    return median(times);
  };
  const signInMs = await timed(
    quick ? 5 : 20,
    () => authPost("token?grant_type=password", benchUser),
  );
  let refreshToken = (await authPost("token?grant_type=password", benchUser)).refresh_token;
  const refreshMs = await timed(quick ? 10 : 50, async () => {
    refreshToken =
      (await authPost("token?grant_type=refresh_token", { refresh_token: refreshToken }))
        .refresh_token;
  });
  let signIns = 0;
  const signInStart = performance.now();
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (performance.now() - signInStart < LOAD_SECONDS * 1000) {
      await authPost("token?grant_type=password", benchUser);
      signIns++;
    }
  }));
  const signInsPerSecond = signIns / ((performance.now() - signInStart) / 1000);
  // A failed sign-in must not tell whether the address exists: a seeded user (pgcrypto's
  // cost-6 hash) against an unknown address, wrong password both times.
  const failing = async (email: string) => {
    const r = await fetch(`${authUrl}/token?grant_type=password`, {
      method: "POST",
      headers: { apikey: stack.status.publishable_key, "content-type": "application/json" },
      body: JSON.stringify({ email, password: "not-the-password" }),
    });
    await r.body?.cancel();
    if (r.status !== 400) throw new Error(`failed sign-in answered ${r.status}`);
  };
  const knownFailMs = await timed(quick ? 5 : 20, () => failing("ada@example.com"));
  const unknownFailMs = await timed(quick ? 5 : 20, () => failing("nobody-here@example.com"));
  await stack.stop();

  // ---------------------------------------------------------------- 8. function isolation
  console.error("bench: functions in their own processes...");
  const isolated = await startStack({
    port: 0,
    dataDir: null,
    keysPath: null,
    log: () => {},
    authSettings: BENCH_AUTH,
  });
  const isolatedToken = await stackToken(isolated);
  const firstCallStart = performance.now();
  const firstCall = await fetch(`${isolated.status.functions_url}/me`, {
    headers: { authorization: `Bearer ${isolatedToken}` },
  });
  await firstCall.arrayBuffer();
  if (firstCall.status !== 200) throw new Error(`isolated me answered ${firstCall.status}`);
  const processColdMs = performance.now() - firstCallStart;
  const meIsolated = await load(
    `${isolated.status.functions_url}/me`,
    isolatedToken,
    LOAD_SECONDS,
    16,
  );
  if (Object.keys(meIsolated.statuses).some((code) => code !== "200")) {
    throw new Error(`isolated me: ${JSON.stringify(meIsolated.statuses)}`);
  }
  await isolated.stop();
  // The alternative: a Worker in the stack's process importing the same function.
  const workerColdMs: number[] = [];
  const workerFile = await Deno.makeTempFile({ suffix: ".ts" });
  await Deno.writeTextFile(
    workerFile,
    `await import(${JSON.stringify(new URL("../functions/me/index.ts", import.meta.url).href)});
  self.postMessage("ready");`,
  );
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    const worker = new Worker(`file://${workerFile}`, { type: "module" });
    await new Promise((resolve) => (worker.onmessage = resolve));
    workerColdMs.push(performance.now() - t);
    worker.terminate();
  }
  await Deno.remove(workerFile);

  rows.push([
    "full `me` request in process (verify + PostgREST + PostgreSQL)",
    `${Math.round(meInProcess)} req/s`,
    "",
    "",
    "(for information)",
    "",
  ]);
  rows.push([
    "full `me` request over HTTP through the local stack",
    `${Math.round(meHttp.rps)} req/s`,
    "",
    "",
    "(for information)",
    "",
  ]);

  for (const alg of ["HS256", "ES256"]) {
    const ratio = restRates[`gateway ${alg}`]! / restRates[`direct ${alg}`]!;
    rows.push([
      `/rest/v1 through the gateway, Supabase ${alg} user (16 concurrent)`,
      `${Math.round(restRates[`gateway ${alg}`]!)} req/s`,
      `PostgREST directly: ${Math.round(restRates[`direct ${alg}`]!)} req/s`,
      `${x(ratio)} throughput`,
      "(for information)",
      "",
    ]);
  }
  rows.push([
    "/rest/v1 through the gateway, third-party ES256 user (re-signed HS256)",
    `${Math.round(restRates["gateway third-party ES256"]!)} req/s`,
    `Supabase ES256 user, same path: ${Math.round(restRates["gateway ES256"]!)} req/s`,
    `${x(restRates["gateway third-party ES256"]! / restRates["gateway ES256"]!)} throughput`,
    "(for information)",
    "",
  ]);
  for (const [label, micros] of Object.entries(ruleMicros)) {
    rows.push([
      `the /rest/v1 rule alone, ${label}, repeated token`,
      `${micros.toFixed(2)} µs`,
      "",
      "",
      "(for information)",
      "",
    ]);
  }

  rows.push([
    "password sign-in through the gateway (bcrypt cost 10), median",
    `${signInMs.toFixed(1)} ms`,
    "",
    "",
    "(for information)",
    "",
  ]);
  rows.push([
    "refresh-token grant through the gateway, median",
    `${refreshMs.toFixed(1)} ms`,
    "",
    "",
    "(for information)",
    "",
  ]);
  rows.push([
    "password sign-ins per second (8 concurrent)",
    `${signInsPerSecond.toFixed(1)} /s`,
    "",
    "",
    "(for information)",
    "",
  ]);

  rows.push([
    "failed sign-in, known address (seeded, bcrypt cost 6) vs unknown address, median",
    `${knownFailMs.toFixed(1)} ms vs ${unknownFailMs.toFixed(1)} ms`,
    "an address's existence must not show in the time",
    `${x(knownFailMs / unknownFailMs)} the time`,
    "0.8-1.25x",
    verdict(knownFailMs / unknownFailMs >= 0.8 && knownFailMs / unknownFailMs <= 1.25),
  ]);
  rows.push([
    "full `me` over HTTP, function in its own process (16 concurrent)",
    `${Math.round(meIsolated.rps)} req/s`,
    `imported into the stack's process: ${Math.round(meHttp.rps)} req/s`,
    `${x(meIsolated.rps / meHttp.rps)} throughput`,
    "(for information)",
    "",
  ]);
  rows.push([
    "first request to a function: new process, load, answer",
    `${processColdMs.toFixed(0)} ms`,
    `a new Worker importing the same function: ${median(workerColdMs).toFixed(0)} ms`,
    `${x(processColdMs / median(workerColdMs))} the time`,
    "(for information)",
    "",
  ]);
}
if (want("matrix")) {
  const databases: [string, string | undefined][] = [["embedded PostgreSQL", undefined]];
  const pgUrl = Deno.env.get("BENCH_DATABASE_URL") ?? Deno.env.get("TEST_DATABASE_URL");
  if (pgUrl) databases.push(["DATABASE_URL PostgreSQL", pgUrl]);
  else console.error("bench: no BENCH_DATABASE_URL: the matrix runs on the embedded server only");
  for (const [label, databaseUrl] of databases) rows.push(...await fullPath(label, databaseUrl));
}

if (want("boot")) {
  // ---------------------------------------------------------------- 10. stack boot
  console.error("bench: stack boot...");
  const times = async (runs: number, once: () => Promise<number>) => {
    const out: number[] = [];
    for (let i = 0; i < runs; i++) out.push(await once());
    return out;
  };
  // A new cluster each time (what tests and `start --reset` get): template copy, bootstrap,
  // migrations, seed, PostgREST, Auth, functions runtime.
  const fresh = await times(3, async () => {
    const stack = await startStack({ port: 0, dataDir: null, keysPath: null, log: () => {} });
    await stack.stop();
    return stack.bootMs;
  });
  // An existing cluster (every `deno task start` after the first): the CLI, from the process
  // start to the printed banner.
  const state = await Deno.makeTempDir({ prefix: "edge-bench-state-" });
  /** `deno task start` on that state: the time to its banner, and a stop() for it. */
  const startCli = async () => {
    const t = performance.now();
    const child = new Deno.Command(deno, {
      args: [
        "run",
        "-A",
        "cli/main.ts",
        "start",
        "--port",
        String(await freePort()),
        "--db-port",
        String(await freePort()),
      ],
      clearEnv: true,
      env: { ...startEnv, EDGE_STACK_DIR: state, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let printed = "";
    while (!printed.includes("Mint a user token")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`start did not finish:\n${printed}`);
      printed += value;
    }
    const ms = performance.now() - t;
    return {
      ms,
      async stop() {
        reader.releaseLock();
        child.stdout.cancel().catch(() => {});
        child.kill("SIGINT");
        await child.status;
      },
    };
  };
  const cliStart = async () => {
    const started = await startCli();
    await started.stop();
    return started.ms;
  };
  const first = await cliStart();
  const warm = await times(3, cliStart);
  // The dev loop's verbs, warm: `db reset` against the running stack, `gen-types` from scratch
  // (a throwaway cluster) and with the stack running (a throwaway database on its server).
  const verbMs = async (args: string[]) => {
    const t = performance.now();
    const out = await run(["run", "-A", "cli/main.ts", ...args], {
      EDGE_STACK_DIR: state,
      NO_COLOR: "1",
    });
    if (!out.success) {
      throw new Error(`${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
    }
    return performance.now() - t;
  };
  await verbMs(["gen-types"]); // warm the module cache and the cluster template
  const genTypesCold = await times(3, () => verbMs(["gen-types"]));
  const running = await startCli();
  const dbReset = await times(3, () => verbMs(["db", "reset"]));
  const genTypesWarm = await times(3, () => verbMs(["gen-types"]));
  await running.stop();
  await Deno.remove(state, { recursive: true }).catch(() => {});
  rows.push([
    "`deno task db reset` with the stack running (migrations + seed), median of 3",
    `${median(dbReset).toFixed(0)} ms`,
    "",
    "",
    "<= 2 s",
    verdict(median(dbReset) <= 2000),
  ]);
  rows.push([
    "`deno task gen-types`: stack running / not running (a throwaway cluster), median of 3",
    `${median(genTypesWarm).toFixed(0)} ms / ${median(genTypesCold).toFixed(0)} ms`,
    "",
    "",
    "<= 2 s (running)",
    verdict(median(genTypesWarm) <= 2000),
  ]);
  rows.push([
    "stack boot on a new cluster (startStack, in process), median of 3",
    `${median(fresh).toFixed(0)} ms`,
    "",
    "",
    "(for information)",
    "",
  ]);
  rows.push([
    "`deno task start`, process start to banner: first start of a project / warm (median of 3)",
    `${first.toFixed(0)} ms / ${median(warm).toFixed(0)} ms`,
    "",
    "",
    "warm <= 2 s",
    verdict(median(warm) <= 2000),
  ]);
}

if (want("suite") && !quick) {
  // ---------------------------------------------------------------- 12. the test suite
  // Last but one, alone on the machine: `deno task test` as a developer runs it (warm caches:
  // its type check is the cached one after the first run).
  console.error("bench: the whole deno task test...");
  const t = performance.now();
  const busyBefore = machineBusyMs();
  const out = await new Deno.Command(deno, {
    args: ["run", "-A", "scripts/test.ts"],
    clearEnv: true,
    env: { ...startEnv, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const seconds = (performance.now() - t) / 1000;
  const busyAfter = machineBusyMs();
  const text = new TextDecoder().decode(out.stdout);
  // The runner's own last line (the suite's and the after-suite check's tests together).
  const summary = /^(ok|FAILED) \| (\d+) passed \| (\d+) failed.*\(suite and after-suite/m.exec(
    text,
  );
  if (!out.success || !summary) {
    const err = new TextDecoder().decode(out.stderr);
    throw new Error(
      `deno task test failed in the bench:\n${text.slice(-1500)}\n${err.slice(-1500)}`,
    );
  }
  rows.push([
    `\`deno task test\`: ${summary[2]} tests, every file, wall time of one run`,
    `${seconds.toFixed(0)} s`,
    // The machine's CPU over the run says how much work it was, whatever the machine's speed.
    busyBefore === null || busyAfter === null
      ? ""
      : `the machine's CPU, busy: ${((busyAfter - busyBefore) / 1000).toFixed(0)} s of ${
        (seconds * navigator.hardwareConcurrency).toFixed(0)
      } (${navigator.hardwareConcurrency} cores)`,
    "",
    "<= 90 s",
    verdict(seconds <= 90),
  ]);
}

if (want("misbehave")) {
  // ---------------------------------------------------------------- 11. a misbehaving neighbour
  console.error("bench: me next to a misbehaving function...");
  const dir = await Deno.makeTempDir({ prefix: "edge-bench-misbehave-" });
  await new Deno.Command("cp", { args: ["-r", "functions", "supabase", "import_map.json", dir] })
    .output();
  const BAD: Record<string, string> = {
    "spin-after": `export default { fetch: () => {
  setTimeout(() => { for (;;) { /* burn */ } }, 10);
  return new Response("answered");
} };`,
    buffers: `export default { fetch: async () => {
  const keep: Uint8Array[] = [];
  for (;;) { keep.push(new Uint8Array(16 << 20).fill(1)); await new Promise((r) => setTimeout(r, 5)); }
} };`,
    recurse: `export default { fetch: async () => {
  const r = await fetch(Deno.env.get("SUPABASE_URL") + "/functions/v1/recurse");
  return new Response(r.body, { status: r.status });
} };`,
  };
  for (const [name, code] of Object.entries(BAD)) {
    await Deno.mkdir(`${dir}/functions/${name}`, { recursive: true });
    await Deno.writeTextFile(`${dir}/functions/${name}/index.ts`, code);
    await Deno.writeTextFile(
      `${dir}/supabase/config.toml`,
      `\n[functions.${name}]\nverify_jwt = false\nentrypoint = "../functions/${name}/index.ts"\n`,
      { append: true },
    );
  }
  const stack = await startStack({
    port: 0,
    dataDir: null,
    keysPath: null,
    configToml: `${dir}/supabase/config.toml`,
    authSettings: BENCH_AUTH,
    log: () => {},
  });
  try {
    const token = await stackToken(stack);
    const me = async () => {
      const t = performance.now();
      const r = await fetch(`${stack.status.functions_url}/me`, {
        headers: { authorization: `Bearer ${token}` },
      });
      await r.body?.cancel();
      if (r.status !== 200) {
        throw new Error(`me answered ${r.status} next to a misbehaving function`);
      }
      return performance.now() - t;
    };
    const latency = async () => {
      const times: number[] = [];
      const until = performance.now() + (quick ? 2000 : 5000);
      while (performance.now() < until) times.push(await me());
      return median(times);
    };
    for (let i = 0; i < 20; i++) await me(); // warm
    const idleBefore = await latency();
    const measured: [string, number, Record<number, number>][] = [];
    for (const name of Object.keys(BAD)) {
      const statuses: Record<number, number> = {};
      let driving = true;
      // Set it off again and again: each time the runtime stops it, it comes back.
      const driver = (async () => {
        while (driving) {
          const r = await fetch(`${stack.status.functions_url}/${name}`).catch(() => null);
          if (r) {
            statuses[r.status] = (statuses[r.status] ?? 0) + 1;
            await r.body?.cancel();
          }
          await new Promise((r) => setTimeout(r, 250));
        }
      })();
      await new Promise((r) => setTimeout(r, 500));
      const busy = await latency();
      driving = false;
      await driver;
      console.error(`bench: ${name} answered ${JSON.stringify(statuses)}`);
      measured.push([name, busy, statuses]);
    }
    // Idle again at the end: the lower of the two is the baseline (the stricter ratio).
    await new Promise((r) => setTimeout(r, 1000));
    const idle = Math.min(idleBefore, await latency());
    for (const [name, busy, statuses] of measured) {
      rows.push([
        `\`me\` median latency while a function ${
          {
            "spin-after": "spins after answering",
            buffers: "allocates ArrayBuffers",
            recurse: "calls itself",
          }[name]
        }`,
        `${busy.toFixed(1)} ms`,
        `idle: ${idle.toFixed(1)} ms; it answered ${
          Object.entries(statuses).map(([k, v]) => `${v}x ${k}`).join(", ")
        }`,
        `${x(busy / idle)} the time`,
        "<= 2x",
        verdict(busy / idle <= 2),
      ]);
    }
  } finally {
    await stack.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

await jwksServer.shutdown();

/** Section 9's profile as a table: CPU µs per request by part, and what bounds the rate. */
function profileMarkdown(): string {
  if (profiles.length === 0 || profiles[0]![2].cpuMs.get("load generator") === 0) return "";
  const parts = [
    "load generator",
    "stack process",
    "function process",
    "PostgREST",
    "PostgreSQL",
  ];
  const head = [
    "path",
    "req/s",
    ...parts.map((p) => `${p} (µs)`),
    "server total (µs)",
    "CPU busy",
  ];
  const lines = profiles.map(([database, path, p]) => {
    const perRequest = (ms: number) => ms * 1000 / p.requests;
    const cell = (part: string) => {
      const ms = p.cpuMs.get(part);
      if (ms === undefined) return "";
      return perRequest(ms).toFixed(0);
    };
    const server = [...p.cpuMs].filter(([part]) => part !== "load generator")
      .reduce((a, [, ms]) => a + perRequest(ms), 0);
    const all = [...p.cpuMs.values()].reduce((a, b) => a + b, 0);
    return [
      `${database}: ${path}`,
      String(Math.round(p.requests / p.seconds)),
      ...parts.map(cell),
      server.toFixed(0),
      `${Math.round(all / (navigator.hardwareConcurrency * p.seconds * 1000) * 100)}%`,
    ];
  });
  return [head, head.map(() => "---"), ...lines].map((r) => `| ${r.join(" | ")} |`).join("\n");
}

const header: Row = ["measurement", "ours", "compared with", "ratio", "target", "result"];
const table = [header, ["---", "---", "---", "---", "---", "---"] as Row, ...rows].map((r) =>
  `| ${r.join(" | ")} |`
).join("\n");

const cpu =
  (await Deno.readTextFile("/proc/cpuinfo").catch(() => "")).match(/model name\s*:\s*(.+)/)?.[1] ??
    "unknown CPU";
const cores = navigator.hardwareConcurrency;
const memGiB = Math.round(Deno.systemMemoryInfo().total / 2 ** 30);
/** The commit measured, so a table can be traced to its code ("+ local changes" if dirty). */
async function measuredCommit(): Promise<string> {
  const git = async (...args: string[]) => {
    const out = await new Deno.Command("git", { args, stdout: "piped", stderr: "null" }).output()
      .catch(() => null);
    return out?.success ? new TextDecoder().decode(out.stdout).trim() : null;
  };
  const head = await git("rev-parse", "--short", "HEAD");
  if (head === null) return "commit unknown";
  const dirty = await git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!docs");
  return `commit ${head}${dirty ? " + local changes" : ""}`;
}
const machine =
  `${cpu}, ${cores} cores, ${memGiB} GiB; ${Deno.build.os} ${Deno.build.arch}; Deno ${Deno.version.deno}; ${
    new Date().toISOString().slice(0, 10)
  }; ${await measuredCommit()}`;

const profileTable = profileMarkdown();
console.log(`\nMachine: ${machine}\n\n${table}\n${profileTable ? `\n${profileTable}\n` : ""}`);
if (flags.write) {
  await Deno.mkdir("docs", { recursive: true });
  await Deno.writeTextFile(
    "docs/BENCHMARKS.md",
    `# Benchmarks\n\nProduced by \`deno task bench\` (bench/run.ts) in one run; every ratio compares measurements taken side by side on this machine:\n\n${machine}\n\n${table}\n\n` +
      (profileTable
        ? `## Where a request's CPU goes\n\nThe full-path loads of section 9, each part's CPU time (user + system, from /proc) during them divided by the requests answered: the load generator (its own process), the stack process (gateway, local Auth; the bare proxy row runs there too), the function's process, PostgREST, and PostgreSQL (the embedded server and its backends; on a DATABASE_URL server every postgres process of the machine). "CPU busy" is all of it over ${navigator.hardwareConcurrency} cores x the load's seconds.\n\n${profileTable}\n\n`
        : "") +
      `How each row is measured:\n\n` +
      `- Verification rows: \`Deno.bench\` (bench/verify_bench.ts), average time per call on the same keys and tokens. "wrapper path" is \`TokenVerifier.lookup()\`, which \`withAuth\` calls first; "async verify()" adds one promise.\n` +
      `- In-process requests: \`withAuth({allow: "user"})\` and \`withSupabase({auth: "user"})\` with the same trivial handler (answer the caller's id), inline JWKS, one ES256 token (repeated) or 4,000 distinct tokens cycled (first-seen; more than our token cache holds).\n` +
      `- HTTP: each handler served by \`Deno.serve\` in its own process (bench/serve.ts); ${CONCURRENCY} concurrent keep-alive clients in a third process (bench/load.ts) for ${LOAD_SECONDS} s; both fetch keys from the same loopback JWKS server, which counts fetches.\n` +
      `- Cold start: spawn \`deno run bench/serve.ts\` (module cache warm) and poll until the first 200; median of the runs.\n` +
      `- Full \`me\`: the real function through the local stack (embedded PostgreSQL, PostgREST 12); this row measures the stack, not the auth core.\n` +
      `- /rest/v1: \`GET /posts?select=id&limit=1\` with 16 keep-alive clients for ${LOAD_SECONDS} s each, through the gateway (the token rule, then the proxy) and straight to PostgREST's port, same stack and tokens. The rule alone: \`createRestAuthorizer\` called in process 100,000 times with one token (verified once, then cached).\n` +
      `- Function isolation: the same \`me\` request over HTTP, 16 clients, with the function imported into the stack's process (section 5) and in its own process (the default), plus the first request's latency (spawn, module load, answer) next to a Worker importing the same module.\n` +
      `- Full path (section 9): \`GET /posts?select=id&limit=1\` straight to PostgREST and through \`/rest/v1\`, and \`/functions/v1/me\` (verify, user-scoped client, one profile row through \`/rest/v1\`), 16 keep-alive clients, one stack per database, functions in their own processes. Every (path, token) pair runs ${MATRIX_ROUND_SECONDS} s per round for ${MATRIX_ROUNDS} rounds, interleaved, each round starting at another pair; a rate is requests over seconds across the rounds and a target ratio is the median of the ratios measured within each round (this machine's speed drifts over minutes). Any non-200 under load stops the bench.\n` +
      `- Local Auth: \`POST /auth/v1/token\` through the gateway on the embedded PostgreSQL, one user, sequential requests (median), then 8 concurrent clients for ${LOAD_SECONDS} s for the sign-in rate; bcrypt cost 10 (Supabase Auth's) in two worker threads.\n`,
  );
  await run(["fmt", "docs/BENCHMARKS.md"]); // keep `deno fmt --check` green
  console.error("bench: wrote docs/BENCHMARKS.md");
}
