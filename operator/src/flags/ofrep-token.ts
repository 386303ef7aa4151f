/**
 * Where the OFREP server's expected token comes from. The comparison itself (bearer or
 * X-API-Key, in constant time) is in `ofrep-protocol.ts`; `ofrep.ts` asks this for the token on
 * every request, so a rotated Secret takes effect without a restart.
 */
import { readFileSync, statSync } from "node:fs";

/**
 * The OFREP bearer token: the contents of `file` (`--ofrep-token-file`, typically a mounted
 * Secret), re-read when the file changes (checked at most once a second) so a rotated Secret
 * takes effect without a restart; else `token` as given (`OFREP_TOKEN`). Undefined when neither
 * is set: no authentication. A file that cannot be read at start-up is an error (serving flags
 * openly because a Secret failed to mount would be a silent downgrade); one that becomes
 * unreadable later keeps the last token.
 */
export function ofrepToken(
  options: { token?: string; file?: string; what?: string; flag?: string },
  clock: { now(): number } = Date,
): (() => string | undefined) | undefined {
  const file = options.file;
  if (!file) {
    const token = options.token?.trim();
    return token ? () => token : undefined;
  }
  const read = () => ({ mtimeMs: statSync(file).mtimeMs, token: readFileSync(file, "utf8").trim() });
  // Named with the flag that set it: "ENOENT: no such file or directory, stat '…'" alone does not
  // say which of the operator's files is missing (a Secret not mounted, a typo in the chart).
  const what = `${options.what ?? "OFREP token"} file ${file} (${options.flag ?? "--ofrep-token-file"})`;
  let current: ReturnType<typeof read>;
  try {
    current = read();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`${what} cannot be read: ${code === "ENOENT" ? "no such file" : (err as Error).message}`);
  }
  if (current.token === "") throw new Error(`${what} is empty`);
  let checkedAt = clock.now();
  return () => {
    if (clock.now() - checkedAt < 1000) return current.token;
    checkedAt = clock.now();
    try {
      if (statSync(file).mtimeMs !== current.mtimeMs) {
        const next = read();
        if (next.token !== "") current = next;
      }
    } catch {
      // Mid-rotation (the kubelet swaps a symlink) or gone: keep the token we have.
    }
    return current.token;
  };
}
