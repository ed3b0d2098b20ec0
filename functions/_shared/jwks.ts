/**
 * A JSON Web Key Set with the failure behaviour an auth path needs:
 *
 * - one fetch for any number of concurrent cold requests (single flight);
 * - refetch for an unknown `kid` at most once per cooldown (a flood of made-up kids
 *   costs at most one fetch per cooldown, not one per request);
 * - fetch timeout, response size cap, redirects refused, `https` only (loopback excepted);
 * - stale-if-error: when a refresh fails, keys already known keep working for a bounded
 *   window, after which requests fail closed with 503 `jwks_unavailable`;
 * - keys that leave the set are marked `retired`, so caches built on them can drop entries.
 *
 * Keys unsuitable for verification are never imported: private keys, `use` other than
 * `sig`, `key_ops` without `verify`, symmetric keys, RSA moduli under 2048 bits.
 */
import { importJWK, type JWK } from "jose";
import { HttpError } from "./errors.ts";
import { assertSafeUrl, fetchJson, type FetchLimits } from "./outgoing.ts";
import { ASYMMETRIC_ALGORITHMS, type AsymmetricAlgorithm, base64UrlToBytes } from "./jwt.ts";

export interface JwksOptions extends Partial<FetchLimits> {
  /** Keys known up front (e.g. `SUPABASE_JWKS`); they never expire and are checked first. */
  initial?: unknown;
  /** Where to fetch the set; a function resolves it lazily (OIDC discovery). */
  url?: URL | (() => Promise<URL>);
  /** Minimum time between refetches caused by an unknown `kid`. */
  cooldownMs?: number;
  /** After this age the set is refreshed before use. */
  maxAgeMs?: number;
  /** How long past `maxAgeMs` known keys keep working while refreshes fail. */
  staleIfErrorMs?: number;
  /** After a failed fetch, do not try again for this long (requests are answered from cache or 503). */
  errorBackoffMs?: number;
  now?: () => number;
  /** Receives operational warnings; never given key material or tokens. */
  warn?: (message: string) => void;
}

/** One verification key, shared by every token it verified. */
export interface KeyEntry {
  readonly kid: string;
  readonly jwk: JWK;
  /** Set once the key has left the published set: tokens it verified are no longer trusted. */
  retired: boolean;
  readonly imported: Map<string, Promise<CryptoKey>>;
}

const DEFAULTS = {
  timeoutMs: 3_000,
  maxBytes: 256 * 1024,
  cooldownMs: 30_000,
  maxAgeMs: 10 * 60_000,
  staleIfErrorMs: 15 * 60_000,
  errorBackoffMs: 2_000,
};

export class JwksKeySet {
  #static = new Map<string, KeyEntry>();
  #remote = new Map<string, KeyEntry>();
  #url: JwksOptions["url"];
  #resolvedUrl: URL | undefined;
  #loadedAt: number | undefined;
  #lastAttemptAt: number | undefined;
  #lastFailureAt: number | undefined;
  #inflight: Promise<void> | undefined;
  #o: Required<Omit<JwksOptions, "initial" | "url">>;

  constructor(options: JwksOptions) {
    this.#url = options.url;
    this.#o = {
      timeoutMs: options.timeoutMs ?? DEFAULTS.timeoutMs,
      maxBytes: options.maxBytes ?? DEFAULTS.maxBytes,
      fetch: options.fetch ?? ((input, init) => fetch(input, init)),
      cooldownMs: options.cooldownMs ?? DEFAULTS.cooldownMs,
      maxAgeMs: options.maxAgeMs ?? DEFAULTS.maxAgeMs,
      staleIfErrorMs: options.staleIfErrorMs ?? DEFAULTS.staleIfErrorMs,
      errorBackoffMs: options.errorBackoffMs ?? DEFAULTS.errorBackoffMs,
      now: options.now ?? Date.now,
      warn: options.warn ?? ((message) => console.warn(message)),
    };
    if (options.initial !== undefined) {
      for (const entry of entriesOf(options.initial, "inline JWKS", this.#o.warn)) {
        this.#static.set(entry.kid, entry);
      }
    }
  }

