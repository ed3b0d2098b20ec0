/**
 * The running stack's log, as a file in its state folder (`<state>/logs/stack.log`), what
 * `deno task logs` reads: one line per log line, with its time. Bounded: past 10 MB the file
 * becomes stack.log.1 (the one before is dropped) and a new one starts.
 */
export const MAX_LOG_BYTES = 10 * 1024 * 1024;

export function logPath(stateDir: string): string {
  return `${stateDir}/logs/stack.log`;
}

export interface LogFile {
  write(line: string): void;
  close(): void;
}

export function openLogFile(stateDir: string, maxBytes = MAX_LOG_BYTES): LogFile {
  const path = logPath(stateDir);
  Deno.mkdirSync(`${stateDir}/logs`, { recursive: true });
  let file = Deno.openSync(path, { create: true, append: true });
  let size = file.statSync().size;
  const encoder = new TextEncoder();
  return {
    write(line) {
      const bytes = encoder.encode(`${new Date().toISOString()} ${line}\n`);
      if (size + bytes.length > maxBytes) {
        file.close();
        Deno.renameSync(path, `${path}.1`);
        file = Deno.openSync(path, { create: true, append: true });
        size = 0;
      }
      file.writeSync(bytes);
      size += bytes.length;
    },
    close() {
      file.close();
    },
  };
}

/** Whether a log line is about function `name` (its own lines and the gateway's for it). */
export function isAbout(line: string, name: string): boolean {
  return line.includes(`[fn:${name}]`) || new RegExp(`\\[functions\\] ${name}\\b`).test(line) ||
    line.includes(`functions/${name} `);
}
