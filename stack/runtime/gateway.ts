/**
 * The API gateway on 127.0.0.1 (54321 by default), routing and gating as a hosted project's
 * Kong does:
 *
 *   /rest/v1/*                -> PostgREST, after the same checks a function makes
 *                                (./rest_auth.ts): API keys become role JWTs, tokens are
 *                                verified against their issuer entry; preflights answered here
 *   /auth/v1/*                -> the local Auth (stack/auth/), with a project key, except
 *                                /verify, /callback, /authorize and the JWKS; 1 MiB bodies
 *   /functions/v1/<name>/...  -> the function, with the client's address forwarded, its
 *                                request chain named (./call_chain.ts)
 *   /health                   -> stack health
 *   /storage/v1, /realtime/v1, /graphql/v1, /pg
 *                             -> 501 not_implemented, naming what to use instead
 *   /_local/...               -> the stack's own routes (`deno task db reset`)
 *
 * Routing reads the path of a request whose Host header is a host and nothing else, so a Host
 * header cannot steer a request to another route. An `apikey` may come in the query string;
 * it is moved into the header and hidden from what is behind. Bodies are capped
 * (./body_limit.ts); every answer carries CORS for browsers, errors included.
 */
import { errorResponse, HttpError, REQUEST_ID_HEADER } from "../../functions/_shared/mod.ts";
import { limitBody, tooLarge } from "./body_limit.ts";
import { CALL_CHAIN_HEADER, CALL_LIMIT_HEADER, type CallChains } from "./call_chain.ts";
import {
  apiKeyFromQuery,
  clientAddress,
  forwardedHeaders,
  preflight,
  validHost,
  withCors,
} from "./forwarding.ts";
import { proxyRest, type RestAuthorizer } from "./rest_auth.ts";

export interface GatewayDeps {
  postgrestUrl: () => string | null;
  /** The local Auth: the path under /auth/v1, the client's address when known, the request id. */
  auth: (
    request: Request,
    path: string,
    client: string | undefined,
    requestId: string,
  ) => Promise<Response>;
  /** Whether a value is one of the project's API keys (constant-time, by the caller's ring). */
  isProjectKey: (value: string) => boolean | Promise<boolean>;
  /** The Authorization header PostgREST gets for a request, or a thrown refusal. */
  restAuthorization: RestAuthorizer;
  /** Largest request body accepted at /rest/v1 and /functions/v1. */
  maxBodyBytes: number;
  functions: FunctionRegistry;
  callChains: CallChains;
  /** Peers whose X-Forwarded-For is believed (GATEWAY_TRUSTED_PROXIES). */
  trustedProxies: ReadonlySet<string>;
  log: (line: string) => void;
  /** Sees every response (tests scan bodies for leaked secrets). */
  observe?: (request: Request, response: Response) => void;
  /** The stack's own routes under /_local/ (database reset), by path. */
  local?: Record<string, (request: Request) => Promise<Response>>;
}

export interface FunctionRegistry {
  names(): string[];
  handler(name: string): Promise<((request: Request) => Promise<Response>) | null>;
}

/** Supabase Auth's own body limit. */
const AUTH_MAX_BODY_BYTES = 1024 * 1024;
/** Auth routes Kong serves without an apikey (links in mails, OAuth redirects, the JWKS). */
const AUTH_OPEN = ["/verify", "/callback", "/authorize", "/.well-known/jwks.json"];
const AUTH_EXPOSED_HEADERS = "x-total-count, link, x-supabase-api-version, x-sb-error-code";
/** Every client of a stack bound to 127.0.0.1 connects from loopback. */
const PEER = "127.0.0.1";

export function createGateway(deps: GatewayDeps): (request: Request) => Promise<Response> {
  const route = routeRequest(deps);
  const observe = deps.observe;
  return async (incoming) => {
    // Every request gets an id (the client's own is not believed): in the answer's
    // sb-request-id, in what the function sees, and in every log line written for it.
    const requestId = crypto.randomUUID();
    if (!validHost(incoming)) {
      return withRequestId(
        errorResponse(new HttpError("bad_request", "The Host header is not a host name.")),
        requestId,
      );
    }
    const started = performance.now();
    const url = new URL(incoming.url);
    let response = await route(incoming, url, requestId);
    response = withRequestId(response, requestId);
    observe?.(incoming, response.clone());
    const path = url.pathname;
    const fn = /^\/functions\/v1\/([^/?]+)/.exec(path)?.[1];
    if (fn !== undefined || response.status >= 500) {
      deps.log(
        `${fn !== undefined ? `[fn:${fn}]` : "[gateway]"} [${requestId}] ${incoming.method} ${
          path.slice(0, 200)
        } ${response.status} ${Math.round(performance.now() - started)} ms`,
      );
    }
    return response;
  };
}

/** The answer with the request's id (a function's answer has immutable headers: copied). */
function withRequestId(response: Response, requestId: string): Response {
  try {
    response.headers.set(REQUEST_ID_HEADER, requestId);
    return response;
  } catch {
    const headers = new Headers(response.headers);
    headers.set(REQUEST_ID_HEADER, requestId);
    return new Response(response.body, {
      status: response.status,
      statusText: response.statusText,
      headers,
    });
  }
}

