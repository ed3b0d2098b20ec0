/**
 * Verified-token cache (the idea PostgREST uses): once a token's signature and claims are
 * verified, the same token string maps to the same identity until it expires.
 *
 * Keyed by the exact token string, so two encodings of "the same" token can never share an
 * entry. An entry is dropped when the token expires, when it reaches its max age, or when
 * the key that verified it has left its issuer's JWKS (`retired`).
 *
 * Eviction is second-chance ("CLOCK"): a hit only sets a flag, so the hot path is one Map
 * lookup and two comparisons; when the cache is full, entries used since they were last
 * passed over are kept and the first unused one goes.
 */
import type { Identity } from "./identity.ts";

export interface CachedVerification {
  identity: Identity;
  /** Milliseconds since the epoch after which the entry must not be served. */
  validUntil: number;
  /** Present when a JWKS key verified the token: a retired key voids the entry. */
  key?: { retired: boolean };
}

interface Entry extends CachedVerification {
  used: boolean;
}

export class TokenCache {
  readonly #entries = new Map<string, Entry>();
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
    entry.used = true;
    return entry.identity;
  }

  set(token: string, value: CachedVerification): void {
    if (this.#capacity === 0) return;
    this.#entries.delete(token);
    if (this.#entries.size >= this.#capacity) this.#evictOne();
    this.#entries.set(token, { ...value, used: false });
  }

  clear(): void {
    this.#entries.clear();
  }

  #evictOne(): void {
    // Each pass over a used entry clears its flag and moves it to the back, so this ends
    // within one lap of the map.
    for (const [token, entry] of this.#entries) {
      this.#entries.delete(token);
      if (!entry.used) return;
      entry.used = false;
      this.#entries.set(token, entry);
    }
  }
}