  /** The key for a token's `kid` and `alg`, fetching the set only when it must. */
  async getKey(kid: string | undefined, alg: AsymmetricAlgorithm): Promise<KeyEntry> {
    if (kid === undefined) {
      throw new HttpError("unknown_key", 'The token has no "kid"; it cannot be matched to a key.');
    }
    const entry = this.#static.get(kid) ?? (await this.#remoteEntry(kid));
    if (!entry) {
      throw new HttpError(
        "unknown_key",
        "The token was signed by a key this issuer does not publish.",
        {
          hint: "If keys were just rotated, retry in a minute; otherwise sign in again.",
        },
      );
    }
    checkKeyFitsAlgorithm(entry.jwk, alg);
    return entry;
  }

  /** The imported WebCrypto key of an entry for one algorithm (imported once, then reused). */
  static cryptoKey(entry: KeyEntry, alg: AsymmetricAlgorithm): Promise<CryptoKey> {
    let key = entry.imported.get(alg);
    if (!key) {
      key = importJWK(entry.jwk, alg).then((k) => k as CryptoKey);
      key.catch(() => entry.imported.delete(alg));
      entry.imported.set(alg, key);
    }
    return key;
  }

  async #remoteEntry(kid: string): Promise<KeyEntry | undefined> {
    if (!this.#url) return undefined;
    const now = this.#o.now();
    const age = this.#loadedAt === undefined ? Infinity : now - this.#loadedAt;
    if (age >= this.#o.maxAgeMs) {
      await this.#refreshOrServeStale(age);
      return this.#remote.get(kid);
    }
    const known = this.#remote.get(kid);
    if (known) return known;
    const sinceAttempt = now - (this.#lastAttemptAt ?? -Infinity);
    if (this.#inflight || sinceAttempt >= this.#o.cooldownMs) {
      // An unknown kid may be a freshly rotated key: look once, then trust the cooldown.
      await this.#refresh().catch(() => undefined);
    }
    return this.#remote.get(kid);
  }

  async #refreshOrServeStale(age: number): Promise<void> {
    const now = this.#o.now();
    const inBackoff = this.#lastFailureAt !== undefined &&
      now - this.#lastFailureAt < this.#o.errorBackoffMs;
    if (!inBackoff || this.#inflight) {
      try {
        await this.#refresh();
        return;
      } catch {
        // fall through to the stale-if-error decision below
      }
    }
    const usable = this.#loadedAt !== undefined &&
      age < this.#o.maxAgeMs + this.#o.staleIfErrorMs;
    if (!usable) {
      throw new HttpError(
        "jwks_unavailable",
        "The issuer's signing keys cannot be fetched right now.",
        {
          hint: "Retry shortly; the operator should check the issuer's JWKS endpoint.",
        },
      );
    }
  }

  #refresh(): Promise<void> {
    this.#inflight ??= this.#load().finally(() => {
      this.#inflight = undefined;
    });
    return this.#inflight;
  }

  async #load(): Promise<void> {
    this.#lastAttemptAt = this.#o.now();
    try {
      const url = await this.#jwksUrl();
      const body = await fetchJson(url, this.#o);
      const fresh = new Map<string, KeyEntry>();
      for (const entry of entriesOf(body, url.href, this.#o.warn)) {
        const previous = this.#remote.get(entry.kid);
        const same = previous && JSON.stringify(previous.jwk) === JSON.stringify(entry.jwk);
        fresh.set(entry.kid, same ? previous : entry);
      }
      for (const [kid, entry] of this.#remote) {
        if (fresh.get(kid) !== entry) entry.retired = true;
      }
      this.#remote = fresh;
      this.#loadedAt = this.#o.now();
      this.#lastFailureAt = undefined;
    } catch (error) {
      this.#lastFailureAt = this.#o.now();
      this.#o.warn(`jwks: refresh failed: ${error instanceof Error ? error.message : "error"}`);
      throw error;
    }
  }

  async #jwksUrl(): Promise<URL> {
    if (this.#resolvedUrl) return this.#resolvedUrl;
    const url = typeof this.#url === "function" ? await this.#url() : this.#url!;
    assertSafeUrl(url, "JWKS URL");
    this.#resolvedUrl = url;
    return url;
  }
}

