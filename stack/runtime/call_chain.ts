/**
 * Function-to-function calls, held to a budget per request chain as the platform holds them
 * (at least 5,000 calls a minute per chain; over it, the caller's `fetch` throws
 * RateLimitError). The gateway names each outside request a new chain and hands the id to the
 * function; the function's host forwards it on calls to /functions/v1 (function_host.ts), and
 * the gateway counts those calls here. An id the gateway did not hand out starts a new chain.
 */

export const CALL_CHAIN_HEADER = "x-edge-call-chain";
/** On a refusal: which limit (so the caller's host can throw the platform's error). */
export const CALL_LIMIT_HEADER = "x-edge-call-limit";

interface Chain {
  windowStart: number;
  calls: number;
  lastSeen: number;
}

export class CallChains {
  readonly #chains = new Map<string, Chain>();

  constructor(
    readonly perMinute = 5000,
    readonly maxChains = 10_000,
    readonly now: () => number = Date.now,
  ) {}

  /**
   * The chain of an arriving request: a known id's call is counted (or refused, with the
   * seconds until its budget refills); anything else is the start of a new chain.
   */
  admit(presented: string | null): { id: string } | { retryAfter: number } {
    const now = this.now();
    const chain = presented === null ? undefined : this.#chains.get(presented);
    if (!chain) return { id: this.#start(now) };
    if (now - chain.windowStart >= 60_000) {
      chain.windowStart = now;
      chain.calls = 0;
    }
    chain.lastSeen = now;
    if (chain.calls >= this.perMinute) {
      return { retryAfter: Math.max(1, Math.ceil((chain.windowStart + 60_000 - now) / 1000)) };
    }
    chain.calls++;
    return { id: presented! };
  }

  #start(now: number): string {
    if (this.#chains.size >= this.maxChains) {
      // Forget chains idle for two minutes; if none, the oldest (Map keeps insertion order).
      for (const [id, chain] of this.#chains) {
        if (now - chain.lastSeen > 120_000) this.#chains.delete(id);
      }
      if (this.#chains.size >= this.maxChains) {
        this.#chains.delete(this.#chains.keys().next().value!);
      }
    }
    const id = crypto.randomUUID();
    this.#chains.set(id, { windowStart: now, calls: 0, lastSeen: now });
    return id;
  }
}
