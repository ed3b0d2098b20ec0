/**
 * Passwords as Supabase Auth stores them: bcrypt, cost 10 (Go's bcrypt.DefaultCost, which
 * Auth uses), `$2a$` hashes. pgcrypto's `crypt(pw, gen_salt('bf'))` writes `$2a$` too and
 * does not accept `$2b$` (it answers a different hash), so hashes made here are written as
 * `$2a$`: the same algorithm for passwords up to 72 bytes, which is Auth's limit anyway.
 * Users a seed.sql creates with pgcrypto sign in here, and hashes made here check in SQL.
 *
 * The work runs in a small pool of workers so that sign-ins do not stall the stack.
 */
export const BCRYPT_COST = 10;
/** Auth's MaxPasswordLength. */
export const MAX_PASSWORD_LENGTH = 72;

/** The cost a bcrypt hash was made at, or null for anything that is not a bcrypt hash. */
export function bcryptCost(hash: string): number | null {
  const match = /^\$2[aby]\$(\d{2})\$/.exec(hash);
  return match ? Number(match[1]) : null;
}

type Pending = { resolve(value: unknown): void; reject(error: Error): void };

export class PasswordHasher {
  #workers: Worker[] | null = null;
  readonly #size: number;
  readonly #pending = new Map<number, Pending>();
  #next = 0;

  /** The workers start with the first password (many stacks never see one: test stacks). */
  constructor(size = 2) {
    this.#size = size;
  }

  #start(): Worker[] {
    return this.#workers ??= Array.from({ length: this.#size }, () => {
      const worker = new Worker(new URL("./bcrypt_worker.ts", import.meta.url), { type: "module" });
      worker.onmessage = (
        event: MessageEvent<{ id: number; result?: unknown; error?: string }>,
      ) => {
        const job = this.#pending.get(event.data.id);
        if (!job) return;
        this.#pending.delete(event.data.id);
        if (event.data.error !== undefined) job.reject(new Error(event.data.error));
        else job.resolve(event.data.result);
      };
      return worker;
    });
  }

  #run(message: Record<string, unknown>): Promise<unknown> {
    const id = ++this.#next;
    const workers = this.#start();
    const worker = workers[id % workers.length]!;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      worker.postMessage({ id, ...message });
    });
  }

  async hash(password: string): Promise<string> {
    const hash = await this.#run({ op: "hash", password, cost: BCRYPT_COST }) as string;
    return hash.replace(/^\$2b\$/, "$2a$");
  }

  /** False for a missing or malformed hash (never throws on stored data). */
  async compare(password: string, hash: string | null): Promise<boolean> {
    if (!hash || bcryptCost(hash) === null) return false;
    try {
      return await this.#run({ op: "compare", password, hash }) as boolean;
    } catch {
      return false;
    }
  }

  close(): void {
    for (const worker of this.#workers ?? []) worker.terminate();
    this.#workers = [];
    for (const job of this.#pending.values()) job.reject(new Error("stack stopped"));
    this.#pending.clear();
  }
}
