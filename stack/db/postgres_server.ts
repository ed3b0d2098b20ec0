/**
 * A real PostgreSQL server for the local stack: one cluster (data directory) per stack, listening
 * on 127.0.0.1 only (no Unix socket), passwords checked (scram-sha-256), the bootstrap superuser
 * `supabase_admin` as on a hosted project.
 *
 * - New clusters are copies of a template made once per installed major with initdb, so a new
 *   one (a fresh test stack, `start --reset`) costs a directory copy, not an initdb.
 * - PostgreSQL refuses to run as root: where the stack runs as root, initdb and the server run
 *   as an unprivileged user (`EDGE_POSTGRES_USER`, default `nobody`) through util-linux's
 *   `setpriv`, and the cluster's files belong to that user.
 * - A server left running by a stack that was killed (its `postmaster.pid` names a live
 *   postgres serving this directory) is shut down before a new one starts; a stale pid file of
 *   a dead or unrelated process is removed, so it never blocks a start.
 * - The superuser's password is random per cluster and kept in the cluster
 *   (`<data>/supabase_admin.password`, 0600), so it survives the loss of `.local/keys.json`.
 */
import postgres from "postgres";
import { TOOLS_DIR } from "../tools.ts";
import { guardChild } from "../watchdog.ts";
import type { PostgresBinaries } from "./postgres_binaries.ts";

export const SUPERUSER = "supabase_admin";
const PASSWORD_FILE = "supabase_admin.password";

export interface ServerOptions {
  binaries: PostgresBinaries;
  /** The cluster's directory; created from the template when it holds no cluster. */
  dataDir: string;
  port: number;
  /** A throwaway cluster (tests, gen-types): no fsync, and its directory goes at stop(). */
  ephemeral: boolean;
  /**
   * The stack's own folder above `dataDir` (its state directory): where the server runs as
   * another user, folders from here down are given search permission (o+x) if they lack it.
   */
  ownFolder?: string;
  log: (line: string) => void;
}

export interface PostgresServer {
  port: number;
  pid: number;
  dataDir: string;
  superuserPassword: string;
  /** True when this start created the cluster (nothing in it yet). */
  created: boolean;
  /** Resolves with the exit code if the server stops without being asked to. */
  exited: Promise<number>;
  stop(): Promise<void>;
}

/** The OS account the server runs as: null for "this process's own". */
interface RunAs {
  name: string;
  uid: number;
  gid: number;
}

function randomSecret(): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(24)),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
}

async function output(cmd: string, args: string[]): Promise<string | null> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "null" }).output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : null;
  } catch {
    return null;
  }
}

let runAsCache: Promise<RunAs | null> | undefined;

/** Root runs the server as EDGE_POSTGRES_USER (default nobody); anyone else as themselves. */
function runAs(): Promise<RunAs | null> {
  runAsCache ??= (async () => {
    if (Deno.uid() !== 0) return null;
    const name = Deno.env.get("EDGE_POSTGRES_USER") ?? "nobody";
    const uid = Number(await output("id", ["-u", name]));
    const gid = Number(await output("id", ["-g", name]));
    if (!Number.isInteger(uid) || !Number.isInteger(gid) || uid === 0) {
      throw new Error(
        `PostgreSQL refuses to run as root, and user "${name}" to run it as was not found: ` +
          "set EDGE_POSTGRES_USER to an unprivileged user",
      );
    }
    if (await output("setpriv", ["--version"]) === null) {
      throw new Error(
        "PostgreSQL refuses to run as root, and setpriv (util-linux) is not installed to drop to " +
          `"${name}": install util-linux, run the stack as a normal user, or set DATABASE_URL`,
      );
    }
    return { name, uid, gid };
  })();
  return runAsCache;
}

/** The command line that runs `program` as the server's account. */
function asServerUser(user: RunAs | null, program: string, args: string[]): [string, string[]] {
  if (!user) return [program, args];
  return [
    "setpriv",
    [`--reuid=${user.uid}`, `--regid=${user.gid}`, "--clear-groups", "--", program, ...args],
  ];
}

