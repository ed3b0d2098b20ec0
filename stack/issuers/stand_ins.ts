/**
 * Stand-ins for third-party issuers whose keys are not on this machine: the local stack trusts,
 * for each such issuer, a key of its own (generated once and kept in the state folder, never in
 * a file a deploy reads), and mints tokens shaped as that provider issues them: its `iss`, `aud`,
 * id and organisation claims, the `role` claim its Supabase integration adds, a `kid`. The issuer
 * rules the stack applies are the production ones; only the keys differ, so a token signed by the
 * real provider (or anyone else) is refused here.
 *
 * Routes under `/_local/idp/<slug>/` (no key needed, as an identity provider's are not):
 *   GET  jwks                                  the stand-in's public key
 *   GET  .well-known/openid-configuration      OIDC discovery (also under oidc/, as Logto's)
 *   GET  authorize, POST authorize             authorization code + PKCE (S256), one-click page
 *   POST token                                 the code for an access token and an ID token
 *   POST mint                                  with the secret key: a token for any `sub`
 *                                              (what `deno task token --provider` calls)
 */
import { exportJWK, generateKeyPair, importJWK, type JWK, SignJWT } from "jose";
import type { StandInSpec } from "./issuer_set.ts";

type Alg = "RS256" | "ES256" | "ES384";

const ALGORITHMS: Record<string, Alg> = {
  clerk: "RS256",
  firebase: "RS256",
  auth0: "RS256",
  cognito: "RS256",
  workos: "RS256",
  logto: "ES384",
};

interface StandIn {
  spec: StandInSpec;
  alg: Alg;
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export interface StandInOptions {
  specs: StandInSpec[];
  /** Where keys persist (`<state>/stand-ins.json`, 0600); null keeps them in memory. */
  keysPath: string | null;
  apiUrl: string;
  /** Origins a browser sign-in may return to besides loopback ([auth] site_url and friends). */
  allowedOrigins: string[];
  /** Whether a value is the project's secret key (for `mint`). */
  isSecretKey: (value: string | null) => boolean;
}

export interface StandIns {
  slugs(): string[];
  /** A token for `sub` from the stand-in `slug`, shaped as its provider shapes them. */
  mint(slug: string, request: MintRequest): Promise<string>;
  /** The routes under /_local/idp/ (path after that prefix). */
  handle(request: Request, path: string): Promise<Response>;
}

export interface MintRequest {
  sub: string;
  claims?: Record<string, unknown>;
  /** Lifetime in seconds (default 3600). */
  exp?: number;
}

function random(bytes = 12): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(bytes)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}

async function loadKeys(path: string | null): Promise<Record<string, JWK>> {
  if (!path) return {};
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch {
    return {};
  }
}

export async function startStandIns(options: StandInOptions): Promise<StandIns> {
  const stored = await loadKeys(options.keysPath);
  let changed = false;
  const standIns = new Map<string, StandIn>();
  for (const spec of options.specs) {
    const alg = ALGORITHMS[spec.slug] ?? ALGORITHMS[spec.provider] ?? "ES256";
    let jwk = stored[spec.issuer];
    if (!jwk || jwk.alg !== alg) {
      const { privateKey } = await generateKeyPair(alg, { extractable: true });
      jwk = { ...(await exportJWK(privateKey)), alg, kid: `local-${spec.slug}-${random(4)}` };
      stored[spec.issuer] = jwk;
      changed = true;
    }
    const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicJwk } = jwk;
    standIns.set(spec.slug, {
      spec,
      alg,
      kid: jwk.kid!,
      privateKey: await importJWK(jwk, alg) as CryptoKey,
      publicJwk: { ...publicJwk, use: "sig" },
    });
  }
  if (changed && options.keysPath) {
    await Deno.writeTextFile(options.keysPath, JSON.stringify(stored, null, 2), { mode: 0o600 });
  }
  const codes = new Map<string, Grant>();

  const mint = async (slug: string, request: MintRequest, extra: Record<string, unknown> = {}) => {
    const standIn = standIns.get(slug);
    if (!standIn) throw new Error(`no stand-in "${slug}"`);
    const now = Math.floor(Date.now() / 1000);
    const lifetime = request.exp ?? 3600;
    const claims = {
      ...providerClaims(standIn.spec, request.sub, now, options),
      ...extra,
      ...(request.claims ?? {}),
    };
    return await new SignJWT(claims)
      .setProtectedHeader({ alg: standIn.alg, kid: standIn.kid, typ: "JWT" })
      .setIssuer(standIn.spec.issuer)
      .setSubject(request.sub)
      .setIssuedAt(now)
      .setExpirationTime(now + lifetime)
      .sign(standIn.privateKey);
  };

  return {
    slugs: () => [...standIns.keys()],
    mint: (slug, request) => mint(slug, request),
    async handle(request, path) {
      if (path === "/" || path === "") {
        return cors(Response.json({ stand_ins: [...standIns.keys()] }));
      }
      const match = /^\/([a-z][a-z0-9_-]*)\/(.*)$/.exec(path);
      const standIn = match ? standIns.get(match[1]!) : undefined;
      if (!match || !standIn) return oauthError(404, "not_found", "No stand-in issuer here.");
      const route = match[2]!.replace(/^oidc\//, "");
      const base = `${options.apiUrl}/_local/idp/${standIn.spec.slug}`;
      if (request.method === "OPTIONS") return cors(new Response(null, { status: 204 }));
      if (route === "jwks" || route === ".well-known/jwks.json") {
        return cors(Response.json({ keys: [standIn.publicJwk] }));
      }
      if (route === ".well-known/openid-configuration") {
        return cors(Response.json(discovery(standIn, base)));
      }
      if (route === "mint" && request.method === "POST") {
        if (!options.isSecretKey(request.headers.get("apikey"))) {
          return oauthError(
            401,
            "invalid_client",
            "Minting needs the project's secret key as apikey.",
          );
        }
        const body = await request.json().catch(() => null) as MintRequest | null;
        if (!body || typeof body.sub !== "string" || body.sub === "" || body.sub.length > 255) {
          return oauthError(400, "invalid_request", "sub must be a non-empty string");
        }
        if (
          body.claims !== undefined &&
          (typeof body.claims !== "object" || Array.isArray(body.claims))
        ) {
          return oauthError(400, "invalid_request", "claims must be a JSON object");
        }
        if (
          body.exp !== undefined &&
          !(Number.isInteger(body.exp) && body.exp >= 1 && body.exp <= 604_800)
        ) {
          return oauthError(400, "invalid_request", "exp must be 1 to 604800 seconds");
        }
        return Response.json({ access_token: await mint(standIn.spec.slug, body) });
      }
      if (route === "authorize") return await authorize(request, standIn, codes, options);
      if (route === "token" && request.method === "POST") {
        return cors(await token(request, standIn, codes, mint));
      }
      return oauthError(404, "not_found", "No such stand-in route.");
    },
  };
}

