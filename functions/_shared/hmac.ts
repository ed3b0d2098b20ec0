/** HS256 keys, imported once and reused (jose would import raw bytes on every call). */
export function importHmacKey(
  secret: Uint8Array,
  usages: ("sign" | "verify")[],
): Promise<CryptoKey> {
  return crypto.subtle.importKey(
    "raw",
    secret as BufferSource,
    { name: "HMAC", hash: "SHA-256" },
    false,
    usages,
  );
}
