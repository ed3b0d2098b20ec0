/**
 * A software authenticator for tests: ES256 (P-256) credentials made with WebCrypto, answers
 * encoded with the maintained cborg, shaped as browsers hand them to `navigator.credentials`
 * callers (the JSON that @simplewebauthn and supabase-js pass on). Attestation "none".
 */
import { encode } from "cborg";

const text = (s: string) => new TextEncoder().encode(s);
const b64url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const fromB64url = (s: string) =>
  Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

/** An ASN.1 DER INTEGER of a big-endian unsigned number. */
function derInteger(bytes: Uint8Array): Uint8Array {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const trimmed = bytes.slice(i);
  const body = trimmed[0]! & 0x80 ? concat(new Uint8Array([0]), trimmed) : trimmed;
  return concat(new Uint8Array([0x02, body.length]), body);
}

export interface SoftAuthenticator {
  credentialId: string;
  create(publicKey: { challenge: string }): Promise<Record<string, unknown>>;
  get(publicKey: { challenge: string }): Promise<Record<string, unknown>>;
}

export async function softAuthenticator(rpId: string, origin: string): Promise<SoftAuthenticator> {
  const keys = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ]);
  const jwk = await crypto.subtle.exportKey("jwk", keys.publicKey);
  const credentialId = crypto.getRandomValues(new Uint8Array(16));
  const rpIdHash = new Uint8Array(await crypto.subtle.digest("SHA-256", text(rpId)));
  let counter = 0;
  const header = (flags: number) => {
    const count = new Uint8Array(4);
    new DataView(count.buffer).setUint32(0, counter);
    return concat(rpIdHash, new Uint8Array([flags]), count);
  };
  const clientData = (type: string, challenge: string) =>
    text(JSON.stringify({ type, challenge, origin, crossOrigin: false }));
  const id = b64url(credentialId);
  return {
    credentialId: id,
    create(publicKey) {
      const cose = encode(
        new Map<number, number | Uint8Array>([
          [1, 2], // kty: EC2
          [3, -7], // alg: ES256
          [-1, 1], // crv: P-256
          [-2, fromB64url(jwk.x!)],
          [-3, fromB64url(jwk.y!)],
        ]),
      );
      const length = new Uint8Array([credentialId.length >> 8, credentialId.length & 0xff]);
      // Flags: user present (0x01) and attested credential data (0x40).
      const authData = concat(header(0x41), new Uint8Array(16), length, credentialId, cose);
      const attestationObject = encode({ fmt: "none", attStmt: {}, authData });
      return Promise.resolve({
        id,
        rawId: id,
        type: "public-key",
        response: {
          clientDataJSON: b64url(clientData("webauthn.create", publicKey.challenge)),
          attestationObject: b64url(attestationObject),
          transports: ["usb"],
        },
        clientExtensionResults: {},
      });
    },
    async get(publicKey) {
      counter++;
      const authData = header(0x01);
      const data = clientData("webauthn.get", publicKey.challenge);
      const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
      const raw = new Uint8Array(
        await crypto.subtle.sign(
          { name: "ECDSA", hash: "SHA-256" },
          keys.privateKey,
          concat(authData, hash),
        ),
      );
      const r = derInteger(raw.slice(0, 32));
      const s = derInteger(raw.slice(32));
      const signature = concat(new Uint8Array([0x30, r.length + s.length]), r, s);
      return {
        id,
        rawId: id,
        type: "public-key",
        response: {
          clientDataJSON: b64url(data),
          authenticatorData: b64url(authData),
          signature: b64url(signature),
        },
        clientExtensionResults: {},
      };
    },
  };
}
