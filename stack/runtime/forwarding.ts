/**
 * What the gateway does to a request before a part behind it sees it, as a hosted project's
 * Kong does: hop-by-hop headers and a client's own forwarding claims are dropped, the client's
 * address is forwarded, an `apikey` in the query string is moved into the header (and hidden
 * from what is behind), and CORS answers for browsers.
 */

/** RFC 9110 7.6.1: meant for one connection, never forwarded. */
const HOP_BY_HOP = [
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
];
/** What a client may claim about its own address: replaced by what the gateway knows. */
const FORWARDING = [
  "x-forwarded-for",
  "x-real-ip",
  "forwarded",
  "x-forwarded-host",
  "x-forwarded-proto",
];

/** A Host header that is a host name or address and an optional port, nothing else. */
const HOST =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

export function validHost(request: Request): boolean {
  const host = request.headers.get("host");
  return host !== null && host.length <= 300 && HOST.test(host);
}

/**
 * The client's address: the connection's peer, or, when the peer is a proxy listed in
 * GATEWAY_TRUSTED_PROXIES, the last address in X-Forwarded-For that is not one of them.
 */
export function clientAddress(
  request: Request,
  peer: string,
  trusted: ReadonlySet<string>,
): string {
  if (!trusted.has(peer)) return peer;
  const chain = (request.headers.get("x-forwarded-for") ?? "").split(",").map((a) => a.trim())
    .filter((a) => /^[0-9A-Fa-f:.]{2,45}$/.test(a));
  for (let i = chain.length - 1; i >= 0; i--) {
    if (!trusted.has(chain[i]!)) return chain[i]!;
  }
  return chain[0] ?? peer;
}

/** The headers a function or PostgREST gets: no hop-by-hop ones, the client's address set. */
export function forwardedHeaders(headers: Headers, client: string): Headers {
  const out = new Headers(headers);
  const listed = (headers.get("connection") ?? "").split(",").map((h) => h.trim().toLowerCase());
  for (const name of [...HOP_BY_HOP, ...FORWARDING, ...listed]) if (name) out.delete(name);
  out.set("x-forwarded-for", client);
  return out;
}

/**
 * Kong reads `apikey` from the header or the query string and hides it from the service
 * behind: move a query-string key into the header (a header wins) and drop it from the URL.
 */
export function apiKeyFromQuery(request: Request, url: URL): Request {
  if (!url.searchParams.has("apikey")) return request;
  const key = url.searchParams.get("apikey") ?? "";
  url.searchParams.delete("apikey");
  const headers = new Headers(request.headers);
  if (!headers.has("apikey") && key !== "") headers.set("apikey", key);
  return new Request(url, {
    method: request.method,
    headers,
    body: request.body,
    redirect: "manual",
    signal: request.signal,
    // deno-lint-ignore no-explicit-any
    ...(request.body ? { duplex: "half" } as any : {}),
  });
}

/** A CORS preflight answered before any key or token check (browsers send neither). */
export function preflight(request: Request): Response {
  return new Response(null, {
    status: 200,
    headers: {
      "access-control-allow-origin": "*",
      "access-control-allow-methods": "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS",
      "access-control-allow-headers": request.headers.get("access-control-request-headers") ??
        "authorization, apikey, content-type, x-client-info, x-supabase-api-version",
      "access-control-max-age": "3600",
    },
  });
}

/** CORS on an answer (errors included), unless the part behind already set it. */
export function withCors(response: Response, expose?: string): Response {
  if (response.headers.has("access-control-allow-origin") && !expose) return response;
  const headers = new Headers(response.headers);
  if (!headers.has("access-control-allow-origin")) headers.set("access-control-allow-origin", "*");
  if (expose) headers.set("access-control-expose-headers", expose);
  return new Response(response.body, {
    status: response.status,
    statusText: response.statusText,
    headers,
  });
}
