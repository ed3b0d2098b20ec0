/**
 * Fuzzing the functions' front door with random Authorization/apikey values (random bytes,
 * JWT-shaped junk, mutated real tokens and keys) and random JSON bodies. No 5xx, no hang
 * (10 s per request), every error in the contract, no secret echoed.
 *
 * Two depths, one generator: 20,000 credentials go straight into the core (`withAuth` with
 * each kind of caller the five functions accept, configured as the stack configures them:
 * its keys, its JWKS, the test issuers), where a credential costs microseconds; 3,000 more
 * credentials and 1,000 bodies go over HTTP through the gateway, the runtime and the real
 * functions, where each costs a full request. The seed is printed; FUZZ_SEED=<n> replays a
 * run; FUZZ_HTTP_SCALE=<n> multiplies the HTTP part (CI runs it at 5).
 */
import assert from "node:assert/strict";
import { type FunctionOptions, json, loadConfig, withAuth } from "../functions/_shared/mod.ts";
import { b64url } from "./helpers/keys.ts";
import { E2E, envScale, providerEnv, stackContext, userToken } from "./helpers/stack.ts";

const FUNCTIONS = ["me", "posts", "tasks", "token-exchange", "admin-posts"];
const CORE_CASES = 20_000;
const HTTP_SCALE = envScale("FUZZ_HTTP_SCALE");
const HEADER_CASES = 3_000 * HTTP_SCALE;
const BODY_CASES = 1_000 * HTTP_SCALE;
const CONCURRENCY = 50;
const seed = Number(Deno.env.get("FUZZ_SEED") ?? Math.floor(Math.random() * 2 ** 31));

/** The kinds of caller the five functions accept, as their withAuth options say. */
const CORE_OPTIONS: Omit<FunctionOptions, "config">[] = [
  { allow: "user", methods: ["GET", "PATCH"] }, // me
  { allow: "user" }, // posts, tasks
  { allow: ["user", "machine"], issuerModes: ["exchange"], roles: null, methods: ["POST"] }, // token-exchange
  {
    allow: ["secret", "machine"],
    scopes: ["posts:admin"],
    issuerModes: ["supabase", "native", "exchange"],
    methods: ["GET", "POST"],
    admin: true,
  }, // admin-posts
  { allow: ["publishable", "none"] },
];

