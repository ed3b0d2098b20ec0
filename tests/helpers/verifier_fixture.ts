/** A TokenVerifier wired to real issuers on loopback: "Supabase" plus two third parties. */
import assert from "node:assert/strict";
import { HttpError } from "../../functions/_shared/parts.ts";
import type { IssuerSpec } from "../../functions/_shared/parts.ts";
import {
  type Strategy,
  TokenVerifier,
  type VerifierOptions,
} from "../../functions/_shared/parts.ts";
import { type IssuerServer, ManualClock, startIssuer } from "./issuer_server.ts";
import { HS_SECRET, makeKey, type TestKey } from "./keys.ts";

export interface Fixture {
  clock: ManualClock;
  supabase: IssuerServer;
  clerk: IssuerServer;
  auth0: IssuerServer;
  keys: { es: TestKey; rs: TestKey; ed: TestKey; clerk: TestKey; auth0: TestKey };
  clerkSpec: IssuerSpec;
  auth0Spec: IssuerSpec;
  verifier(strategy: Strategy, extra?: Partial<VerifierOptions>): TokenVerifier;
  close(): Promise<void>;
}

// Key generation (RSA especially) is the slow part: do it once per test module.
let sharedKeys: Promise<TestKey[]> | undefined;

export async function fixture(): Promise<Fixture> {
  sharedKeys ??= Promise.all([
    makeKey("ES256", "sb-es"),
    makeKey("RS256", "sb-rs"),
    makeKey("EdDSA", "sb-ed"),
    makeKey("RS256", "clerk-1"),
    makeKey("RS256", "auth0-1"),
  ]);
  const [es, rs, ed, clerkKey, auth0Key] = (await sharedKeys) as [
    TestKey,
    TestKey,
    TestKey,
    TestKey,
    TestKey,
  ];
  const supabase = startIssuer({
    keys: [es.publicJwk, rs.publicJwk, ed.publicJwk],
    issuerPath: "/auth/v1",
  });
  const clerk = startIssuer({ keys: [clerkKey.publicJwk] });
  const auth0 = startIssuer({ keys: [auth0Key.publicJwk], issuerPath: "/tenant/" });
  const clock = new ManualClock();
  const clerkSpec: IssuerSpec = {
    issuer: clerk.issuer,
    provider: "clerk",
    mode: "native",
    audience: null,
    algorithms: ["RS256"],
    userIdClaim: "sub",
    authorizedParties: ["https://app.example.com"],
    jwksUrl: new URL(clerk.jwksUrl),
    roles: ["authenticated"],
    idPrefix: "clerk",
    machine: null,
  };
  const auth0Spec: IssuerSpec = {
    issuer: auth0.issuer,
    provider: "auth0",
    mode: "native",
    audience: ["https://api.example.com"],
    algorithms: ["RS256"],
    userIdClaim: "sub",
    authorizedParties: null,
    jwksUrl: null, // found through OIDC discovery
    roles: ["authenticated"],
    idPrefix: "auth0",
    machine: { claim: "gty", value: "client-credentials" },
  };
  return {
    clock,
    supabase,
    clerk,
    auth0,
    keys: { es, rs, ed, clerk: clerkKey, auth0: auth0Key },
    clerkSpec,
    auth0Spec,
    verifier(strategy, extra = {}) {
      return new TokenVerifier({
        strategy,
        supabase: {
          url: supabase.url,
          issuer: supabase.issuer,
          apiKey: "sb_publishable_test_key_0123456789",
          jwtSecret: new TextEncoder().encode(HS_SECRET),
        },
        issuers: [clerkSpec, auth0Spec],
        now: clock.now,
        warn: () => {},
        jwks: { cooldownMs: 30_000, maxAgeMs: 600_000, timeoutMs: 1_000 },
        ...extra,
      });
    },
    async close() {
      await Promise.all([supabase.close(), clerk.close(), auth0.close()]);
    },
  };
}

export async function rejects(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (error) {
    assert.ok(error instanceof HttpError, `expected HttpError, got ${error}`);
    return error.code;
  }
  return "accepted";
}

/** A test with a fresh fixture, closed afterwards whatever happens. */
export function withFixture(name: string, fn: (f: Fixture) => Promise<void>): void {
  Deno.test(name, async () => {
    const f = await fixture();
    try {
      await fn(f);
    } finally {
      await f.close();
    }
  });
}
