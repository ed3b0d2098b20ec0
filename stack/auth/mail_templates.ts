/**
 * The mails Auth sends, with GoTrue's default subjects and bodies (supabase/auth,
 * internal/mailer/templatemailer): the defaults carry the link only; a project that signs in
 * by code puts `{{ .Token }}` in its own template (`[auth.email.template.<kind>]`).
 *
 * Templates are Go templates upstream. Here a template may use field references only
 * (`{{ .ConfirmationURL }}`, `{{ .Token }}`, `{{ .Data.name }}`, ...); anything else (`if`,
 * `range`, pipes) is refused when the stack starts, naming the template, rather than sent wrong.
 * Values are HTML-escaped, as Go's html/template does.
 */

export const MAIL_KINDS = [
  "invite",
  "confirmation",
  "recovery",
  "magic_link",
  "email_change",
  "reauthentication",
] as const;
export type MailKind = typeof MAIL_KINDS[number];

const DEFAULT_SUBJECTS: Record<MailKind, string> = {
  invite: "You've been invited",
  confirmation: "Confirm your email address",
  recovery: "Reset your password",
  magic_link: "Your sign-in link",
  email_change: "Confirm your new email address",
  reauthentication: "{{ .Token }} is your verification code",
};

const DEFAULT_BODIES: Record<MailKind, string> = {
  invite: `<h2>You've been invited</h2>

<p>You've been invited to create an account. Follow the link below to accept.</p>
<p><a href="{{ .ConfirmationURL }}">Accept invitation</a></p>`,
  confirmation: `<h2>Confirm your email address</h2>

<p>Follow the link below to confirm this email address and finish signing up.</p>
<p><a href="{{ .ConfirmationURL }}">Confirm email address</a></p>
`,
  recovery: `<h2>Reset your password</h2>

<p>We received a request to reset your password. Follow the link below to choose a new one.</p>
<p><a href="{{ .ConfirmationURL }}">Reset password</a></p>
<p>If you didn't request this, you can safely ignore this email.</p>`,
  magic_link: `<h2>Your sign-in link</h2>

<p>Follow the link below to sign in. This link expires shortly and can only be used once.</p>
<p><a href="{{ .ConfirmationURL }}">Sign in</a></p>`,
  email_change: `<h2>Confirm your new email address</h2>

<p>Follow the link below to confirm {{ .NewEmail }} as your new email address.</p>
<p><a href="{{ .ConfirmationURL }}">Confirm new email address</a></p>
<p>If you didn't request this change, you can safely ignore this email.</p>`,
  reauthentication: `<h2>Your verification code</h2>

<p>Use the code below to verify your identity. It expires shortly.</p>
<p>{{ .Token }}</p>`,
};

/** GoTrue's template variables. */
export interface MailData {
  SiteURL: string;
  ConfirmationURL?: string;
  Email: string;
  NewEmail?: string;
  Token?: string;
  TokenHash?: string;
  Data?: Record<string, unknown>;
  RedirectTo?: string;
  SendingTo?: string;
}

const ACTION = /\{\{-?\s*(.*?)\s*-?\}\}/g;
const FIELD = /^\.([A-Za-z]+)(?:\.([A-Za-z_][A-Za-z0-9_]*))?$/;

/** Throws, naming the template, when it uses more than field references. */
export function checkTemplate(kind: MailKind, part: "subject" | "content", text: string): void {
  for (const [, action] of text.matchAll(ACTION)) {
    if (!FIELD.test(action!)) {
      throw new Error(
        `[auth.email.template.${kind}] ${part}: "{{ ${
          action!.slice(0, 40)
        } }}" is not supported by the local Auth (field references such as {{ .ConfirmationURL }}, {{ .Token }}, {{ .Data.name }} only)`,
      );
    }
  }
}

const HTML_ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&#34;",
  "'": "&#39;",
};

function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

function fill(text: string, data: MailData, escape: boolean): string {
  return text.replace(ACTION, (_all, action: string) => {
    const [, name, key] = FIELD.exec(action) ?? [];
    const record = data as unknown as Record<string, unknown>;
    let value = name ? record[name] : undefined;
    if (key !== undefined) value = (value as Record<string, unknown> | undefined)?.[key];
    const text = value === undefined || value === null
      ? ""
      : typeof value === "string"
      ? value
      : JSON.stringify(value);
    return escape ? escapeHtml(text) : text;
  });
}

export interface RenderedMail {
  subject: string;
  html: string;
}

/** The subject and HTML body of one mail, from the project's template or GoTrue's default. */
export function renderMail(
  kind: MailKind,
  data: MailData,
  custom: { subject?: string; content?: string } | undefined,
): RenderedMail {
  return {
    subject: fill(custom?.subject ?? DEFAULT_SUBJECTS[kind], data, false),
    html: fill(custom?.content ?? DEFAULT_BODIES[kind], data, true),
  };
}