async function giveTo(user: RunAs | null, path: string): Promise<void> {
  if (user) await Deno.chown(path, user.uid, user.gid);
}

/**
 * The server's account must be able to walk down to the cluster and the binaries. Folders the
 * stack owns (`ownFolder` and below) get search permission, which lists nothing; any other
 * folder in the way is a clear error, not a silent chmod of the user's folders.
 */
async function ensureReachable(
  user: RunAs,
  target: string,
  ownFolder: string | null,
): Promise<void> {
  const parts = target.split("/").filter(Boolean);
  let path = "";
  for (const part of parts) {
    path += `/${part}`;
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(path);
    } catch {
      return; // below here is made by the stack itself
    }
    if (!info.isDirectory) return;
    const mode = info.mode ?? 0o755;
    const reachable = (mode & 0o001) !== 0 || (info.uid === user.uid && (mode & 0o100) !== 0) ||
      (info.gid === user.gid && (mode & 0o010) !== 0);
    if (reachable) continue;
    if (ownFolder && (path === ownFolder || path.startsWith(`${ownFolder}/`))) {
      await Deno.chmod(path, mode | 0o001);
      continue;
    }
    throw new Error(
      `PostgreSQL runs as "${user.name}" (it refuses root), and "${user.name}" cannot enter ${path}: ` +
        `run the stack as a normal user, set EDGE_POSTGRES_USER to a user that can, or move the ` +
        `project (or EDGE_STACK_DIR) out of ${path}`,
    );
  }
}

/**
 * Where a cluster lives: its own folder, or, where the stack runs as root in a folder the
 * server's user cannot enter (a 0700 temp folder, /root), a folder of its own under /var/tmp,
 * the same one every time for the same folder.
 */
export async function placeCluster(
  dataDir: string,
  ownFolder: string | null,
  log: (line: string) => void,
): Promise<string> {
  const user = await runAs();
  if (!user) return dataDir;
  try {
    await ensureReachable(user, dataDir, ownFolder);
    return dataDir;
  } catch (error) {
    const moved = await relocatedCluster(dataDir);
    log(`[postgres] ${(error as Error).message.split(":")[0]}: the cluster is in ${moved}`);
    return moved;
  }
}

async function relocatedCluster(dataDir: string): Promise<string> {
  const base = "/var/tmp/edge-auth-postgres";
  await Deno.mkdir(base, { recursive: true, mode: 0o711 });
  await Deno.chmod(base, 0o711);
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(dataDir)),
  );
  const tag = Array.from(digest.slice(0, 8), (b) => b.toString(16).padStart(2, "0")).join("");
  const folder = `${base}/${tag}`;
  await Deno.mkdir(folder, { recursive: true, mode: 0o711 });
  return `${folder}/${dataDir.split("/").pop()}`;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function run(user: RunAs | null, program: string, args: string[], what: string) {
  const [cmd, argv] = asServerUser(user, program, args);
  const out = await new Deno.Command(cmd, {
    args: argv,
    env: { LC_ALL: "C", TZ: "UTC" },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    const said = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" | ");
    throw new Error(`${what} failed: ${said}`);
  }
}

/** Where the template cluster of these binaries, owned by this account, lives. */
async function templateDir(binaries: PostgresBinaries, user: RunAs | null): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(binaries.bin)),
  );
  const tag = Array.from(digest.slice(0, 4), (b) => b.toString(16).padStart(2, "0")).join("");
  const owner = user?.uid ?? Deno.uid() ?? "any";
  // "w1": 1 MB WAL segments (initdb's default is 16 MB), so a new cluster copies 28 MB, not 39.
  return `${TOOLS_DIR}/postgres/templates/${binaries.major}-${tag}-${owner}-w1`;
}

/**
 * The template cluster: initdb once (about a second), then only copied. Made under a temporary
 * name and renamed into place, so concurrent first starts (parallel tests) never see half of one.
 */
