/**
 * Sending Auth's mails: rendered from the templates (./mail_templates.ts), sent over SMTP with
 * nodemailer, to `[auth.email.smtp]` when the project sets one, else to the local inbox's SMTP
 * door. With neither (the inbox disabled, no SMTP), mails are dropped with a log line, as
 * GoTrue's no-op mailer does.
 *
 * `[auth.rate_limit] email_sent` (per hour, project-wide) applies to a real SMTP server only:
 * the Supabase CLI lifts it for its local inbox, and so does this stack.
 */
import { AuthError } from "./errors.ts";
import { type MailData, type MailKind, renderMail } from "./mail_templates.ts";
import type { AuthSettings } from "./settings.ts";

export interface Mailer {
  send(kind: MailKind, to: string, data: MailData): Promise<void>;
  close(): void;
}

export interface MailerOptions {
  settings: AuthSettings;
  /** The local inbox's SMTP port, or null when there is no inbox. */
  inboxSmtpPort: number | null;
  log: (line: string) => void;
}

const HOUR = 3600_000;

export function createMailer(options: MailerOptions): Mailer {
  const { settings, log } = options;
  const smtp = settings.email.smtp;
  // nodemailer loads with the first mail, and its transport is made once (~0.1 s of CPU a
  // stack that sends none never spends).
  type Transport = ReturnType<typeof import("nodemailer").createTransport>;
  let made: Promise<Transport | null> | undefined;
  const transportFor = () =>
    made ??= import("nodemailer").then(({ default: nodemailer }) =>
      smtp
        ? nodemailer.createTransport({
          host: smtp.host,
          port: smtp.port,
          secure: smtp.port === 465,
          ...(smtp.user !== "" ? { auth: { user: smtp.user, pass: smtp.pass } } : {}),
        })
        : options.inboxSmtpPort !== null
        ? nodemailer.createTransport({
          host: "127.0.0.1",
          port: options.inboxSmtpPort,
          secure: false,
          ignoreTLS: true,
        })
        : null
    );
  const from = smtp
    ? { name: smtp.senderName, address: smtp.adminEmail }
    : { name: settings.email.senderName, address: settings.email.adminEmail };
  const sentAt: number[] = [];
  return {
    async send(kind, to, data) {
      if (smtp) {
        const now = Date.now();
        while (sentAt.length > 0 && sentAt[0]! < now - HOUR) sentAt.shift();
        if (sentAt.length >= settings.rateLimits.emailSent) {
          throw new AuthError(429, "over_email_send_rate_limit", "Email rate limit exceeded");
        }
        sentAt.push(now);
      }
      const mail = renderMail(kind, data, settings.email.templates[kind]);
      const transport = await transportFor();
      if (!transport) {
        log(`[auth] ${kind} mail not sent: no [auth.email.smtp] and the inbox is disabled`);
        return;
      }
      try {
        await transport.sendMail({ from, to, subject: mail.subject, html: mail.html });
      } catch (error) {
        // The SMTP server's own words can name the account; the log keeps the reason only.
        log(`[auth] sending a ${kind} mail failed: ${(error as Error).message.slice(0, 200)}`);
        const what = kind === "magic_link" ? "magic link" : kind.replace("_", " ");
        throw new AuthError(500, "unexpected_failure", `Error sending ${what} email`);
      }
    },
    close() {
      made?.then((t) => t?.close()).catch(() => {});
    },
  };
}
