/**
 * The plugin's two kinds of failure and how API errors become sentences. Exit codes follow
 * kubectl's: 1 for an error, 2 for a command line that could not be understood.
 */
import { ApiError } from "../runtime/client.js";
import type { Resource } from "../runtime/types.js";

/** A failure to report as `error: <message>`, exit code 1. */
export class CliError extends Error {
  readonly exitCode: number = 1;
  constructor(message: string) {
    super(message);
    this.name = "CliError";
  }
}

/** A command line that makes no sense; exit code 2, with the command's usage. */
export class UsageError extends CliError {
  override readonly exitCode = 2;
  constructor(
    message: string,
    /** The command whose usage to show; undefined shows the overall usage. */
    readonly command?: string,
  ) {
    super(message);
    this.name = "UsageError";
  }
}

/** What a request was trying to do, so an error can say it in the user's terms. */
export interface Attempt {
  verb: "get" | "list" | "watch" | "patch";
  resource: Resource;
  namespace?: string;
  /** The apiserver URL, for connection errors. */
  server?: string;
}

const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "CERT_HAS_EXPIRED",
]);

/**
 * Turns an error from the client into a CliError a person can act on: 403 names the verb,
 * the resource and the namespace (what to ask an admin for), 401 points at the credentials, and
 * a connection failure names the server. Anything else keeps the apiserver's own message.
 */
export function explain(err: unknown, attempt: Attempt): CliError {
  if (err instanceof CliError) return err;
  const where = attempt.namespace ? ` in namespace ${attempt.namespace}` : "";
  const what = attempt.resource.plural;
  if (err instanceof ApiError) {
    if (err.status === 403) return new CliError(`you may not ${attempt.verb} ${what}${where} (forbidden)`);
    if (err.status === 401) {
      return new CliError(
        "the apiserver rejected your credentials (unauthorized): log in again, or check --kubeconfig and --context",
      );
    }
    if (err.status === 404 && attempt.verb !== "patch") {
      return new CliError(
        `the ${attempt.resource.kind} API (${what}.${attempt.resource.group}) is not served here: are the Crescendo CRDs installed?`,
      );
    }
    return new CliError(`${attempt.verb} ${what}${where}: ${err.message}`);
  }
  return (
    unreachable(err, attempt.server) ??
    new CliError(`${attempt.verb} ${what}${where}: ${err instanceof Error ? err.message : String(err)}`)
  );
}

/** A connection or TLS failure, as "cannot reach the Kubernetes API at <server>"; else undefined. */
export function unreachable(err: unknown, server: string | undefined): CliError | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== "string" || !NETWORK_CODES.has(code)) return undefined;
  const message = (err as Error).message;
  return new CliError(`cannot reach the Kubernetes API${server ? ` at ${server}` : ""}: ${message}`);
}
