/**
 * Fuzzing every function over HTTP: 20,000 random Authorization/apikey values (random
 * bytes, JWT-shaped junk, mutated real tokens and keys) and 2,000 random JSON bodies sent
 * with valid credentials. No 5xx, no hang (10 s per request), every error in the contract.
 * The seed is printed; FUZZ_SEED=<n> replays a run.
 */
import assert from "node:assert/strict";
import { b64url } from "./helpers/keys.ts";
import { E2E, stackContext, userToken } from "./helpers/stack.ts";

const FUNCTIONS = ["me", "posts", "tasks", "token-exchange", "admin-posts"];
const HEADER_CASES = 20_000;
const BODY_CASES = 2_000;
const CONCURRENCY = 50;
const seed = Number(Deno.env.get("FUZZ_SEED") ?? Math.floor(Math.random() * 2 ** 31));

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
    `fuzz: ${HEADER_CASES} random credentials and ${BODY_CASES} random bodies against every function`,
  ...E2E,
  async fn() {
    console.log(`fuzz: seed ${seed} (replay with FUZZ_SEED=${seed})`);
    const { status: s } = await stackContext();
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

    const failures: string[] = [];
    let done = 0;
    const statuses = new Map<number, number>();

    async function send(
      fn: string,
      method: string,
      headers: Record<string, string>,
      body?: string,
    ) {
      const path = `${fn}${
        pick(["", "", "/1", "/abc", "/1/2", "?limit=5", "?cursor=zz", "/import"])
      }`;
      let r: Response;
      try {
        r = await fetch(`${s.functions_url}/${path}`, {
          method,
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
          ...(body !== undefined && method !== "GET" ? { body } : {}),
          signal: AbortSignal.timeout(10_000),
        });
      } catch (error) {
        if (error instanceof TypeError && /header/i.test(String(error))) return; // the client refused the value
        failures.push(`${method} ${path}: ${error}`);
        return;
      }
      const text = await r.text();
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      if (r.status >= 500) failures.push(`${method} ${path} -> ${r.status}: ${text.slice(0, 200)}`);
      if (r.status >= 400) {
        try {
          const b = JSON.parse(text);
          if (typeof b.code !== "string" || r.headers.get("sb-error-code") !== b.code) {
            failures.push(`${path}: not the error contract`);
          }
        } catch {
          failures.push(`${method} ${path} -> ${r.status}: body is not JSON`);
        }
      }
      if (text.includes(s.secret_key) || text.includes(s.jwt_secret) || text.includes(u.token)) {
        failures.push(`${path}: echoed a secret`);
      }
    }

    const jobs: (() => Promise<void>)[] = [];
    for (let i = 0; i < HEADER_CASES; i++) {
      const fn = FUNCTIONS[i % FUNCTIONS.length]!;
      const headers = credential();
      // Mostly methods the functions serve, so the credential reaches the verifier.
      const method = random() < 0.9
        ? (fn === "token-exchange" ? "POST" : pick(["GET", "POST", "PATCH"]))
        : pick(["DELETE", "PUT", "OPTIONS"]);
      jobs.push(() =>
        send(fn, method, headers, method === "GET" ? undefined : JSON.stringify(junkJson()))
      );
    }
    for (let i = 0; i < BODY_CASES; i++) {
      const fn = FUNCTIONS[i % FUNCTIONS.length]!;
      const headers: Record<string, string> = fn === "admin-posts"
        ? { apikey: s.secret_key }
        : { authorization: `Bearer ${u.token}` };
      const body = random() < 0.8 ? JSON.stringify(junkJson()) : junkString(300);
      jobs.push(() => send(fn, pick(["POST", "PATCH"]), headers, body));
    }

    const started = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < jobs.length) {
        const job = jobs[next++]!;
        await job();
        done++;
      }
    }));
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `fuzz: ${done} requests in ${seconds.toFixed(1)} s; statuses ${
        JSON.stringify(Object.fromEntries([...statuses].sort()))
      }`,
    );
    assert.deepEqual(failures.slice(0, 10), [], `seed ${seed}`);
    assert.equal(done, HEADER_CASES + BODY_CASES);
  },
});
