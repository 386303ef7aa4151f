/**
 * What a Prometheus address may look like. An address is fetched by the operator, from inside the
 * cluster, on behalf of whoever may edit a Release: it is a server-side request the platform must
 * keep to the shape of a base URL. The same rule is enforced twice: by the CRD (a CEL rule built
 * from `PROMETHEUS_ADDRESS_PATTERN`, so the apiserver refuses the object) and by the zod schema
 * (`prometheusAddressProblem`, so the controller never acts on an object admitted before the rule).
 *
 * Refused, each with its own message:
 * - a scheme other than http/https (`file:`, `gopher:`, a missing `//`);
 * - userinfo (`http://user@host`, and every `@` trick that hides the real host behind a
 *   trusted-looking name: `http://prometheus.monitoring@169.254.169.254`);
 * - a query or a fragment: the operator appends `/api/v1/query?query=…`, and a trailing `#` or
 *   `?x=` would cut that off and turn the address into an arbitrary GET;
 * - percent-encoding, backslashes, whitespace and control characters, which URL parsers read
 *   differently (WHATWG reads `\` as `/` in http URLs, Go does not), so what the apiserver, the
 *   allowlist and `fetch` see could differ.
 * Allowed: a DNS name, an IPv4 address or a bracketed IPv6 literal, a port, a path prefix.
 * Mixed-case schemes are accepted (RFC 3986 says schemes are case-insensitive) and normalised by
 * `canonicalPrometheusAddress`, which is what the allowlist compares.
 */

/** Longest address accepted; also bounds the cost of the CRD's CEL rule. */
export const PROMETHEUS_ADDRESS_MAX_LENGTH = 2048;

/**
 * The whole rule as one regular expression, in the common subset of RE2 (the apiserver's CEL
 * `matches`) and ECMAScript: no inline flags, no lookaround, no `[]]`.
 */
export const PROMETHEUS_ADDRESS_PATTERN =
  "^[hH][tT][tT][pP][sS]?://([A-Za-z0-9.-]+|\\[[0-9A-Fa-f:.]+\\])(:[0-9]{1,5})?(/[A-Za-z0-9._~!$&'()*+,;=:/-]*)?$";

/** The message the CRD's CEL rule answers with (the apiserver prefixes the field path). */
export const PROMETHEUS_ADDRESS_RULE_MESSAGE =
  "must be an http or https URL (scheme://host[:port][/path]) without userinfo, query, fragment or percent-encoding";

/** The `x-kubernetes-validations` entry for an address field. */
export const prometheusAddressValidation = {
  rule: `self.matches(${JSON.stringify(PROMETHEUS_ADDRESS_PATTERN)})`,
  message: PROMETHEUS_ADDRESS_RULE_MESSAGE,
} as const;

const PATTERN = new RegExp(PROMETHEUS_ADDRESS_PATTERN);
const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):/;

/**
 * Why `text` is not an acceptable Prometheus address, or `undefined` when it is. The message is a
 * sentence fragment that reads after the field's name ("spec…address: must not contain a query").
 * Pure and total: never throws, whatever the input.
 */
export function prometheusAddressProblem(text: string): string | undefined {
  if (text.length === 0) return "must not be empty";
  if (text.length > PROMETHEUS_ADDRESS_MAX_LENGTH) {
    return `must be at most ${PROMETHEUS_ADDRESS_MAX_LENGTH} characters`;
  }
  // A printable-ASCII check first, so a message never has to quote a control character.
  if (/[^\x21-\x7e]/.test(text)) {
    return "must not contain whitespace, control or non-ASCII characters (write a punycode host name)";
  }
  const scheme = SCHEME.exec(text)?.[1];
  if (scheme === undefined || !["http", "https"].includes(scheme.toLowerCase())) {
    return scheme === undefined
      ? "must start with http:// or https://"
      : `must use http or https, not ${JSON.stringify(scheme)}`;
  }
  if (!text.slice(scheme.length + 1).startsWith("//")) return `must start with ${scheme.toLowerCase()}://`;
  if (text.includes("\\")) return "must not contain a backslash";
  if (text.includes("@")) return "must not contain userinfo or '@'";
  if (text.includes("?")) return "must not contain a query ('?'): the operator appends /api/v1/query";
  if (text.includes("#")) return "must not contain a fragment ('#'): the operator appends /api/v1/query";
  if (text.includes("%")) return "must not contain percent-encoding ('%')";
  if (!PATTERN.test(text)) {
    return "must be scheme://host[:port][/path] with a DNS name, an IPv4 address or a bracketed IPv6 address as host";
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return "is not a valid URL (check the host and the port)";
  }
  // The pattern admits what the WHATWG parser might still refuse or reinterpret; say so rather
  // than fetch something else than what was written.
  if (url.username !== "" || url.password !== "" || url.search !== "" || url.hash !== "") {
    return "must not contain userinfo, a query or a fragment";
  }
  return undefined;
}

/**
 * The form addresses are compared in: lower-case scheme and host, IP literals in their canonical
 * form (so `http://2852039166` and `http://169.254.169.254` are the same address, as they are to
 * `fetch`), no default port, dot segments resolved, no trailing slash. `undefined` for an address
 * `prometheusAddressProblem` refuses.
 */
export function canonicalPrometheusAddress(text: string): string | undefined {
  if (prometheusAddressProblem(text) !== undefined) return undefined;
  const url = new URL(text);
  const path = url.pathname.replace(/\/+$/, "");
  return `${url.protocol}//${url.host}${path}`;
}
