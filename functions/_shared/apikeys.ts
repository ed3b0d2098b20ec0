/**
 * Project API keys: publishable (`sb_publishable_...`) and secret (`sb_secret_...`) keys,
 * each under a name, plus the legacy `anon` / `service_role` JWT keys.
 *
 * A presented key is hashed once and compared with every configured key's hash in
 * constant time, without stopping at the first match, so response timing says nothing
 * about which key (or how much of one) was guessed right. A value whose length no key
 * has (every user token, mostly) is answered at once, without hashing: that tells only
 * the keys' lengths, which their formats make public anyway, and it keeps a hash off the
 * path of every authenticated request.
 */
import { createHash, timingSafeEqual } from "node:crypto";

export type ApiKeyKind = "publishable" | "secret";

export interface ApiKeyMatch {
  kind: ApiKeyKind;
  /** The key's name in SUPABASE_*_KEYS, or `anon` / `service_role` for legacy keys. */
  name: string;
  legacy: boolean;
}

export interface ApiKeyRingInput {
  publishable?: Readonly<Record<string, string>>;
  secret?: Readonly<Record<string, string>>;
  legacyAnon?: string;
  legacyServiceRole?: string;
}

interface StoredKey extends ApiKeyMatch {
  digest: Buffer;
}

export const PUBLISHABLE_PREFIX = "sb_publishable_";
export const SECRET_PREFIX = "sb_secret_";

export class ApiKeyRing {
  readonly #keys: StoredKey[] = [];
  readonly #lengths = new Set<number>();

  constructor(input: ApiKeyRingInput) {
    for (const [name, value] of Object.entries(input.publishable ?? {})) {
      this.#add(value, { kind: "publishable", name, legacy: false });
    }
    for (const [name, value] of Object.entries(input.secret ?? {})) {
      this.#add(value, { kind: "secret", name, legacy: false });
    }
    if (input.legacyAnon) {
      this.#add(input.legacyAnon, { kind: "publishable", name: "anon", legacy: true });
    }
    if (input.legacyServiceRole) {
      this.#add(input.legacyServiceRole, { kind: "secret", name: "service_role", legacy: true });
    }
  }

  get size(): number {
    return this.#keys.length;
  }

  /** The configured key equal to `presented`, or null. */
  match(presented: string): ApiKeyMatch | null {
    if (!this.#lengths.has(presented.length)) return null;
    const digest = sha256(presented);
    let found: StoredKey | null = null;
    for (const key of this.#keys) {
      // Every key is compared; no early exit.
      if (timingSafeEqual(digest, key.digest) && found === null) found = key;
    }
    return found && { kind: found.kind, name: found.name, legacy: found.legacy };
  }

  /** First configured key of a kind, preferring the one named `default`. */
  first(kind: ApiKeyKind, legacy: boolean): string | undefined {
    return this.#values.get(`${kind}:${legacy}`);
  }

  #values = new Map<string, string>();

  #add(value: string, match: ApiKeyMatch): void {
    this.#keys.push({ ...match, digest: sha256(value) });
    this.#lengths.add(value.length);
    const slot = `${match.kind}:${match.legacy}`;
    if (!this.#values.has(slot) || match.name === "default") this.#values.set(slot, value);
  }
}

/** Shape test only (not a check): does this string look like a new-style API key? */
export function looksLikeApiKey(value: string): boolean {
  return value.startsWith(PUBLISHABLE_PREFIX) || value.startsWith(SECRET_PREFIX);
}

function sha256(value: string): Buffer {
  return createHash("sha256").update(value, "utf8").digest();
}
