/**
 * The API gateway on 127.0.0.1 (54321 by default), routing like a hosted project's:
 *
 *   /rest/v1/*                -> PostgREST, after the same checks a function makes
 *                                (./rest_auth.ts): API keys become role JWTs, tokens
 *                                are verified against their issuer entry
 *   /auth/v1/*                -> the local Auth (stack/auth/handler.ts)
 *   /functions/v1/<name>/...  -> functions/<name>/index.ts (`export default { fetch }`)
 *   /health                   -> stack health
 *   /_local/...               -> the stack's own routes (`deno task db reset`)
 *
 * Request bodies to /rest/v1 and /functions/v1 are capped (./body_limit.ts).
 */
import { errorResponse, HttpError } from "../../functions/_shared/mod.ts";
import { limitBody, tooLarge } from "./body_limit.ts";
import { proxyRest, type RestAuthorizer } from "./rest_auth.ts";

export interface GatewayDeps {
  postgrestUrl: () => string | null;
  auth: (request: Request, path: string) => Promise<Response>;
  /** The Authorization header PostgREST gets for a request, or a thrown refusal. */
  restAuthorization: RestAuthorizer;
  /** Largest request body accepted at /rest/v1 and /functions/v1. */
  maxBodyBytes: number;
  functions: FunctionRegistry;
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

/** Functions are the folders of functions/ (except _shared) holding an index.ts. */
export function functionRegistry(dir: URL): FunctionRegistry {
  const loaded = new Map<string, Promise<(request: Request) => Promise<Response>>>();
  const names: string[] = [];
  for (const entry of Deno.readDirSync(dir)) {
    if (!entry.isDirectory || entry.name.startsWith("_")) continue;
    try {
      Deno.statSync(new URL(`${entry.name}/index.ts`, dir));
      names.push(entry.name);
    } catch { /* not a function */ }
  }
  names.sort();
  return {
    names: () => [...names],
    handler(name) {
      if (!names.includes(name)) return Promise.resolve(null);
      let handler = loaded.get(name);
      if (!handler) {
        handler = import(new URL(`${name}/index.ts`, dir).href).then((mod) => {
          const fetchFn = mod.default?.fetch;
          if (typeof fetchFn !== "function") {
            throw new Error(`functions/${name}/index.ts must export default { fetch }`);
          }
          return fetchFn as (request: Request) => Promise<Response>;
        });
        loaded.set(name, handler);
      }
      return handler;
    },
  };
}

export function createGateway(deps: GatewayDeps): (request: Request) => Promise<Response> {
  const route = routeRequest(deps);
  if (!deps.observe) return route;
  const observe = deps.observe;
  return async (request) => {
    const response = await route(request);
    observe(request, response.clone());
    return response;
  };
}

function routeRequest(deps: GatewayDeps): (request: Request) => Promise<Response> {
  return async (request) => {
    const url = new URL(request.url);
    const path = url.pathname;
    try {
      const local = path.startsWith("/_local/") ? deps.local?.[path] : undefined;
      if (local) return await local(request);
      if (path === "/health") {
        const up = deps.postgrestUrl() !== null;
        return Response.json({ status: up ? "ok" : "degraded", postgrest: up ? "up" : "down" }, {
          status: up ? 200 : 503,
        });
      }
      if (path.startsWith("/rest/v1/") || path === "/rest/v1") {
        return await proxyRest(request, url, deps);
      }
      if (path.startsWith("/auth/v1/")) {
        // Browsers call Auth from the app's origin: Auth (and Kong before it) allow any origin.
        if (request.method === "OPTIONS") return authPreflight(request);
        return withAuthCors(await deps.auth(request, path.slice("/auth/v1".length)));
      }
      if (path.startsWith("/functions/v1/")) return await fn(request, path, deps);
      return errorResponse(new HttpError("not_found", "No such route on this local stack."));
    } catch (error) {
      deps.log(`[gateway] ${request.method} ${path} failed: ${(error as Error).message}`);
      return errorResponse(
        new HttpError("internal_error", "The local gateway failed.", { cause: error }),
      );
    }
  };
}

async function fn(request: Request, path: string, deps: GatewayDeps): Promise<Response> {
  const name = path.split("/")[3] ?? "";
  const handler = name ? await deps.functions.handler(name) : null;
  if (!handler) {
    return withOpenCors(errorResponse(
      new HttpError("not_found", `No function named "${name}".`, {
        hint: `Functions here: ${deps.functions.names().join(", ") || "none"}.`,
      }),
    ));
  }
  const limited = limitBody(request, deps.maxBodyBytes);
  if (limited instanceof Response) return withOpenCors(limited);
  const response = await handler(limited.request);
  if (limited.exceeded()) {
    await response.body?.cancel();
    return withOpenCors(tooLarge(deps.maxBodyBytes));
  }
  return response;
}

const AUTH_EXPOSED_HEADERS = "x-total-count, link, x-supabase-api-version, x-sb-error-code";

function authPreflight(request: Request): Response {
  return new Response(null, {
    status: 204,
    headers: {
      "access-control-allow-origin": "*",
      "access-control-allow-methods": "GET, POST, PUT, DELETE, OPTIONS",
      "access-control-allow-headers": request.headers.get("access-control-request-headers") ??
        "authorization, apikey, content-type, x-client-info, x-supabase-api-version",
      "access-control-max-age": "86400",
    },
  });
}

function withAuthCors(response: Response): Response {
  const headers = new Headers(response.headers);
  headers.set("access-control-allow-origin", "*");
  headers.set("access-control-expose-headers", AUTH_EXPOSED_HEADERS);
  return new Response(response.body, { status: response.status, headers });
}

/** Gateway answers for functions carry CORS, as the function's own answers would. */
function withOpenCors(response: Response): Response {
  response.headers.set("access-control-allow-origin", "*");
  return response;
}
