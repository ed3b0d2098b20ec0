/**
 * Every request the core makes to another server goes through here: a timeout on each, no
 * redirects followed, bodies read up to a cap and counted as they arrive, plain `http` only to
 * this machine. Used by the JWKS fetcher, OIDC discovery, the getUser client and the stack.
 */
import { readAtMost } from "./http.ts";
import { discoveryUrl } from "./issuers.ts";

export interface FetchLimits {
  /** Abort a fetch after this many milliseconds. */
  timeoutMs: number;
  /** Refuse a response body larger than this. */
  maxBytes: number;
  fetch: typeof fetch;
}

/** A fetch that gives up after `timeoutMs` (the caller's own signal still applies). */
export function withTimeout(baseFetch: typeof fetch, timeoutMs: number): typeof fetch {
  return (input, init) => {
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = init?.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
    return baseFetch(input, { ...init, signal });
  };
}

/** OIDC discovery: the issuer's `jwks_uri`, from a document that must name the same issuer. */
export async function discoverJwksUrl(issuer: string, limits: FetchLimits): Promise<URL> {
  const where = discoveryUrl(issuer);
  assertSafeUrl(where, "OIDC discovery URL");
  const doc = await fetchJson(where, limits) as { issuer?: unknown; jwks_uri?: unknown };
  if (doc.issuer !== issuer) throw new Error(`${where.href} names a different issuer`);
  if (typeof doc.jwks_uri !== "string") throw new Error(`${where.href} has no jwks_uri`);
  return new URL(doc.jwks_uri);
}

/** `https:` anywhere, `http:` only to this machine: a key fetched in clear text can be swapped. */
export function assertSafeUrl(url: URL, what: string): void {
  if (url.protocol === "https:") return;
  if (url.protocol === "http:" && isLoopbackHost(url.hostname)) return;
  throw new Error(`${what} must use https (plain http is allowed for loopback only)`);
}

export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "");
  return host === "localhost" || host === "::1" || /^127(\.\d{1,3}){3}$/.test(host);
}

/** GET a JSON document with a timeout, a body size cap, and no redirects. */
export async function fetchJson(url: URL, limits: FetchLimits): Promise<unknown> {
  const response = await limits.fetch(url, {
    redirect: "manual",
    signal: AbortSignal.timeout(limits.timeoutMs),
    headers: { accept: "application/json" },
  });
  if (response.status !== 200) {
    await response.body?.cancel();
    throw new Error(`${url.href} answered HTTP ${response.status}`);
  }
  const declared = Number(response.headers.get("content-length") ?? "0");
  if (declared > limits.maxBytes) {
    await response.body?.cancel();
    throw new Error(`${url.href} body exceeds ${limits.maxBytes} bytes`);
  }
  const bytes = await readAtMost(response.body, limits.maxBytes);
  if (bytes === null) throw new Error(`${url.href} body exceeds ${limits.maxBytes} bytes`);
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new Error(`${url.href} did not return JSON`);
  }
}
