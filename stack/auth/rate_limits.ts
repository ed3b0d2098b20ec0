/**
 * Supabase Auth's request rate limits, as its limiter applies them (supabase/auth,
 * internal/api/apilimiter): a token bucket per route and client address, refilled at
 * `limit / window` per second, holding at most `burst` requests (30, or the limit itself for
 * anonymous sign-ins). Over it: 429 `over_request_rate_limit` "Request rate limit reached".
 *
 * `[auth.rate_limit]` of config.toml sets the limits with the Supabase CLI's keys and defaults;
 * which route counts against which limit is GoTrue's:
 *
 *   sign_in_sign_ups     POST /signup (not anonymous), /otp, /magiclink, /recover, /resend,
 *                        PUT /user                                    (per 5 minutes)
 *   anonymous_users      POST /signup without email or phone          (per hour)
 *   token_refresh        POST /token, every grant                     (per 5 minutes)
 *   token_verifications  GET/POST /verify                             (per 5 minutes)
 *   (MFA)                POST /factors/{id}/challenge and /verify, 15 a minute (GoTrue's default)
 *
 * The client address is what the gateway forwards: everyone on this machine shares 127.0.0.1
 * unless a proxy the gateway trusts (GATEWAY_TRUSTED_PROXIES) names the client.
 */
import { AuthError } from "./errors.ts";

export interface RateLimitSettings {
  /** `[auth.rate_limit]`: requests per window per client address. */
  signInSignUps: number;
  anonymousUsers: number;
  tokenRefresh: number;
  tokenVerifications: number;
  /** Emails per hour, project-wide (applied where mail is sent). */
  emailSent: number;
  /** MFA challenges and verifications per minute (GoTrue's default; no CLI key). */
  mfaChallengeAndVerify: number;
}

/** The Supabase CLI's defaults (`supabase init`). */
export const DEFAULT_RATE_LIMITS: RateLimitSettings = {
  signInSignUps: 30,
  anonymousUsers: 30,
  tokenRefresh: 150,
  tokenVerifications: 30,
  emailSent: 2,
  mfaChallengeAndVerify: 15,
};

interface Bucket {
  tokens: number;
  at: number;
}

/** One limiter: a bucket per client address, forgotten after `ttlMs` without requests. */
class Limiter {
  readonly #buckets = new Map<string, Bucket>();
  readonly #perMs: number;

  constructor(limit: number, windowMs: number, readonly burst: number, readonly ttlMs: number) {
    this.#perMs = limit / windowMs;
  }

  take(key: string, now: number): boolean {
    let bucket = this.#buckets.get(key);
    if (!bucket || now - bucket.at > this.ttlMs) {
      bucket = { tokens: this.burst, at: now };
      if (this.#buckets.size > 100_000) this.#buckets.clear(); // bounded, whatever the traffic
    } else {
      bucket.tokens = Math.min(this.burst, bucket.tokens + (now - bucket.at) * this.#perMs);
      bucket.at = now;
    }
    this.#buckets.set(key, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }
}

const FIVE_MINUTES = 5 * 60_000;
const HOUR = 60 * 60_000;

/** Each of these has limiters of its own, as in GoTrue. */
export type LimitedRoute =
  | "signup"
  | "otp"
  | "magiclink"
  | "recover"
  | "resend"
  | "user"
  | "anonymous"
  | "token"
  | "verify"
  | "factor_challenge"
  | "factor_verify";

export class RateLimits {
  readonly #limiters: Record<LimitedRoute, Limiter>;

  constructor(settings: RateLimitSettings, readonly now: () => number = Date.now) {
    const per5m = (limit: number) => new Limiter(limit, FIVE_MINUTES, 30, HOUR);
    this.#limiters = {
      signup: per5m(settings.signInSignUps),
      otp: per5m(settings.signInSignUps),
      magiclink: per5m(settings.signInSignUps),
      recover: per5m(settings.signInSignUps),
      resend: per5m(settings.signInSignUps),
      user: per5m(settings.signInSignUps),
      anonymous: new Limiter(settings.anonymousUsers, HOUR, settings.anonymousUsers, HOUR),
      token: per5m(settings.tokenRefresh),
      verify: per5m(settings.tokenVerifications),
      factor_challenge: new Limiter(settings.mfaChallengeAndVerify, 60_000, 30, 60_000),
      factor_verify: new Limiter(settings.mfaChallengeAndVerify, 60_000, 30, 60_000),
    };
  }

  /** Count one request of `route` from `client`, or throw Auth's 429. */
  check(route: LimitedRoute, client: string): void {
    if (!this.#limiters[route].take(client, this.now())) {
      throw new AuthError(429, "over_request_rate_limit", "Request rate limit reached");
    }
  }
}
