/**
 * WebAuthn factors' ceremonies, as GoTrue runs them with go-webauthn, here with the maintained
 * @simplewebauthn/server: an unverified factor's challenge asks the authenticator to create a
 * credential ("create"), a verified one's to use it ("request"). The relying party is
 * `[auth.webauthn]` (rp_display_name, rp_id, rp_origins).
 */
import { AuthError, badRequest } from "./errors.ts";
import type { AuthSettings } from "./settings.ts";
import type { UserRow } from "./users.ts";

/** Loaded at the first WebAuthn ceremony (~0.3 s of CPU that stacks without one never spend). */
const simpleWebAuthn = () => import("@simplewebauthn/server");

/** What a factor keeps of its credential once verified. */
export interface StoredCredential {
  id: string;
  publicKey: string; // base64url COSE key
  counter: number;
  transports?: string[];
}

/** What a challenge keeps until its verify. */
export interface CeremonySession {
  type: "create" | "request";
  challenge: string;
}

function relyingParty(settings: AuthSettings) {
  const rp = settings.mfa.webauthn;
  if (rp.rpId === "" || rp.rpOrigins.length === 0) {
    throw badRequest(
      "validation_failed",
      "WebAuthn needs [auth.webauthn] rp_id and rp_origins in supabase/config.toml",
    );
  }
  return rp;
}

function b64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
}

function fromB64url(text: string): Uint8Array<ArrayBuffer> {
  const bin = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/** The options for the browser (`{publicKey: ...}`, as go-webauthn answers) and the session. */
export async function ceremonyOptions(
  settings: AuthSettings,
  user: UserRow,
  factor: { status: string; web_authn_credential: StoredCredential | null },
  otherCredentials: StoredCredential[],
): Promise<{ session: CeremonySession; options: { publicKey: unknown } }> {
  const rp = relyingParty(settings);
  const { generateAuthenticationOptions, generateRegistrationOptions } = await simpleWebAuthn();
  if (factor.status !== "verified") {
    const options = await generateRegistrationOptions({
      rpName: rp.rpDisplayName || rp.rpId,
      rpID: rp.rpId,
      userName: user.email || user.id,
      userID: new TextEncoder().encode(user.id),
      attestationType: "none",
      excludeCredentials: otherCredentials.map((c) => ({ id: c.id })),
    });
    return {
      session: { type: "create", challenge: options.challenge },
      options: { publicKey: options },
    };
  }
  const credential = factor.web_authn_credential!;
  const options = await generateAuthenticationOptions({
    rpID: rp.rpId,
    allowCredentials: [{ id: credential.id }],
  });
  return {
    session: { type: "request", challenge: options.challenge },
    options: { publicKey: options },
  };
}

/**
 * Check the authenticator's answer to the challenge; the credential to keep (create) or its new
 * counter (request). GoTrue's answers: 400 for a malformed response, 500 when it does not verify.
 */
export async function verifyCeremony(
  settings: AuthSettings,
  session: CeremonySession,
  type: unknown,
  response: unknown,
  stored: StoredCredential | null,
): Promise<StoredCredential> {
  const rp = relyingParty(settings);
  if (type !== "create" && type !== "request") {
    throw badRequest("validation_failed", "WebAuthn type must be create or request");
  }
  if (response === undefined || response === null) {
    throw badRequest("validation_failed", "credential_response required");
  }
  if (typeof response !== "object" || type !== session.type) {
    throw badRequest("validation_failed", "Invalid credential_response");
  }
  const failed = (error: unknown) =>
    new AuthError(
      500,
      "unexpected_failure",
      `Failed to validate WebAuthn MFA response: ${(error as Error).message.slice(0, 200)}`,
    );
  const { verifyAuthenticationResponse, verifyRegistrationResponse } = await simpleWebAuthn();
  if (type === "create") {
    let result;
    try {
      result = await verifyRegistrationResponse({
        // deno-lint-ignore no-explicit-any
        response: response as any,
        expectedChallenge: session.challenge,
        expectedOrigin: rp.rpOrigins,
        expectedRPID: rp.rpId,
        requireUserVerification: false,
      });
    } catch (error) {
      throw failed(error);
    }
    if (!result.verified || !result.registrationInfo) throw failed(new Error("not verified"));
    const { credential } = result.registrationInfo;
    return {
      id: credential.id,
      publicKey: b64url(credential.publicKey),
      counter: credential.counter,
      ...(credential.transports ? { transports: credential.transports } : {}),
    };
  }
  if (!stored) throw badRequest("validation_failed", "Invalid credential_response");
  let result;
  try {
    result = await verifyAuthenticationResponse({
      // deno-lint-ignore no-explicit-any
      response: response as any,
      expectedChallenge: session.challenge,
      expectedOrigin: rp.rpOrigins,
      expectedRPID: rp.rpId,
      requireUserVerification: false,
      credential: {
        id: stored.id,
        publicKey: fromB64url(stored.publicKey),
        counter: stored.counter,
      },
    });
  } catch (error) {
    throw failed(error);
  }
  if (!result.verified) throw failed(new Error("not verified"));
  return { ...stored, counter: result.authenticationInfo.newCounter };
}