/** Claims as each provider puts them in its tokens (the caller's `claims` override them). */
function providerClaims(
  spec: StandInSpec,
  sub: string,
  now: number,
  options: StandInOptions,
): Record<string, unknown> {
  const entry = spec.entry;
  const audience = Array.isArray(entry.audience) ? entry.audience[0] : entry.audience;
  const parties = entry.authorized_parties as string[] | undefined;
  switch (spec.slug) {
    case "clerk":
      return {
        azp: parties?.[0] ?? options.allowedOrigins[0],
        sid: `sess_${random(12)}`,
        role: "authenticated",
        v: 2,
        nbf: now - 5,
      };
    case "firebase":
      return {
        aud: audience,
        auth_time: now,
        user_id: sub,
        firebase: { identities: {}, sign_in_provider: "custom" },
        role: "authenticated",
      };
    case "auth0":
      return {
        aud: audience,
        azp: "local-client",
        scope: "openid profile email",
        role: "authenticated",
      };
    case "cognito":
      return {
        aud: audience,
        token_use: "id",
        "cognito:username": sub,
        auth_time: now,
        role: "authenticated",
      };
    case "workos":
      return { aud: audience, sid: `session_${random(12)}`, role: "authenticated" };
    default:
      // An OIDC issuer's access token for an API (Logto: the API resource indicator).
      return { aud: audience, client_id: "local-app", scope: "openid profile" };
  }
}

function discovery(standIn: StandIn, base: string) {
  return {
    // The production issuer: tokens and ID tokens carry it; only the endpoints are local.
    issuer: standIn.spec.issuer,
    authorization_endpoint: `${base}/authorize`,
    token_endpoint: `${base}/token`,
    jwks_uri: `${base}/jwks`,
    response_types_supported: ["code"],
    grant_types_supported: ["authorization_code"],
    code_challenge_methods_supported: ["S256"],
    subject_types_supported: ["public"],
    id_token_signing_alg_values_supported: [standIn.alg],
    scopes_supported: ["openid", "profile", "email", "offline_access"],
    token_endpoint_auth_methods_supported: ["none"],
  };
}

interface Grant {
  slug: string;
  clientId: string;
  redirectUri: string;
  challenge: string;
  sub: string;
  scope: string;
  resource: string | null;
  nonce: string | null;
  expires: number;
}

function cors(response: Response): Response {
  response.headers.set("access-control-allow-origin", "*");
  response.headers.set("access-control-allow-headers", "content-type, authorization");
  response.headers.set("access-control-allow-methods", "GET, POST, OPTIONS");
  return response;
}

function oauthError(status: number, error: string, description: string): Response {
  return cors(Response.json({ error, error_description: description }, { status }));
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A browser may be sent back to loopback or to the app's own origins, nowhere else. */
function returnable(uri: string, allowed: string[]): boolean {
  try {
    const url = new URL(uri);
    if (url.protocol !== "http:" && url.protocol !== "https:") return false;
    return ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname) ||
      allowed.includes(url.origin);
  } catch {
    return false;
  }
}

