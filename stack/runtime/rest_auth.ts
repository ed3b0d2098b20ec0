/**
 * What stands between a client and PostgREST at /rest/v1: the same rule the functions apply,
 * from the same configuration, through the same verifier code (and its cache).
 *
 * PostgREST can be told one audience and a set of keys, and then `set role`s to whatever a
 * token signed by any of those keys says. So it is given only the project's own keys (the
 * legacy HS256 secret and the local signing key), and every token reaches it through here:
 *
 * - API keys become the role tokens PostgREST understands (publishable -> anon,
 *   secret -> service_role), matched in constant time;
 * - a bearer token is verified as a function would verify it (exact `iss`, the entry's
 *   audience / authorized parties / algorithms, expiry) and its role must be one its issuer
 *   may name (`forDatabase`: a token without `role` names `anon`);
 * - a verified token from any issuer but Supabase Auth is re-signed with the project secret,
 *   claims unchanged, so that PostgREST checks only keys the project owns. The re-signed
 *   token is kept as long as the original lives, so PostgREST sees one token per token.
 */
import { SignJWT } from "jose";
import { limitBody, tooLarge } from "./body_limit.ts";
import {
  type ApiKeyRing,
  type AuthConfig,
  createVerifier,
  errorResponse,
  extractApiKey,
  extractBearer,
  HttpError,
  type Identity,
  looksLikeApiKey,
  type TokenVerifier,
} from "../../functions/_shared/mod.ts";
import { importHmacKey } from "../../functions/_shared/parts.ts";

export interface RestAuthOptions {
  config: AuthConfig;
  /** The role JWTs PostgREST is sent for API-key callers. */
  anonToken: string;
  serviceRoleToken: string;
  /** Re-signed tokens remembered (default 1000). */
  cacheSize?: number;
}

/** The Authorization header to send PostgREST, or a reason to refuse (thrown). */
export type RestAuthorizer = (request: Request) => Promise<string>;

/** Kong's answers on a hosted project, kept word for word for API-key problems. */
export class GatewayKeyError extends Error {
  constructor(readonly hint: string, message: string) {
    super(message);
  }
}

export function createRestAuthorizer(options: RestAuthOptions): RestAuthorizer {
  const { config } = options;
  const verifier: TokenVerifier = createVerifier(config, {
    strategy: "auto",
    acceptModes: ["supabase", "native", "minted"],
    forDatabase: true,
  });
  const resigned = new ResignCache(config, options.cacheSize ?? 1000);
  const ring: ApiKeyRing = config.apiKeys;

  return async (request) => {
    const bearer = extractBearer(request, { queryTokens: "ignore" });
    const apiKey = extractApiKey(request);
    const bearerIsKey = bearer !== null && (looksLikeApiKey(bearer) || ring.match(bearer) !== null);
    const key = apiKey ?? (bearerIsKey ? bearer : null);
    if (key === null && bearer === null) {
      throw new GatewayKeyError(
        "No `apikey` request header or url param was found.",
        "No API key found in request",
      );
    }
    if (key !== null) {
      const match = ring.match(key);
      if (match === null) {
        throw new GatewayKeyError(
          "Double check your Supabase `anon` or `service_role` API key.",
          "Invalid API key",
        );
      }
      // The bearer decides, as on a hosted project: `apikey` opens the door, and a key in the
      // Authorization header (a legacy anon or service_role JWT) names the role itself.
      const decides = bearer !== null && bearerIsKey
        ? ring.match(bearer)
        : bearer === null
        ? match
        : undefined;
      if (decides === null) {
        throw new GatewayKeyError(
          "Double check your Supabase `anon` or `service_role` API key.",
          "Invalid API key",
        );
      }
      if (decides) {
        return `Bearer ${decides.kind === "secret" ? options.serviceRoleToken : options.anonToken}`;
      }
    }
    const identity = verifier.lookup(bearer!) ?? await verifier.verify(bearer!);
    if (identity.issuer === config.supabaseIssuer) return `Bearer ${bearer}`;
    return `Bearer ${await resigned.get(bearer!, identity)}`;
  };
}

/** Verified third-party and minted tokens, re-signed with the project secret. Bounded. */
class ResignCache {
  readonly #entries = new Map<string, { token: string; expiresAt: number }>();
  readonly #key: Promise<CryptoKey> | null;

  constructor(config: AuthConfig, readonly size: number) {
    this.#key = config.jwtSecret ? importHmacKey(config.jwtSecret, ["sign"]) : null;
  }

  async get(token: string, identity: Identity): Promise<string> {
    const now = Date.now() / 1000;
    const hit = this.#entries.get(token);
    if (hit && hit.expiresAt > now) return hit.token;
    if (!this.#key) {
      throw new HttpError(
        "server_misconfigured",
        "The gateway has no project secret to sign with.",
      );
    }
    const signed = await new SignJWT({ ...identity.claims })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .sign(await this.#key);
    if (this.#entries.size >= this.size) {
      // Oldest first: Map keeps insertion order.
      this.#entries.delete(this.#entries.keys().next().value!);
    }
    this.#entries.set(token, { token: signed, expiresAt: identity.expiresAt });
    return signed;
  }
}

/** Request headers PostgREST does not get from the client (authorization is replaced). */
const NOT_FORWARDED = new Set(["authorization", "apikey", "host"]);

export interface RestProxyDeps {
  postgrestUrl: () => string | null;
  restAuthorization: RestAuthorizer;
  maxBodyBytes: number;
}

/**
 * One request to /rest/v1: the token rule, the body cap, then PostgREST. The gateway calls
 * this for clients; a function process calls it for its own project's /rest/v1, so a
 * function's query gets the same checks without a second trip through the gateway.
 */
export async function proxyRest(
  request: Request,
  url: URL,
  deps: RestProxyDeps,
): Promise<Response> {
  const upstream = deps.postgrestUrl();
  if (!upstream) {
    return errorResponse(
      new HttpError("upstream_error", "PostgREST is not running (see the stack log)."),
    );
  }
  let authorization: string;
  const ruleStarted = performance.now();
  try {
    authorization = await deps.restAuthorization(request);
  } catch (error) {
    if (error instanceof GatewayKeyError) {
      return Response.json({ message: error.message, hint: error.hint }, { status: 401 });
    }
    if (error instanceof HttpError) return errorResponse(error);
    throw error;
  }
  const limited = limitBody(request, deps.maxBodyBytes);
  if (limited instanceof Response) return limited;
  // The client's headers but its credentials and host; a list is cheaper than a Headers copy.
  const headers: [string, string][] = [["authorization", authorization]];
  for (const pair of limited.request.headers) {
    if (!NOT_FORWARDED.has(pair[0])) headers.push(pair);
  }
  const target = `${upstream}${url.pathname.slice("/rest/v1".length) || "/"}${url.search}`;
  try {
    const response = await fetch(target, {
      method: request.method,
      headers,
      body: limited.request.body,
      redirect: "manual",
    });
    // PostgREST's Server-Timing (jwt, parse, plan, transaction, response), plus the gateway's
    // own token rule, so a client sees where a request's time went.
    const timed = new Response(response.body, response);
    const gate = `gateway;desc="token rule";dur=${(performance.now() - ruleStarted).toFixed(2)}`;
    const upstreamTiming = response.headers.get("server-timing");
    timed.headers.set("server-timing", upstreamTiming ? `${gate}, ${upstreamTiming}` : gate);
    return timed;
  } catch (error) {
    if (limited.exceeded()) return tooLarge(deps.maxBodyBytes);
    throw error;
  }
}
