/**
 * Who may POST to the Alertmanager receiver: the decision, pure. The receiver (receiver.ts)
 * gathers what a request presents; this says whether it is let in.
 *
 * The rule: every credential the operator is configured with is required, none is optional.
 * - token only (`--incident-token-file`): `Authorization: Bearer <token>`, over HTTP or TLS;
 * - mTLS only (`--incident-client-ca-file`, no token): a client certificate signed by that CA,
 *   and, with `--incident-client-names`, naming one of them (its subject CN or a DNS SAN);
 * - both: the certificate and the token. A stolen token alone, or a client key alone, is then
 *   not enough.
 * A missing or unverifiable certificate never reaches this: with a client CA the TLS handshake
 * itself refuses it (`requestCert`, `rejectUnauthorized`). A verified certificate naming none of
 * `--incident-client-names` is refused here, with 401, as a wrong token is: after the handshake,
 * so the refusal is logged with the name it carried, before the body is read.
 */

export interface ReceiverAuthPolicy {
  /** A bearer token is configured and required. */
  token: boolean;
  /** A client CA is configured: a verified client certificate is required. */
  clientCert: boolean;
  /** When not empty, the certificate must name one of these (CN or DNS SAN). */
  clientNames: readonly string[];
}

export interface PresentedCredentials {
  /** The request's bearer token matched the configured one (false when none was sent). */
  tokenMatches: boolean;
  /** The connection's client certificate, when there is one. */
  clientCert?: {
    /** The TLS layer verified its chain to the client CA (`socket.authorized`). */
    verified: boolean;
    /** Its subject CNs and DNS SANs. */
    names: readonly string[];
  };
}

export type AuthDecision =
  | { ok: true; /** what authenticated the request, for the log */ by: string }
  | { ok: false; /** the 401's message */ why: string };

export function authorizeReceiverRequest(
  policy: ReceiverAuthPolicy,
  presented: PresentedCredentials,
): AuthDecision {
  // Neither configured: main.ts starts no receiver; refuse anyway, never let all in.
  if (!policy.token && !policy.clientCert)
    return { ok: false, why: "the receiver has no credentials configured" };
  const by: string[] = [];
  if (policy.clientCert) {
    const cert = presented.clientCert;
    if (!cert?.verified)
      return { ok: false, why: "a client certificate signed by the client CA is required" };
    let name = cert.names[0];
    if (policy.clientNames.length > 0) {
      name = allowedName(policy.clientNames, cert.names);
      if (name === undefined) {
        return { ok: false, why: "the client certificate names none of the allowed clients" };
      }
    }
    by.push(name === undefined ? "client certificate" : `client certificate ${name}`);
  }
  if (policy.token) {
    if (!presented.tokenMatches) return { ok: false, why: "send Authorization: Bearer <token>" };
    by.push("bearer token");
  }
  return { ok: true, by: by.join(" and ") };
}

/**
 * The first of a certificate's names that is allowed. Exact, case-insensitive (DNS names are),
 * no wildcards: `*.monitoring.svc` in a certificate allows nothing but the allowed entry
 * `*.monitoring.svc` itself.
 */
export function allowedName(allowed: readonly string[], names: readonly string[]): string | undefined {
  const wanted = new Set(allowed.map((n) => n.toLowerCase()));
  return names.find((n) => wanted.has(n.toLowerCase()));
}

/**
 * A certificate's subject CNs and DNS SANs, from Node's `getPeerCertificate()`. Node writes a
 * SAN value with a comma or quote in it as a JSON string (`DNS:"a, DNS:b"`), so the list is read
 * entry by entry rather than split on commas: such a value is one (unusable) name, never two.
 */
export function certificateNames(cert: {
  subject?: { CN?: string | string[] };
  subjectaltname?: string;
}): string[] {
  const cn = cert.subject?.CN;
  const names = cn === undefined ? [] : Array.isArray(cn) ? [...cn] : [cn];
  const san = cert.subjectaltname ?? "";
  const entry = /(?:^|, )([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)/g;
  for (const m of san.matchAll(entry)) {
    if (m[1] !== "DNS") continue;
    const value = m[2] as string;
    if (value.startsWith('"')) {
      try {
        names.push(JSON.parse(value) as string);
      } catch {
        // Not a JSON string after all: no name.
      }
    } else names.push(value);
  }
  return names;
}