async function authorize(
  request: Request,
  standIn: StandIn,
  codes: Map<string, Grant>,
  options: StandInOptions,
): Promise<Response> {
  const params = request.method === "POST"
    ? new URLSearchParams(await request.text())
    : new URL(request.url).searchParams;
  const clientId = params.get("client_id") ?? "";
  const redirectUri = params.get("redirect_uri") ?? "";
  const challenge = params.get("code_challenge") ?? "";
  if (!clientId) return oauthError(400, "invalid_request", "client_id is required");
  if (!returnable(redirectUri, options.allowedOrigins)) {
    return oauthError(
      400,
      "invalid_request",
      "redirect_uri must be a loopback URL or one of the app's origins ([auth] site_url, additional_redirect_urls)",
    );
  }
  if (params.get("response_type") !== "code") {
    return oauthError(400, "unsupported_response_type", "response_type must be code");
  }
  if (params.get("code_challenge_method") !== "S256" || !/^[A-Za-z0-9_-]{43}$/.test(challenge)) {
    return oauthError(
      400,
      "invalid_request",
      "PKCE is required: code_challenge_method S256 and a code_challenge",
    );
  }
  const state = params.get("state");
  if (request.method === "GET") {
    // One click: the stand-in signs in whoever the developer names.
    const hidden = [...params].filter(([k]) => k !== "login_hint").map(([k, v]) =>
      `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`
    ).join("");
    const hint = params.get("login_hint") ?? "local-user-1";
    const page = `<!doctype html><html><head><meta charset="utf-8"><title>Sign in (local ${
      escapeHtml(standIn.spec.slug)
    } stand-in)</title></head><body><h1>Sign in to ${escapeHtml(standIn.spec.issuer)}</h1>
<p>A local stand-in: no password. Choose the user id the token will carry.</p>
<form method="post">${hidden}<label>User id <input name="login_hint" value="${
      escapeHtml(hint)
    }"></label>
<button type="submit" id="sign-in">Sign in</button></form></body></html>`;
    return new Response(page, { headers: { "content-type": "text/html; charset=utf-8" } });
  }
  const sub = (params.get("login_hint") ?? "").trim();
  if (sub === "" || sub.length > 255) {
    return oauthError(400, "invalid_request", "a user id is required");
  }
  const code = random(24);
  if (codes.size > 10_000) codes.clear();
  codes.set(code, {
    slug: standIn.spec.slug,
    clientId,
    redirectUri,
    challenge,
    sub,
    scope: params.get("scope") ?? "openid",
    resource: params.get("resource"),
    nonce: params.get("nonce"),
    expires: Date.now() + 60_000,
  });
  const back = new URL(redirectUri);
  back.searchParams.set("code", code);
  if (state !== null) back.searchParams.set("state", state);
  return new Response(null, { status: 303, headers: { location: back.href } });
}

async function token(
  request: Request,
  standIn: StandIn,
  codes: Map<string, Grant>,
  mint: (slug: string, r: MintRequest, extra?: Record<string, unknown>) => Promise<string>,
): Promise<Response> {
  const params = new URLSearchParams(await request.text());
  if (params.get("grant_type") !== "authorization_code") {
    return oauthError(400, "unsupported_grant_type", "grant_type must be authorization_code");
  }
  const code = params.get("code") ?? "";
  const grant = codes.get(code);
  codes.delete(code); // single use, whatever happens next
  if (!grant || grant.slug !== standIn.spec.slug || grant.expires < Date.now()) {
    return oauthError(400, "invalid_grant", "the code is unknown, used or expired");
  }
  if (
    params.get("redirect_uri") !== grant.redirectUri || params.get("client_id") !== grant.clientId
  ) {
    return oauthError(
      400,
      "invalid_grant",
      "redirect_uri and client_id must be the authorize request's",
    );
  }
  const verifier = params.get("code_verifier") ?? "";
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)),
  );
  const expected = btoa(String.fromCharCode(...digest)).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
  if (expected !== grant.challenge) {
    return oauthError(400, "invalid_grant", "code_verifier does not match the code_challenge");
  }
  const accessToken = await mint(grant.slug, {
    sub: grant.sub,
    claims: { scope: grant.scope, ...(grant.resource ? { aud: grant.resource } : {}) },
  });
  const idToken = await mint(grant.slug, {
    sub: grant.sub,
    claims: {
      aud: grant.clientId,
      ...(grant.nonce ? { nonce: grant.nonce } : {}),
      scope: undefined,
      client_id: undefined,
    },
  });
  return Response.json({
    access_token: accessToken,
    id_token: idToken,
    token_type: "Bearer",
    expires_in: 3600,
    scope: grant.scope,
  });
}