async function ensureTemplate(binaries: PostgresBinaries, user: RunAs | null): Promise<string> {
  const dir = await templateDir(binaries, user);
  if (await exists(`${dir}/PG_VERSION`)) return dir;
  const parent = dir.replace(/\/[^/]+$/, "");
  await Deno.mkdir(parent, { recursive: true });
  const work = await Deno.makeTempDir({ dir: parent, prefix: ".initdb-" });
  await Deno.chmod(work, 0o755);
  const data = `${work}/data`;
  await Deno.mkdir(data, { mode: 0o700 });
  await giveTo(user, data);
  const password = randomSecret();
  const pwfile = `${work}/pw`;
  await Deno.writeTextFile(pwfile, password, { mode: 0o600 });
  await giveTo(user, pwfile);
  try {
    const args = [
      "-D",
      data,
      "-U",
      SUPERUSER,
      "--pwfile",
      pwfile,
      "--auth=scram-sha-256",
      "--encoding=UTF8",
      "--no-sync",
      // A local database writes little WAL: small segments make every copy of the template (each
      // test stack, each throwaway gen-types database) cheaper.
      "--wal-segsize=1",
    ];
    try {
      await run(user, `${binaries.bin}/initdb`, [...args, "--locale=C.UTF-8"], "initdb");
    } catch {
      // C.UTF-8 is not a locale everywhere (older macOS): byte-order C still stores UTF-8.
      await Deno.remove(data, { recursive: true });
      await Deno.mkdir(data, { mode: 0o700 });
      await giveTo(user, data);
      await run(user, `${binaries.bin}/initdb`, [...args, "--locale=C"], "initdb");
    }
    // TCP on loopback only, passwords always: no trust, no peer, no Unix socket.
    await Deno.writeTextFile(
      `${data}/pg_hba.conf`,
      "# Written by the local stack: loopback TCP only, passwords (scram-sha-256) always.\n" +
        "host all all 127.0.0.1/32 scram-sha-256\nhost all all ::1/128 scram-sha-256\n",
    );
    await Deno.writeTextFile(`${data}/${PASSWORD_FILE}`, password, { mode: 0o600 });
    await giveTo(user, `${data}/pg_hba.conf`);
    await giveTo(user, `${data}/${PASSWORD_FILE}`);
    try {
      await Deno.rename(data, dir);
    } catch (error) {
      if (!(await exists(`${dir}/PG_VERSION`))) throw error; // lost a race: theirs is as good
    }
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
  return dir;
}

/** The pid in a cluster's postmaster.pid, if that process is a postgres serving this cluster. */
async function livePostmaster(dataDir: string): Promise<number | null> {
  let pid: number;
  try {
    pid = Number((await Deno.readTextFile(`${dataDir}/postmaster.pid`)).split("\n")[0]);
  } catch {
    return null;
  }
  if (!Number.isInteger(pid) || pid <= 1) return null;
  let command: string | null = null;
  try {
    command = (await Deno.readTextFile(`/proc/${pid}/cmdline`)).replaceAll("\0", " ");
  } catch {
    if (Deno.build.os !== "linux") {
      command = await output("ps", ["-o", "command=", "-p", String(pid)]);
    }
  }
  return command && /postgres/.test(command) && command.includes(dataDir) ? pid : null;
}

async function processGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      Deno.kill(pid, "SIGCONT"); // no effect on a running process; throws when it is gone
    } catch {
      return true;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/**
 * A server a killed stack left running on this cluster is asked to shut down (fast: open
 * transactions roll back); a postmaster.pid naming anything else is stale and removed.
 */
export async function recoverCluster(
  dataDir: string,
  log: (line: string) => void,
): Promise<void> {
  if (!(await exists(`${dataDir}/PG_VERSION`))) return;
  const orphan = await livePostmaster(dataDir);
  if (orphan !== null) {
    log(`[postgres] a server left running by an earlier stack (pid ${orphan}) is stopped first`);
    try {
      Deno.kill(orphan, "SIGINT");
    } catch { /* gone meanwhile */ }
    if (!(await processGone(orphan, 10_000))) {
      Deno.kill(orphan, "SIGQUIT");
      await processGone(orphan, 5_000);
    }
    return;
  }
  await Deno.remove(`${dataDir}/postmaster.pid`).catch(() => {});
}

/** Settings on the command line, so they hold for old clusters too and no SQL can move them. */
function serverSettings(port: number, ephemeral: boolean, binaries: PostgresBinaries): string[] {
  const settings: Record<string, string> = {
    listen_addresses: "127.0.0.1",
    port: String(port),
    unix_socket_directories: "",
    // Server messages reach the stack log, never statements (they can hold request data).
    log_line_prefix: "",
    log_error_verbosity: "terse",
    log_min_error_statement: "panic",
    log_checkpoints: "off",
    timezone: "UTC",
    shared_preload_libraries: "pg_stat_statements",
  };
  if (ephemeral) {
    Object.assign(settings, {
      fsync: "off",
      synchronous_commit: "off",
      full_page_writes: "off",
      shared_buffers: "32MB",
    });
  }
  if (binaries.source.startsWith("POSTGRES_BIN_DIR")) delete settings.shared_preload_libraries;
  return Object.entries(settings).flatMap(([k, v]) => ["-c", `${k}=${v}`]);
}

let memoryDir: Promise<string | undefined> | undefined;

/**
 * A new folder for a throwaway cluster (fsync off, removed at stop): in RAM (/dev/shm) when it
 * has room for many (2 GiB free; containers often give it 64 MB, and PostgreSQL's own shared
 * memory lives there too), else in TMPDIR. The server may run as another user: 0755.
 */
export async function throwawayClusterDir(): Promise<string> {
  memoryDir ??= (async () => {
    if (Deno.build.os !== "linux") return undefined;
    try {
      const out = await new Deno.Command("df", {
        args: ["-Pk", "/dev/shm"],
        stdout: "piped",
        stderr: "null",
      }).output();
      const row = new TextDecoder().decode(out.stdout).trim().split("\n")[1] ?? "";
      const freeKb = Number(row.split(/\s+/)[3]);
      return freeKb >= 2 * 1024 * 1024 ? "/dev/shm" : undefined;
    } catch {
      return undefined;
    }
  })();
  const dir = await memoryDir;
  const scratch = await Deno.makeTempDir({ prefix: "edge-stack-pg-", ...(dir ? { dir } : {}) });
  await Deno.chmod(scratch, 0o755);
  return scratch;
}

/** Start the server on a cluster (making the cluster first if the directory has none). */
export async function startPostgresServer(options: ServerOptions): Promise<PostgresServer> {
  const { binaries, dataDir, log } = options;
  const user = await runAs();
  if (user) {
    await ensureReachable(user, binaries.bin, null);
    await ensureReachable(user, dataDir, options.ownFolder ?? null);
  }
  let created = false;
  if (!(await exists(`${dataDir}/PG_VERSION`))) {
    const template = await ensureTemplate(binaries, user);
    const parent = dataDir.replace(/\/[^/]+$/, "");
    await Deno.mkdir(parent, { recursive: true });
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    const copy = await new Deno.Command("cp", { args: ["-a", template, dataDir] }).output();
    if (!copy.success) {
      throw new Error(
        `could not copy the template cluster: ${new TextDecoder().decode(copy.stderr)}`,
      );
    }
    created = true;
  } else {
    const version = (await Deno.readTextFile(`${dataDir}/PG_VERSION`)).trim();
    if (Number(version) !== binaries.major) {
      throw new Error(
        `${dataDir} holds a PostgreSQL ${version} cluster, not ${binaries.major}: ` +
          "start with --reset to replace it (its data is lost), or set [db] major_version back",
      );
    }
    await recoverCluster(dataDir, log);
  }

  const [cmd, args] = asServerUser(user, `${binaries.bin}/postgres`, [
    "-D",
    dataDir,
    ...serverSettings(options.port, options.ephemeral, binaries),
  ]);
  const child = new Deno.Command(cmd, {
    args,
    env: { LC_ALL: "C", TZ: "UTC" },
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  // If the stack dies without stopping it, the server shuts down (and a throwaway one is removed).
  const watchdog = guardChild(child.pid, "SIGINT", options.ephemeral ? ["rm", "-rf", dataDir] : []);
  let stopping = false;
  let exitedCode: number | null = null;
  const status = child.status.then((s) => (exitedCode = s.code));
  const recent: string[] = [];
  let ready!: () => void;
  const isReady = new Promise<void>((resolve) => (ready = resolve));
  forwardLog(child.stderr, (line) => {
    recent.push(line);
    if (recent.length > 5) recent.shift();
    if (line.includes("ready to accept connections")) ready();
    // Routine LOG lines stay out of the stack log; client errors are answered to their clients
    // (repeating them here could log request data). Warnings and fatal errors are shown.
    if (/^(WARNING|FATAL|PANIC):/.test(line)) log(`[postgres] ${line}`);
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), 30_000));
  const outcome = await Promise.race([isReady.then(() => "ready"), status, deadline]);
  clearTimeout(timer);
  if (outcome !== "ready") {
    try {
      child.kill("SIGQUIT");
    } catch { /* exited */ }
    await status;
    await watchdog.dismiss();
    const why = recent.join(" | ") || "no output";
    throw new Error(
      /could not bind|Address already in use/.test(why)
        ? `port ${options.port} is in use by another program (set [db] port in supabase/config.toml)`
        : `PostgreSQL did not start (${why})`,
    );
  }

  let password = (await Deno.readTextFile(`${dataDir}/${PASSWORD_FILE}`)).trim();
  if (created) password = await rotateSuperuserPassword(dataDir, options.port, password, user);

  const exited = status.then((code) => {
    if (!stopping) log(`[postgres] the server exited unexpectedly (code ${code})`);
    return code;
  });
  return {
    port: options.port,
    pid: child.pid,
    dataDir,
    superuserPassword: password,
    created,
    exited,
    async stop() {
      if (exitedCode === null) {
        stopping = true;
        // Fast shutdown: sessions are ended, open transactions roll back, data is flushed.
        child.kill("SIGINT");
        const timer = setTimeout(() => exitedCode === null && child.kill("SIGQUIT"), 10_000);
        await status;
        clearTimeout(timer);
      }
      await watchdog.dismiss();
      if (options.ephemeral) await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    },
  };
}

/** A copied cluster has the template's password: give it one of its own at once. */
async function rotateSuperuserPassword(
  dataDir: string,
  port: number,
  templatePassword: string,
  user: RunAs | null,
): Promise<string> {
  const password = randomSecret();
  const sql = postgres({
    host: "127.0.0.1",
    port,
    database: "postgres",
    username: SUPERUSER,
    password: templatePassword,
    max: 1,
    onnotice: () => {},
  });
  try {
    await sql.unsafe(`alter role ${SUPERUSER} password '${password}'`);
  } finally {
    await sql.end({ timeout: 1 });
  }
  await Deno.writeTextFile(`${dataDir}/${PASSWORD_FILE}`, password, { mode: 0o600 });
  await giveTo(user, `${dataDir}/${PASSWORD_FILE}`);
  return password;
}

async function forwardLog(
  stream: ReadableStream<Uint8Array>,
  sink: (line: string) => void,
): Promise<void> {
  let rest = "";
  try {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      const lines = (rest + chunk).split("\n");
      rest = lines.pop() ?? "";
      for (const line of lines) if (line.trim()) sink(line.trim());
    }
  } catch { /* server gone */ }
  if (rest.trim()) sink(rest.trim());
}
