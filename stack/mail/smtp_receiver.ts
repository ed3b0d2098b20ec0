/**
 * The inbox's SMTP door (`[inbucket] smtp_port`, as Mailpit's): mail an app or the local Auth
 * sends by SMTP lands in the inbox. smtp-server receives, mailparser reads the message.
 * Binds 127.0.0.1 only; no authentication, no TLS (a local test server, as Mailpit's is).
 */
import { SMTPServer } from "smtp-server";
import type { Address, Inbox } from "./inbox.ts";

/** Largest message accepted (Mailpit's default is unbounded; a local stack wants a bound). */
export const MAX_MAIL_BYTES = 10 * 1024 * 1024;

export interface SmtpReceiver {
  port: number;
  close(): Promise<void>;
}

// deno-lint-ignore no-explicit-any
type ParsedAddress = { value?: { name?: string; address?: string }[] } | any;

function addresses(field: ParsedAddress | ParsedAddress[] | undefined): Address[] {
  const list = Array.isArray(field) ? field : field ? [field] : [];
  return list.flatMap((f) =>
    (f.value ?? []).map((v: { name?: string; address?: string }) => ({
      Name: v.name ?? "",
      Address: (v.address ?? "").toLowerCase(),
    }))
  );
}

export async function startSmtpReceiver(inbox: Inbox, port: number): Promise<SmtpReceiver> {
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS", "AUTH"],
    logger: false,
    size: MAX_MAIL_BYTES,
    banner: "local inbox",
    // deno-lint-ignore no-explicit-any
    onData(stream: any, session: any, done: (error?: Error) => void) {
      const chunks: Uint8Array<ArrayBuffer>[] = [];
      stream.on("data", (chunk: Uint8Array<ArrayBuffer>) => chunks.push(chunk));
      stream.on("end", async () => {
        if (stream.sizeExceeded) {
          const error = new Error("Message exceeds the local inbox's size limit") as Error & {
            responseCode: number;
          };
          error.responseCode = 552;
          return done(error);
        }
        try {
          const raw = new TextDecoder().decode(await new Blob(chunks).arrayBuffer());
          // Loaded with the first mail (~0.25 s of CPU a stack that sends none never spends).
          const { simpleParser } = await import("mailparser");
          const mail = await simpleParser(raw);
          const headers: Record<string, string[]> = {};
          for (const line of mail.headerLines ?? []) {
            const name = line.key.replace(/(^|-)\w/g, (c: string) => c.toUpperCase());
            (headers[name] ??= []).push(line.line.slice(line.line.indexOf(":") + 1).trim());
          }
          const envelopeTo = (session.envelope?.rcptTo ?? []).map((r: { address: string }) => ({
            Name: "",
            Address: r.address.toLowerCase(),
          }));
          const to = addresses(mail.to);
          inbox.add({
            ...(mail.messageId ? { messageId: mail.messageId } : {}),
            from: addresses(mail.from)[0] ??
              { Name: "", Address: session.envelope?.mailFrom?.address ?? "" },
            to: to.length > 0 ? to : envelopeTo,
            cc: addresses(mail.cc),
            bcc: addresses(mail.bcc),
            replyTo: addresses(mail.replyTo),
            subject: mail.subject ?? "",
            // mailparser makes text from HTML when a mail has none; the inbox does that itself,
            // Mailpit's way, so only a real text part is passed on.
            ...(mail.text && (!mail.html || hasTextPart(raw)) ? { text: mail.text } : {}),
            ...(mail.html ? { html: mail.html } : {}),
            headers,
            raw,
          });
          done();
        } catch (error) {
          done(error as Error);
        }
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  server.on("error", () => {}); // a client's broken connection is not the stack's problem
  const bound = (server as unknown as { server: { address(): { port: number } } }).server.address();
  return {
    port: bound.port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function hasTextPart(raw: string): boolean {
  return /content-type:\s*text\/plain/i.test(raw);
}
