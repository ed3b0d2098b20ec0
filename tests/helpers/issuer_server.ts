/**
 * A controllable identity issuer on 127.0.0.1, started by a test:
 *
 * - `GET /.well-known/jwks.json` (and `/auth/v1/.well-known/jwks.json`): the JWKS, with
 *   fault modes (down, slow, huge, malformed, redirect) and a fetch counter;
 * - `GET /.well-known/openid-configuration`: OIDC discovery pointing at the JWKS;
 * - `GET /auth/v1/user`: a FAKE of Supabase Auth's endpoint (no Supabase Auth server can
 *   run here). It answers from `users`/`sessions` maps with Auth's status codes and error
 *   shape `{code, error_code, msg}`, after checking the token's signature with real keys.
 */
import { createLocalJWKSet, type JWK, jwtVerify } from "jose";
import { HS_SECRET } from "./keys.ts";

export type JwksFault = "none" | "down" | "slow" | "huge" | "malformed" | "redirect" | "not-a-set";

export interface FakeUser {
  id: string;
  email?: string;
  banned?: boolean;
}

export interface IssuerServer {
  url: string;
  issuer: string;
  jwksUrl: string;
  keys: JWK[];
  fault: JwksFault;
  slowMs: number;
  jwksFetches: number;
  discoveryFetches: number;
  userCalls: number;
  users: Map<string, FakeUser>;
  signedOutSessions: Set<string>;
  authDown: boolean;
  close(): Promise<void>;
}

export function startIssuer(options: { keys?: JWK[]; issuerPath?: string } = {}): IssuerServer {
  const controller = new AbortController();
  const state = {
    keys: options.keys ?? [],
    fault: "none" as JwksFault,
    slowMs: 0,
    jwksFetches: 0,
    discoveryFetches: 0,
    userCalls: 0,
    users: new Map<string, FakeUser>(),
    signedOutSessions: new Set<string>(),
    authDown: false,
  };
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: controller.signal, onListen: () => {} },
    async (request) => {
      const path = new URL(request.url).pathname;
      if (path.endsWith("/.well-known/jwks.json")) return await jwks(request);
      if (path.endsWith("/.well-known/openid-configuration")) {
        state.discoveryFetches++;
        return Response.json({ issuer: api.issuer, jwks_uri: api.jwksUrl });
      }
      if (path === "/auth/v1/user") return await user(request);
      return new Response("not found", { status: 404 });
    },
  );
  const base = `http://127.0.0.1:${server.addr.port}`;

  async function jwks(_request: Request): Promise<Response> {
    state.jwksFetches++;
    switch (state.fault) {
      case "down":
        return new Response("unavailable", { status: 503 });
      case "slow":
        await new Promise((r) => setTimeout(r, state.slowMs));
        return Response.json({ keys: state.keys });
      case "huge": {
        // A multi-megabyte body, streamed without a content-length.
        const chunk = new TextEncoder().encode(" ".repeat(64 * 1024));
        let sent = 0;
        const body = new ReadableStream<Uint8Array>({
          pull(c) {
            if (sent++ >= 64) return c.close();
            c.enqueue(chunk);
          },
        });
        return new Response(body, { headers: { "content-type": "application/json" } });
      }
      case "malformed":
        return new Response('{"keys": [', { headers: { "content-type": "application/json" } });
      case "not-a-set":
        return Response.json({ hello: "world" });
      case "redirect":
        return new Response(null, { status: 302, headers: { location: `${base}/elsewhere` } });
      default:
        return Response.json({ keys: state.keys });
    }
  }

  async function user(request: Request): Promise<Response> {
    state.userCalls++;
    if (state.authDown) return new Response("bad gateway", { status: 502 });
    const auth = request.headers.get("authorization") ?? "";
    const token = auth.replace(/^Bearer /i, "");
    const fail = (status: number, code: string, msg: string) =>
      Response.json({ code: status, error_code: code, msg }, {
        status,
        headers: { "x-supabase-api-version": "2024-01-01" },
      });
    if (!token) return fail(401, "no_authorization", "This endpoint requires a valid Bearer token");
    let claims: Record<string, unknown>;
    try {
      const header = JSON.parse(atob(token.split(".")[0]!.replace(/-/g, "+").replace(/_/g, "/")));
      const key = header.alg === "HS256"
        ? new TextEncoder().encode(HS_SECRET)
        : createLocalJWKSet({ keys: state.keys });
      ({ payload: claims } = await jwtVerify(token, key as Uint8Array, {
        audience: "authenticated",
      }));
    } catch (error) {
      const expired = error instanceof Error && /exp/.test(error.message);
      return fail(403, "bad_jwt", expired ? "invalid JWT: token is expired" : "invalid JWT");
    }
    const found = state.users.get(String(claims.sub));
    if (!found) return fail(403, "user_not_found", "User from sub claim in JWT does not exist");
    if (found.banned) return fail(403, "user_banned", "User is banned");
    if (state.signedOutSessions.has(String(claims.session_id))) {
      return fail(403, "session_not_found", "Session from session_id claim in JWT does not exist");
    }
    return Response.json({
      id: found.id,
      aud: "authenticated",
      role: "authenticated",
      email: found.email,
    });
  }

  const api: IssuerServer = {
    url: base,
    issuer: `${base}${options.issuerPath ?? ""}`,
    jwksUrl: `${base}${options.issuerPath ?? ""}/.well-known/jwks.json`,
    get keys() {
      return state.keys;
    },
    set keys(k) {
      state.keys = k;
    },
    get fault() {
      return state.fault;
    },
    set fault(f) {
      state.fault = f;
    },
    get slowMs() {
      return state.slowMs;
    },
    set slowMs(ms) {
      state.slowMs = ms;
    },
    get jwksFetches() {
      return state.jwksFetches;
    },
    set jwksFetches(n) {
      state.jwksFetches = n;
    },
    get discoveryFetches() {
      return state.discoveryFetches;
    },
    get userCalls() {
      return state.userCalls;
    },
    users: state.users,
    signedOutSessions: state.signedOutSessions,
    get authDown() {
      return state.authDown;
    },
    set authDown(v) {
      state.authDown = v;
    },
    async close() {
      controller.abort();
      await server.finished;
    },
  };
  return api;
}

/** A clock tests move by hand. */
export class ManualClock {
  constructor(public ms = Date.now()) {}
  now = (): number => this.ms;
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
  get sec(): number {
    return Math.floor(this.ms / 1000);
  }
}