/** mulberry32: small, seedable, good enough to pick cases. */
function rng(state: number) {
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = rng(seed);
const int = (n: number) => Math.floor(random() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;

function junkString(max: number, alphabet?: string): string {
  const n = int(max);
  let out = "";
  for (let i = 0; i < n; i++) {
    out += alphabet ? alphabet[int(alphabet.length)] : String.fromCharCode(
      pick([() => 0x20 + int(95), () => 0x80 + int(128), () => 0x09])(),
    );
  }
  return out;
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const JSON_VALUES = [
  () => null,
  () => true,
  () => int(1e6),
  () => -1,
  () => 1e308,
  () => "x",
  () => junkString(20, B64),
  () => [],
  () => ({}),
];

function junkJson(depth = 0): unknown {
  if (depth > 2 || random() < 0.4) return pick(JSON_VALUES)();
  if (random() < 0.3) return Array.from({ length: int(4) }, () => junkJson(depth + 1));
  const keys = [
    "alg",
    "kid",
    "typ",
    "crit",
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "role",
    "azp",
    "title",
    "body",
    "name",
    "done",
    "posts",
    "user_id",
    "display_name",
    junkString(8, B64),
  ];
  return Object.fromEntries(
    Array.from({ length: int(6) }, () => [pick(keys), junkJson(depth + 1)]),
  );
}

function mutate(value: string): string {
  const i = int(value.length || 1);
  switch (int(6)) {
    case 0:
      return value.slice(0, i);
    case 1:
      return value.slice(0, i) + pick([...B64, ".", "=", "+", "/", " "]) + value.slice(i + 1);
    case 2:
      return value + value.slice(i);
    case 3:
      return value.split(".").reverse().join(".");
    case 4:
      return value.replace(/\./g, pick(["..", "", ". "]));
    default:
      return value.toUpperCase();
  }
}

Deno.test({
  name:
    `fuzz: ${CORE_CASES} random credentials into the core, ${HEADER_CASES} credentials and ${BODY_CASES} bodies over HTTP to every function`,
  ...E2E,
  async fn() {
    console.log(`fuzz: seed ${seed} (replay with FUZZ_SEED=${seed})`);
    const ctx = await stackContext();
    const s = ctx.status;
    const u = await userToken(s);
    const real = [u.token, s.publishable_key, s.secret_key, s.anon_key, s.service_role_key];

    const credential = (): Record<string, string> => {
      const headers: Record<string, string> = {};
      const kind = int(6);
      const token = kind === 0
        ? junkString(200)
        : kind === 1
        ? `${b64url(JSON.stringify(junkJson()))}.${b64url(JSON.stringify(junkJson()))}.${
          junkString(90, B64)
        }`
        : kind === 2
        ? mutate(pick(real))
        : kind === 3
        ? junkString(60, B64 + ".")
        : kind === 4
        ? `sb_${pick(["secret", "publishable"])}_${junkString(40, B64)}`
        : mutate(mutate(u.token));
      const scheme = pick(["Bearer ", "bearer ", "Bearer  ", "Basic ", "", "Bearer\t"]);
      if (random() < 0.9) headers.authorization = scheme + token;
      if (random() < 0.3) headers.apikey = random() < 0.5 ? mutate(pick(real)) : junkString(50);
      return headers;
    };
    const suffix = () => pick(["", "", "/1", "/abc", "/1/2", "?limit=5", "?cursor=zz", "/import"]);

    const failures: string[] = [];
    const statuses = new Map<number, number>();
    /** The checks every answer gets, in process or over HTTP. */
    function check(where: string, status: number, errorCode: string | null, text: string) {
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      if (status >= 500) failures.push(`${where} -> ${status}: ${text.slice(0, 200)}`);
      if (status >= 400) {
        try {
          const b = JSON.parse(text);
          if (typeof b.code !== "string" || errorCode !== b.code) {
            failures.push(`${where}: not the error contract`);
          }
        } catch {
          failures.push(`${where} -> ${status}: body is not JSON`);
        }
      }
      if (text.includes(s.secret_key) || text.includes(s.jwt_secret) || text.includes(u.token)) {
        failures.push(`${where}: echoed a secret`);
      }
    }

    /** Run jobs CONCURRENCY at a time; returns how many ran. */
    async function pool(jobs: (() => Promise<void>)[]): Promise<number> {
      let next = 0, done = 0;
      await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
        while (next < jobs.length) {
          await jobs[next++]!();
          done++;
        }
      }));
      return done;
    }
    const method = (fn: string) =>
      // Mostly methods the functions serve, so the credential reaches the verifier.
      random() < 0.9
        ? (fn === "token-exchange" ? "POST" : pick(["GET", "POST", "PATCH"]))
        : pick(["DELETE", "PUT", "OPTIONS"]);

    // The core, in process, configured with the stack's own function environment.
    const env: Record<string, string> = {
      SUPABASE_URL: s.api_url,
      SUPABASE_ANON_KEY: s.anon_key,
      SUPABASE_SERVICE_ROLE_KEY: s.service_role_key,
      SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ default: s.publishable_key }),
      SUPABASE_SECRET_KEYS: JSON.stringify({ default: s.secret_key }),
      SB_JWT_SECRET: s.jwt_secret,
      ...providerEnv(ctx),
    };
    const config = loadConfig((name) => env[name]);
    const handlers = CORE_OPTIONS.map((options) =>
      withAuth({ ...options, config }, (_req, c) => json({ kind: c.caller.kind }))
    );
    let started = performance.now();
    const coreJobs = Array.from({ length: CORE_CASES }, (_, i) => {
      const handler = handlers[i % handlers.length]!;
      const headers = credential();
      const m = method(FUNCTIONS[i % FUNCTIONS.length]!);
      const body = m === "GET" ? undefined : JSON.stringify(junkJson());
      const url = `http://127.0.0.1/functions/v1/fn${suffix()}`;
      return async () => {
        let request: Request;
        try {
          request = new Request(url, { method: m, headers, ...(body ? { body } : {}) });
        } catch (error) {
          if (error instanceof TypeError && /header/i.test(String(error))) return; // not sendable
          throw error;
        }
        const r = await handler(request);
        check(`core ${m} ${url}`, r.status, r.headers.get("sb-error-code"), await r.text());
      };
    });
    const coreDone = await pool(coreJobs);
    console.log(
      `fuzz: ${coreDone} credentials into the core in ${
        ((performance.now() - started) / 1000).toFixed(1)
      } s`,
    );

    // Over HTTP: the gateway, the runtime and the five functions as deployed.
    async function send(fn: string, m: string, headers: Record<string, string>, body?: string) {
      const path = `${fn}${suffix()}`;
      let r: Response;
      try {
        r = await fetch(`${s.functions_url}/${path}`, {
          method: m,
          headers: {
            ...headers,
            ...(body !== undefined
              ? {
                "content-type": pick([
                  "application/json",
                  "text/plain",
                  "application/json; charset=utf-8",
                ]),
              }
              : {}),
          },
          ...(body !== undefined && m !== "GET" ? { body } : {}),
          signal: AbortSignal.timeout(10_000),
        });
      } catch (error) {
        if (error instanceof TypeError && /header/i.test(String(error))) return; // the client refused the value
        failures.push(`${m} ${path}: ${error}`);
        return;
      }
      check(`${m} ${path}`, r.status, r.headers.get("sb-error-code"), await r.text());
    }
    const jobs: (() => Promise<void>)[] = [];
    for (let i = 0; i < HEADER_CASES; i++) {
      const fn = FUNCTIONS[i % FUNCTIONS.length]!;
      const headers = credential();
      const m = method(fn);
      jobs.push(() => send(fn, m, headers, m === "GET" ? undefined : JSON.stringify(junkJson())));
    }
    for (let i = 0; i < BODY_CASES; i++) {
      const fn = FUNCTIONS[i % FUNCTIONS.length]!;
      const headers: Record<string, string> = fn === "admin-posts"
        ? { apikey: s.secret_key }
        : { authorization: `Bearer ${u.token}` };
      const body = random() < 0.8 ? JSON.stringify(junkJson()) : junkString(300);
      jobs.push(() => send(fn, pick(["POST", "PATCH"]), headers, body));
    }
    started = performance.now();
    const done = await pool(jobs);
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `fuzz: ${done} requests in ${seconds.toFixed(1)} s; statuses ${
        JSON.stringify(Object.fromEntries([...statuses].sort()))
      }`,
    );
    assert.deepEqual(failures.slice(0, 10), [], `seed ${seed}`);
    assert.equal(coreDone, CORE_CASES);
    assert.equal(done, HEADER_CASES + BODY_CASES);
  },
});
