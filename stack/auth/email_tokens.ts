/**
 * One-time codes and links, as Supabase Auth makes and checks them (supabase/auth,
 * internal/crypto and internal/api/verify.go):
 *
 * - a code is `otp_length` random digits; what is stored is hex(sha224(email + code)), in
 *   the user's confirmation_token, recovery_token, email_change_token_new/current or
 *   reauthentication_token, with "pkce_" in front when the request started a PKCE flow;
 * - a link carries that hash (`/verify?token=<hash>&type=...&redirect_to=...`); a code is
 *   checked by hashing it with the address again;
 * - a code is good for `otp_expiry` seconds from when it was sent, once: using it clears it.
 *
 * And the one place where `redirect_to` is decided: site_url's host, a loopback address, or a
 * match of `additional_redirect_urls` (GoTrue's glob rules); anything else gets site_url.
 */
// WebCrypto has no SHA-224; node:crypto (Deno's Node layer) does.
import { createHash } from "node:crypto";
import { AuthError } from "./errors.ts";
import type { AuthSettings } from "./settings.ts";

export const PKCE_PREFIX = "pkce_";

/** `length` uniformly random digits (rejection sampling: no modulo bias). */
export function newOtp(length: number): string {
  let out = "";
  while (out.length < length) {
    for (const byte of crypto.getRandomValues(new Uint8Array(length * 2))) {
      if (byte < 250 && out.length < length) out += String(byte % 10);
    }
  }
  return out;
}

/** hex(sha224(email + code)), as GoTrue's GenerateTokenHash. */
export function tokenHash(address: string, otp: string): string {
  return createHash("sha224").update(address + otp).digest("hex");
}

/** Whether a code sent at `sentAt` is still good (`otp_expiry` seconds). */
export function isExpired(
  sentAt: Date | string | null | undefined,
  expirySeconds: number,
): boolean {
  if (!sentAt) return true;
  return Date.now() > new Date(sentAt).getTime() + expirySeconds * 1000;
}

/** A presented hash matches a stored one, with or without the PKCE prefix. */
export function hashMatches(presented: string, stored: string | null | undefined): boolean {
  if (!stored) return false;
  return presented === stored || PKCE_PREFIX + presented === stored;
}

/** GoTrue's `max_frequency`: 429 over_email_send_rate_limit with the seconds left. */
export function checkFrequency(sentAt: Date | string | null | undefined, settings: AuthSettings) {
  if (!sentAt) return;
  const until = new Date(sentAt).getTime() + settings.email.maxFrequencyMs;
  const left = until - Date.now();
  if (left > 0) {
    throw new AuthError(
      429,
      "over_email_send_rate_limit",
      `For security purposes, you can only request this after ${Math.floor(left / 1000)} seconds.`,
    );
  }
}

// --- redirect_to -----------------------------------------------------------------------------

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);
const REGULAR_HOSTNAME = /^[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?$/;

/**
 * A glob of additional_redirect_urls as a RegExp, with GoTrue's rules (gobwas/glob with '.' and
 * '/' as separators): `*` stops at a separator, `**` does not, `?` is one non-separator
 * character, `{a,b}` alternatives, `[abc]` / `[!abc]` classes; everything else is literal.
 */
export function globToRegExp(glob: string): RegExp {
  let out = "";
  let inAlternatives = 0;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "\\" && i + 1 < glob.length) {
      out += escapeRegExp(glob[++i]!);
    } else if (c === "*") {
      if (glob[i + 1] === "*") {
        out += ".*";
        i++;
      } else {
        out += "[^./]*";
      }
    } else if (c === "?") {
      out += "[^./]";
    } else if (c === "[") {
      const end = glob.indexOf("]", i + 1);
      if (end === -1) {
        out += "\\[";
        continue;
      }
      let body = glob.slice(i + 1, end);
      const negate = body.startsWith("!");
      if (negate) body = body.slice(1);
      out += `[${negate ? "^" : ""}${body.replace(/[\\\]^]/g, "\\$&")}]`;
      i = end;
    } else if (c === "{") {
      inAlternatives++;
      out += "(?:";
    } else if (c === "}" && inAlternatives > 0) {
      inAlternatives--;
      out += ")";
    } else if (c === "," && inAlternatives > 0) {
      out += "|";
    } else {
      out += escapeRegExp(c);
    }
  }
  return new RegExp(`^${out}$`);
}

function escapeRegExp(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

/** The host as written (WHATWG URL parsing rewrites "2130706433" to 127.0.0.1; Go's does not). */
function rawHostname(url: string): string | null {
  const match = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/?#]*@)?(\[[^\]]*\]|[^:/?#]*)/i.exec(url);
  return match ? match[1]!.toLowerCase() : null;
}

/** GoTrue's IsRedirectURLValid. */
export function isRedirectAllowed(settings: AuthSettings, candidate: string): boolean {
  if (candidate === "") return false;
  let base: URL, target: URL;
  try {
    base = new URL(settings.siteUrl);
    target = new URL(candidate);
  } catch {
    return false;
  }
  const host = rawHostname(candidate);
  if (host === null) return false;
  if (
    rawHostname(settings.siteUrl) === host && base.protocol === target.protocol &&
    (base.port === target.port || LOOPBACK_HOSTS.has(host))
  ) {
    return true;
  }
  const isHttp = target.protocol === "http:" || target.protocol === "https:";
  if (/^[0-9]+$/.test(host)) return false; // a decimal IP address
  const bare = host.replace(/^\[|\]$/g, "");
  if (/^[0-9.]+$/.test(bare) || bare.includes(":")) {
    return bare === "::1" || /^127\.\d+\.\d+\.\d+$/.test(bare);
  }
  if (isHttp && !REGULAR_HOSTNAME.test(host)) return false;
  const withoutFragment = candidate.split("#")[0]!;
  return settings.email.additionalRedirectUrls.some((glob) =>
    globToRegExp(glob).test(withoutFragment)
  );
}

/**
 * Where a mail's link and /verify send the browser: the request's `redirect_to` (query
 * string, as supabase-js sends it), else its Referer, when allowed; else site_url.
 */
export function redirectTarget(settings: AuthSettings, request: Request, given?: unknown): string {
  const asked = typeof given === "string" && given !== ""
    ? given
    : new URL(request.url).searchParams.get("redirect_to") ?? "";
  if (isRedirectAllowed(settings, asked)) return asked;
  const referer = request.headers.get("referer") ?? "";
  if (isRedirectAllowed(settings, referer)) return referer;
  return settings.siteUrl;
}
