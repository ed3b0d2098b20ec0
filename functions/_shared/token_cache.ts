/**
 * Verified-token cache (the idea PostgREST uses): once a token's signature and claims are
 * verified, the same token string maps to the same identity until it expires.
 *
 * Keyed by the exact token string, so two encodings of "the same" token can never share an
 * entry. An entry is dropped when the token expires, when it reaches `maxAgeMs`, or when
 * the key that verified it has left its issuer's JWKS (`retired`).
 */
import type { Identity } from "./identity.ts";

export interface CachedVerification {
  identity: Identity;
  /** Milliseconds since the epoch after which the entry must not be served. */
  validUntil: number;
  /** Present when a JWKS key verified the token: a retired key voids the entry. */
  key?: { retired: boolean };
}

export class TokenCache {
  readonly #entries = new Map<string, CachedVerification>();
  readonly #capacity: number;

  constructor(capacity: number) {
    this.#capacity = Math.max(0, Math.floor(capacity));
  }

  get size(): number {
    return this.#entries.size;
  }

  get(token: string, now: number): Identity | undefined {
    const entry = this.#entries.get(token);
    if (entry === undefined) return undefined;
    if (now >= entry.validUntil || entry.key?.retired) {
      this.#entries.delete(token);
      return undefined;
    }
    // Refresh recency: Map iteration order is insertion order, so the first key is the LRU.
    this.#entries.delete(token);
    this.#entries.set(token, entry);
    return entry.identity;
  }

  set(token: string, entry: CachedVerification): void {
    if (this.#capacity === 0) return;
    this.#entries.delete(token);
    if (this.#entries.size >= this.#capacity) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
    this.#entries.set(token, entry);
  }

  clear(): void {
    this.#entries.clear();
  }
}