/** The verification keys of a JWKS document that pass the checks above, public members only. */
export function publicKeys(body: unknown, source: string, warn: (m: string) => void): JWK[] {
  return entriesOf(body, source, warn).map((entry) => entry.jwk);
}

/** Usable verification keys of a JWKS document (`{keys:[...]}` or a bare array). */
function entriesOf(body: unknown, source: string, warn: (m: string) => void): KeyEntry[] {
  const keys = Array.isArray(body)
    ? body
    : typeof body === "object" && body !== null && Array.isArray((body as { keys?: unknown }).keys)
    ? (body as { keys: unknown[] }).keys
    : undefined;
  if (!keys) throw new Error(`${source} is not a JWK Set`);
  const entries: KeyEntry[] = [];
  for (const key of keys) {
    const problem = unusableReason(key);
    if (problem) {
      warn(`jwks: ignoring a key from ${source}: ${problem}`);
      continue;
    }
    const jwk = key as JWK & { kid: string };
    entries.push({ kid: jwk.kid, jwk: publicPart(jwk), retired: false, imported: new Map() });
  }
  return entries;
}

const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "k"];
const MIN_RSA_BITS = 2048;

function unusableReason(key: unknown): string | undefined {
  if (typeof key !== "object" || key === null || Array.isArray(key)) return "not an object";
  const jwk = key as Record<string, unknown>;
  if (typeof jwk.kid !== "string" || jwk.kid === "") return "no kid";
  if (jwk.kty !== "EC" && jwk.kty !== "RSA" && jwk.kty !== "OKP") return "not an asymmetric key";
  if (PRIVATE_MEMBERS.some((m) => m in jwk)) return "it holds private key material";
  if (jwk.use !== undefined && jwk.use !== "sig") return "its use is not sig";
  if (
    jwk.key_ops !== undefined &&
    !(Array.isArray(jwk.key_ops) && jwk.key_ops.includes("verify"))
  ) return "its key_ops do not include verify";
  if (jwk.kty === "RSA") {
    if (typeof jwk.n !== "string" || typeof jwk.e !== "string") return "RSA key without n/e";
    if (rsaModulusBits(jwk.n) < MIN_RSA_BITS) return `RSA modulus under ${MIN_RSA_BITS} bits`;
  }
  return undefined;
}

function rsaModulusBits(n: string): number {
  let bytes: Uint8Array;
  try {
    bytes = base64UrlToBytes(n);
  } catch {
    return 0;
  }
  let i = 0;
  while (i < bytes.length && bytes[i] === 0) i++;
  if (i === bytes.length) return 0;
  return (bytes.length - i - 1) * 8 + (32 - Math.clz32(bytes[i]!));
}

/** The public members of a JWK (private ones, such as `d`, are never copied). */
export function publicPart(jwk: JWK): JWK {
  const { kty, crv, x, y, n, e, alg, kid, use } = jwk;
  const out: JWK = { kty };
  for (const [k, v] of Object.entries({ crv, x, y, n, e, alg, kid, use })) {
    if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  }
  return out;
}

/** The token's `alg` must fit the key's type and curve, and the key's own `alg` if it has one. */
function checkKeyFitsAlgorithm(jwk: JWK, alg: AsymmetricAlgorithm): void {
  const need: { kty: string; crv?: string } = ASYMMETRIC_ALGORITHMS[alg];
  const algMatches = jwk.alg === undefined || jwk.alg === alg ||
    (isEdDsa(jwk.alg) && isEdDsa(alg));
  if (jwk.kty !== need.kty || (need.crv !== undefined && jwk.crv !== need.crv) || !algMatches) {
    throw new HttpError("unsupported_algorithm", "The token's algorithm does not match its key.");
  }
}

function isEdDsa(alg: string): boolean {
  return alg === "EdDSA" || alg === "Ed25519";
}