/** Supabase services this stack does not run: a clear 501, not a bare 404. */
const NOT_HERE: Record<string, string> = {
  "/storage/v1": "Storage is not part of this local stack: run `supabase start` for it, or " +
    "test storage code against a hosted project.",
  "/realtime/v1": "Realtime is not part of this local stack: run `supabase start` for it, or " +
    "test subscriptions against a hosted project.",
  "/graphql/v1": "GraphQL (pg_graphql) is not part of this local stack: use /rest/v1, or run " +
    "`supabase start`.",
  "/pg": "The database API (postgres-meta, Studio's) is not part of this local stack: connect " +
    "to db_url from `deno task status` instead.",
};

function routeRequest(
  deps: GatewayDeps,
): (request: Request, url: URL, requestId: string) => Promise<Response> {
  return async (request, url, requestId) => {
    const path = url.pathname; // the Host was checked in createGateway
    try {
      // The stack's own routes: an exact path, or a prefix ending in "/".
      const local = path.startsWith("/_local/")
        ? deps.local?.[path] ??
          Object.entries(deps.local ?? {}).find(([p]) => p.endsWith("/") && path.startsWith(p))?.[1]
        : undefined;
      if (local) return await local(request);
      if (path === "/health") {
        const up = deps.postgrestUrl() !== null;
        return Response.json({ status: up ? "ok" : "degraded", postgrest: up ? "up" : "down" }, {
          status: up ? 200 : 503,
        });
      }
      if (path.startsWith("/rest/v1/") || path === "/rest/v1") {
        if (request.method === "OPTIONS") return preflight(request);
        const keyed = apiKeyFromQuery(request, url);
        return withCors(await proxyRest(keyed, new URL(keyed.url), deps));
      }
      if (path.startsWith("/auth/v1/")) {
        if (request.method === "OPTIONS") return preflight(request);
        return withCors(
          await auth(apiKeyFromQuery(request, url), path, deps, requestId),
          AUTH_EXPOSED_HEADERS,
        );
      }
      // A function's answers are its own (CORS included); the gateway's refusals get CORS.
      if (path.startsWith("/functions/v1/")) return await fn(request, path, deps, requestId);
      const service = Object.keys(NOT_HERE).find((p) => path === p || path.startsWith(`${p}/`));
      if (service) {
        if (request.method === "OPTIONS") return preflight(request);
        return withCors(errorResponse(new HttpError("not_implemented", NOT_HERE[service]!)));
      }
      return withCors(
        errorResponse(new HttpError("not_found", "No such route on this local stack.")),
      );
    } catch (error) {
      deps.log(
        `[gateway] [${requestId}] ${request.method} ${path} failed: ${(error as Error).stack}`,
      );
      return withCors(errorResponse(
        new HttpError("internal_error", "The local gateway failed.", { cause: error }),
      ));
    }
  };
}

/** Kong's key-auth answers, word for word. */
function keyRefused(message: string, hint: string): Response {
  return Response.json({ message, hint }, { status: 401 });
}

async function auth(
  request: Request,
  path: string,
  deps: GatewayDeps,
  requestId: string,
): Promise<Response> {
  const rest = path.slice("/auth/v1".length);
  if (!AUTH_OPEN.some((open) => rest === open || rest.startsWith(`${open}/`))) {
    const key = request.headers.get("apikey");
    if (key === null || key.trim() === "") {
      return keyRefused(
        "No API key found in request",
        "No `apikey` request header or url param was found.",
      );
    }
    if (!(await deps.isProjectKey(key.trim()))) {
      return keyRefused(
        "Invalid API key",
        "Double check your Supabase `anon` or `service_role` API key.",
      );
    }
  }
  const limited = limitBody(request, AUTH_MAX_BODY_BYTES);
  if (limited instanceof Response) return limited;
  // Auth is told the client's address only when a trusted proxy forwards it (its limits apply
  // then); loopback clients of a local stack go unlimited, as with `supabase start`.
  const known = deps.trustedProxies.has(PEER) && request.headers.has("x-forwarded-for");
  const client = known ? clientAddress(request, PEER, deps.trustedProxies) : undefined;
  const response = await deps.auth(limited.request, rest, client, requestId);
  if (limited.exceeded()) {
    await response.body?.cancel();
    return tooLarge(AUTH_MAX_BODY_BYTES);
  }
  return response;
}

async function fn(
  request: Request,
  path: string,
  deps: GatewayDeps,
  requestId: string,
): Promise<Response> {
  const name = path.split("/")[3] ?? "";
  const handler = name ? await deps.functions.handler(name) : null;
  if (!handler) {
    // The platform's answer, which names no other function.
    return withCors(
      Response.json({ code: "NOT_FOUND", message: "Requested function was not found" }, {
        status: 404,
        headers: { "sb-error-code": "NOT_FOUND" },
      }),
    );
  }
  const chain = deps.callChains.admit(request.headers.get(CALL_CHAIN_HEADER));
  if ("retryAfter" in chain) {
    return withCors(Response.json({
      code: "rate_limit_exceeded",
      message: "Function-to-function calls of this request chain are over their budget.",
    }, {
      status: 429,
      headers: { [CALL_LIMIT_HEADER]: "function-calls", "retry-after": String(chain.retryAfter) },
    }));
  }
  const headers = forwardedHeaders(
    request.headers,
    clientAddress(request, PEER, deps.trustedProxies),
  );
  headers.set(CALL_CHAIN_HEADER, chain.id);
  headers.set(REQUEST_ID_HEADER, requestId); // the client's own is replaced
  const limited = limitBody(
    new Request(request, { headers }),
    deps.maxBodyBytes,
  );
  if (limited instanceof Response) return withCors(limited);
  const response = await handler(limited.request);
  if (limited.exceeded()) {
    await response.body?.cancel();
    return withCors(tooLarge(deps.maxBodyBytes));
  }
  return response;
}
