/**
 * OFREP authentication and authorization: from a request's headers to "may read namespace X",
 * "401", "403" or "503". The decisions are `ofrep-access.ts`'s; this file holds the modes.
 *
 * `--ofrep-auth`:
 * - `serviceaccount` (default): apps send a projected ServiceAccount token for the audience
 *   `crescendo-ofrep` (`--ofrep-audience`), verified by TokenReview (`token-review.ts`); each app
 *   reads its own namespace, and what Squads share with its squad or tribe.
 * - `token`: only the static shared token.
 * - `none`: anyone who reaches the port reads every namespace; the operator warns at start.
 * In `serviceaccount` and `token` modes the static token (`--ofrep-token-file`), when set, is
 * also accepted, for callers outside the cluster, and reads only `--ofrep-token-namespaces`.
 */
import type { IncomingHttpHeaders } from "node:http";
import { mayRead, type OfrepCaller, type SquadOwning } from "./ofrep-access.js";
import { expectedTokenDigest, matchesDigest, presentedToken } from "./ofrep-protocol.js";
import type { TokenVerifier } from "./token-review.js";

export const OFREP_AUTH_MODES = ["serviceaccount", "token", "none"] as const;
export type OfrepAuthMode = (typeof OFREP_AUTH_MODES)[number];

export type Authorization =
  { ok: true; caller: OfrepCaller } | { ok: false; status: 401 | 403 | 503; details: string };

/** Decides one request: may these headers read `namespace`'s flags? */
export type OfrepAuthorizer = (headers: IncomingHttpHeaders, namespace: string) => Promise<Authorization>;

export interface OfrepAuthOptions {
  mode: OfrepAuthMode;
  /** Required in `serviceaccount` mode. */
  verifier?: Pick<TokenVerifier, "verify">;
  /** The static token, read per request so rotation needs no restart; undefined: none. */
  staticToken?: () => string | undefined;
  /** Namespaces the static token reads; `*` for all (explicit, never a default). */
  staticTokenNamespaces?: readonly string[] | "*";
  squadOwning: SquadOwning;
}

/**
 * Builds the authorizer.
 * @throws Error for a configuration that cannot protect anything as asked: `serviceaccount`
 *   without a verifier, `token` without a token, a static token without its namespace list.
 */
export function createOfrepAuthorizer(options: OfrepAuthOptions): OfrepAuthorizer {
  const { mode, verifier, staticToken, squadOwning } = options;
  if (mode === "none") return async () => ({ ok: true, caller: { kind: "anonymous" } });
  if (mode === "serviceaccount" && !verifier) throw new Error("--ofrep-auth=serviceaccount needs a verifier");
  if (mode === "token" && !staticToken) {
    throw new Error("--ofrep-auth=token needs a token (--ofrep-token-file or $OFREP_TOKEN)");
  }
  const namespaces = options.staticTokenNamespaces;
  if (staticToken && (namespaces === undefined || (namespaces !== "*" && namespaces.length === 0))) {
    throw new Error(
      "the static OFREP token needs --ofrep-token-namespaces: the namespaces it may read (or * for all)",
    );
  }

  // Digested once per token, not per request: rotation still takes effect on the next request.
  const expectedDigest = staticToken && expectedTokenDigest(staticToken);

  const authenticate = async (
    headers: IncomingHttpHeaders,
  ): Promise<{ ok: true; caller: OfrepCaller } | { ok: false; status: 401 | 503; details: string }> => {
    const presented = presentedToken(headers);
    if (presented === undefined) {
      return {
        ok: false,
        status: 401,
        details:
          mode === "serviceaccount"
            ? "no token: send Authorization: Bearer <a ServiceAccount token for audience crescendo-ofrep>"
            : "no token: send Authorization: Bearer <token>",
      };
    }
    const expected = expectedDigest?.();
    if (expected && matchesDigest(presented, expected)) {
      return { ok: true, caller: { kind: "staticToken", namespaces: namespaces ?? [] } };
    }
    if (mode === "token" || !verifier) return { ok: false, status: 401, details: "wrong token" };
    const verified = await verifier.verify(presented);
    if (!verified.ok) {
      return { ok: false, status: verified.reason === "unavailable" ? 503 : 401, details: verified.details };
    }
    const id = verified.identity;
    return {
      ok: true,
      caller:
        id.kind === "serviceAccount"
          ? { kind: "serviceAccount", namespace: id.namespace, name: id.name }
          : { kind: "user", username: id.username },
    };
  };

  return async (headers, namespace) => {
    const who = await authenticate(headers);
    if (!who.ok) return who;
    const decision = mayRead(who.caller, namespace, squadOwning);
    return decision.allowed ? who : { ok: false, status: 403, details: decision.details };
  };
}

/** A bounded label for a caller (rate limiting, logs): never a token, never unbounded input. */
export function callerLabel(caller: OfrepCaller): string {
  switch (caller.kind) {
    case "serviceAccount":
      return `serviceaccount:${caller.namespace}/${caller.name}`;
    case "user":
      return "user";
    case "staticToken":
      return "static-token";
    case "anonymous":
      return "anonymous";
  }
}
