/**
 * Operator configuration from command-line flags and environment variables. Flags win over
 * environment; defaults suit a Deployment in-cluster and work for a local run.
 */
import { hostname } from "node:os";
import { parseArgs } from "node:util";
import { parseDuration } from "./api/common.js";
import { DEFAULT_SYNC_PERIOD_MS } from "./runtime/resync.js";

/**
 * `--revert-window`'s default: delivery/changes.ts's DEFAULT_REVERT_WINDOW_MS (config may not
 * import the delivery layer; config.test.ts checks the two agree).
 */
export const DEFAULT_REVERT_WINDOW_MS = 24 * 3_600_000;

/** `--watch-timeout`'s default: client-go's minWatchTimeout, each watch lasting 5-10 min. */
export const DEFAULT_WATCH_TIMEOUT_MS = 5 * 60_000;

/** `--ofrep-auth` (flags/ofrep-auth.ts says what each mode does; main.ts checks the types agree). */
const OFREP_AUTH_MODES = ["serviceaccount", "token", "none"] as const;
type OfrepAuthMode = (typeof OFREP_AUTH_MODES)[number];

export interface OperatorConfig {
  kubeconfig?: string;
  leaderElection: boolean;
  leaseNamespace: string;
  leaseName: string;
  identity: string;
  healthPort: number;
  ofrepPort: number;
  /**
   * OFREP bearer token from `OFREP_TOKEN`; a file (`ofrepTokenFile`, e.g. a mounted Secret) is
   * preferred, since it can rotate. Neither set: OFREP is served without authentication.
   */
  ofrepToken?: string;
  ofrepTokenFile?: string;
  /** How OFREP callers authenticate (`ofrep-auth.ts`). Default `serviceaccount`. */
  ofrepAuth: OfrepAuthMode;
  /** The audience ServiceAccount tokens must be issued for. Default `crescendo-ofrep`. */
  ofrepAudience: string;
  /** Namespaces the static token reads (`*`: all); required when a static token is set. */
  ofrepTokenNamespaces?: readonly string[] | "*";
  /** Bind address for the health, metrics and OFREP servers. */
  host: string;
  qps: number;
  burst: number;
  /**
   * The rate limit of the Events client, separate from the reconcilers' (`qps`/`burst`) so
   * Events never delay a write.
   */
  eventsQps: number;
  eventsBurst: number;
  workers: number;
  /** Days without an OFREP evaluation before a FeatureToggle is Unused (fractions allowed, for tests). */
  /** Whether OFREP evaluations are counted for toggle insight (`--toggle-insight`). */
  toggleInsight: boolean;
  toggleUnusedDays: number;
  /** Days of one variant served to everyone before a FeatureToggle is FullyRolledOut. */
  toggleRolledOutDays: number;
  /** Every object reconciled again about this often (jittered ±10%); 0 turns it off. */
  syncPeriodMs: number;
  /** The least time an informer watch asks the apiserver to end it after (up to twice it). */
  watchTimeoutMs: number;
  /** How often this replica publishes its OFREP evaluation counts for the leader to merge. */
  insightPublishIntervalMs: number;
  /**
   * Prometheus base URLs analysis may query, besides each Squad's own `delivery` addresses.
   * Empty: only those. Checked by `PrometheusAllowlist.of` at start.
   */
  allowedPrometheusAddresses: string[];
  /**
   * The on-call webhook Secret without a cluster-wide `get secrets`: the ClusterRole the
   * operator binds itself in the squad namespace holding it, and who "itself" is.
   */
  secretReaderClusterRole?: string;
  serviceAccountName?: string;
  /** Where the operator runs ($POD_NAMESPACE); Secrets there are readable through the chart. */
  operatorNamespace: string;
  /**
   * The tribes a Squad may name in `spec.tribe` (docs/security.md). Empty: any tribe, as before
   * tribes were declared.
   */
  tribes: string[];
  /**
   * How long after its deployment a change still fails by a later Release returning to the
   * previous template (a revert) or by a Degraded period (docs/delivery-metrics.md).
   */
  revertWindowMs: number;
  /** The Alertmanager receiver's port (`controllers/incidents/receiver.ts`). */
  incidentPort: number;
  /**
   * The bearer token Alertmanager sends: a file (a mounted Secret, re-read on change), else
   * `INCIDENT_TOKEN`. Neither: no receiver is started (there is no unauthenticated mode).
   */
  incidentToken?: string;
  incidentTokenFile?: string;
  /**
   * The receiver over TLS: its certificate and key (a mounted kubernetes.io/tls Secret, re-read
   * on change). Both or neither.
   */
  incidentTlsCertFile?: string;
  incidentTlsKeyFile?: string;
  /**
   * mTLS: clients must present a certificate this CA signed (needs the TLS pair). With a token
   * too, both are required; alone, a valid certificate authenticates (docs/incidents.md).
   */
  incidentClientCaFile?: string;
  /** With the client CA: the certificate's subject CN or a DNS SAN must be one of these; empty: any. */
  incidentClientNames: string[];
  /** The alert label names mapped to a namespace, a Release and a squad. */
  incidentLabels: { namespace: string; release: string; squad: string };
}

const USAGE = `Usage: crescendo [flags]
  -h, --help               print this usage and exit
  --kubeconfig PATH        kubeconfig (default $KUBECONFIG, ~/.kube/config, then in-cluster)
  --leader-elect BOOL      use a Lease so only one replica reconciles (default true; $LEADER_ELECT)
  --lease-namespace NS     namespace of the Lease (default $POD_NAMESPACE, else "default")
  --health-port N          /healthz, /readyz, /metrics (default 8081; $HEALTH_PORT)
  --ofrep-port N           OFREP flag evaluation server (default 8016; $OFREP_PORT)
  --ofrep-auth MODE        serviceaccount (default): apps send a ServiceAccount token, verified
                           by TokenReview, and read their own namespace's flags (and what
                           Squads share with them); token: the static token only; none: no
                           authentication at all (warned at start) ($OFREP_AUTH)
  --ofrep-audience AUD     audience of the ServiceAccount tokens (default crescendo-ofrep;
                           $OFREP_AUDIENCE)
  --ofrep-token-file PATH  a static token OFREP clients outside the cluster may send, re-read
                           on change ($OFREP_TOKEN_FILE; or the token itself in $OFREP_TOKEN)
  --ofrep-token-namespaces LIST
                           namespaces the static token reads, comma-separated, or * for all
                           (required with a static token; $OFREP_TOKEN_NAMESPACES)
  --bind-address ADDR      address the servers listen on (default 0.0.0.0; $BIND_ADDRESS)
  --kube-api-qps N         client-side request rate to the apiserver (default 100; $KUBE_API_QPS)
  --kube-api-burst N       client-side burst (default 200; $KUBE_API_BURST)
  --events-qps N           request rate of Events, on a client of their own (default 50;
                           $EVENTS_QPS)
  --events-burst N         burst of Events (default 100; $EVENTS_BURST)
  --workers N              concurrent reconciles per controller (default 4; $WORKERS)
  --toggle-insight BOOL    count OFREP evaluations per flag and variant for toggle insight
                           and Unused (default true; false: no counting, no insight in status,
                           Unused is Unknown; $TOGGLE_INSIGHT)
  --toggle-unused-days N   days without evaluations before a toggle is Unused
                           (default 14; $TOGGLE_UNUSED_DAYS)
  --toggle-rolled-out-days N  days of one variant served to all before a toggle is
                           FullyRolledOut (default 14; $TOGGLE_ROLLED_OUT_DAYS)
  --secret-reader-cluster-role NAME
                           ClusterRole (get secrets) the operator binds to its own
                           ServiceAccount in the squad namespace holding a webhook Secret
                           ($SECRET_READER_CLUSTER_ROLE; needs $SERVICE_ACCOUNT_NAME)
  --allowed-prometheus-addresses LIST
                           comma-separated Prometheus base URLs analysis may query, besides
                           each Squad's delivery addresses (default none;
                           $ALLOWED_PROMETHEUS_ADDRESSES)
  --insight-publish-interval DURATION
                           how often each replica publishes its OFREP evaluation counts
                           (a ConfigMap in the operator's namespace) for the leader to
                           merge into toggle status (default 60s; $INSIGHT_PUBLISH_INTERVAL)
  --sync-period DURATION   reconcile every object again about this often, jittered by 10%
                           (default 10h, e.g. 30m; 0 turns it off; $SYNC_PERIOD)
  --watch-timeout DURATION each informer watch asks the apiserver to end it after a random
                           time between this and twice this, then watches again from where
                           it was (default 5m, as client-go; at least 1s; $WATCH_TIMEOUT)
  --tribes LIST            comma-separated tribes a Squad may name in spec.tribe; a Squad naming
                           another is Stalled and joins no tribe (default none declared: any
                           tribe; $TRIBES)
  --revert-window DURATION how long after its deployment a later Release returning to the
                           previous template, or a Degraded period, fails the change
                           (default 24h; $REVERT_WINDOW)
  --incident-port N        the Alertmanager webhook receiver, POST /alertmanager (default 8017;
                           $INCIDENT_PORT); started only with a token or a client CA
  --incident-token-file PATH
                           the bearer token Alertmanager must send, re-read on change
                           ($INCIDENT_TOKEN_FILE; or the token itself in $INCIDENT_TOKEN)
  --incident-tls-cert-file PATH, --incident-tls-key-file PATH
                           serve the receiver over TLS (1.2 at least) with this certificate
                           and key, re-read on change; both or neither
                           ($INCIDENT_TLS_CERT_FILE, $INCIDENT_TLS_KEY_FILE)
  --incident-client-ca-file PATH
                           mTLS: require a client certificate this CA signed (needs the TLS
                           pair); with a token both are required, without one the certificate
                           alone authenticates ($INCIDENT_CLIENT_CA_FILE)
  --incident-client-names LIST
                           with a client CA: the client certificate's subject CN or a DNS SAN
                           must be one of these, comma-separated (default any;
                           $INCIDENT_CLIENT_NAMES)
  --incident-labels LIST   the alert labels naming the namespace, Release and squad
                           (default namespace=namespace,release=crescendo_release,squad=squad;
                           $INCIDENT_LABELS)`;

/**
 * Thrown by `loadConfig` for `--help`: the caller prints the usage to stdout and exits 0, as
 * command-line tools do, rather than reporting it as a failure.
 */
export class HelpRequested extends Error {
  constructor() {
    super(USAGE);
    this.name = "HelpRequested";
  }
}

function integer(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined || text === "") return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0)
    throw new Error(`${name} must be a non-negative integer, got "${text}"`);
  return value;
}

/** A duration such as `10h` or `1h30m` (units ms, s, m, h), or `0`. */
function duration(name: string, text: string | undefined, fallbackMs: number): number {
  if (text === undefined || text === "") return fallbackMs;
  if (text === "0") return 0;
  if (!/^([0-9]+(ms|s|m|h))+$/.test(text))
    throw new Error(`${name} must be a duration such as 10h or 30m (units ms, s, m, h), got "${text}"`);
  return parseDuration(text);
}

function days(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined || text === "") return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`${name} must be a positive number of days, got "${text}"`);
  return value;
}

function bool(name: string, text: string | undefined, fallback: boolean): boolean {
  if (text === undefined || text === "") return fallback;
  if (["true", "1", "yes"].includes(text.toLowerCase())) return true;
  if (["false", "0", "no"].includes(text.toLowerCase())) return false;
  throw new Error(`${name} must be true or false, got "${text}"`);
}

/** A comma- or whitespace-separated list; empty entries ignored. */
export function parseList(text: string | undefined): string[] {
  return (text ?? "").split(/[\s,]+/).filter((entry) => entry !== "");
}

/** `--ofrep-token-namespaces`: names, or `*` for all; undefined when empty. */
function parseNamespaceList(text: string | undefined): readonly string[] | "*" | undefined {
  const names = parseList(text);
  if (names.length === 0) return undefined;
  return names.includes("*") ? "*" : names;
}

function oneOf<T extends string>(
  name: string,
  text: string | undefined,
  allowed: readonly T[],
  fallback: T,
): T {
  if (text === undefined || text === "") return fallback;
  if (!(allowed as readonly string[]).includes(text)) {
    throw new Error(`${name} must be one of ${allowed.join(", ")}, got "${text}"`);
  }
  return text as T;
}

/** Parses flags and environment; throws with the usage text on bad input, HelpRequested for --help. */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv): OperatorConfig {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        kubeconfig: { type: "string" },
        "leader-elect": { type: "string" },
        "lease-namespace": { type: "string" },
        "health-port": { type: "string" },
        "ofrep-port": { type: "string" },
        "ofrep-token-file": { type: "string" },
        "ofrep-auth": { type: "string" },
        "ofrep-audience": { type: "string" },
        "ofrep-token-namespaces": { type: "string" },
        "bind-address": { type: "string" },
        "kube-api-qps": { type: "string" },
        "kube-api-burst": { type: "string" },
        "events-qps": { type: "string" },
        "events-burst": { type: "string" },
        workers: { type: "string" },
        "toggle-insight": { type: "string" },
        "toggle-unused-days": { type: "string" },
        "toggle-rolled-out-days": { type: "string" },
        "sync-period": { type: "string" },
        "watch-timeout": { type: "string" },
        "insight-publish-interval": { type: "string" },
        "allowed-prometheus-addresses": { type: "string" },
        "secret-reader-cluster-role": { type: "string" },
        tribes: { type: "string" },
        "revert-window": { type: "string" },
        "incident-port": { type: "string" },
        "incident-token-file": { type: "string" },
        "incident-tls-cert-file": { type: "string" },
        "incident-tls-key-file": { type: "string" },
        "incident-client-ca-file": { type: "string" },
        "incident-client-names": { type: "string" },
        "incident-labels": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${USAGE}`);
  }
  if (values.help) throw new HelpRequested();
  const flag = (name: string, envName: string) => (values[name] as string | undefined) ?? env[envName];
  return checkIncidentReceiver({
    // $KUBECONFIG is left to the loader, which reads a colon-separated list as kubectl does.
    kubeconfig: (values["kubeconfig"] as string | undefined) || undefined,
    leaderElection: bool("--leader-elect", flag("leader-elect", "LEADER_ELECT"), true),
    leaseNamespace: flag("lease-namespace", "POD_NAMESPACE") || "default",
    leaseName: "crescendo-operator",
    identity: env.POD_NAME || `${hostname()}-${process.pid}`,
    healthPort: integer("--health-port", flag("health-port", "HEALTH_PORT"), 8081),
    ofrepPort: integer("--ofrep-port", flag("ofrep-port", "OFREP_PORT"), 8016),
    ofrepToken: env.OFREP_TOKEN || undefined,
    ofrepTokenFile: flag("ofrep-token-file", "OFREP_TOKEN_FILE") || undefined,
    ofrepAuth: oneOf("--ofrep-auth", flag("ofrep-auth", "OFREP_AUTH"), OFREP_AUTH_MODES, "serviceaccount"),
    ofrepAudience: flag("ofrep-audience", "OFREP_AUDIENCE") || "crescendo-ofrep",
    ofrepTokenNamespaces: parseNamespaceList(flag("ofrep-token-namespaces", "OFREP_TOKEN_NAMESPACES")),
    host: flag("bind-address", "BIND_ADDRESS") || "0.0.0.0",
    qps: integer("--kube-api-qps", flag("kube-api-qps", "KUBE_API_QPS"), 100),
    burst: integer("--kube-api-burst", flag("kube-api-burst", "KUBE_API_BURST"), 200),
    eventsQps: integer("--events-qps", flag("events-qps", "EVENTS_QPS"), 50),
    eventsBurst: integer("--events-burst", flag("events-burst", "EVENTS_BURST"), 100),
    workers: integer("--workers", flag("workers", "WORKERS"), 4),
    syncPeriodMs: duration("--sync-period", flag("sync-period", "SYNC_PERIOD"), DEFAULT_SYNC_PERIOD_MS),
    watchTimeoutMs: watchTimeout(flag("watch-timeout", "WATCH_TIMEOUT")),
    insightPublishIntervalMs: duration(
      "--insight-publish-interval",
      flag("insight-publish-interval", "INSIGHT_PUBLISH_INTERVAL"),
      60_000,
    ),
    toggleInsight: bool("--toggle-insight", flag("toggle-insight", "TOGGLE_INSIGHT"), true),
    toggleUnusedDays: days("--toggle-unused-days", flag("toggle-unused-days", "TOGGLE_UNUSED_DAYS"), 14),
    toggleRolledOutDays: days(
      "--toggle-rolled-out-days",
      flag("toggle-rolled-out-days", "TOGGLE_ROLLED_OUT_DAYS"),
      14,
    ),
    secretReaderClusterRole: flag("secret-reader-cluster-role", "SECRET_READER_CLUSTER_ROLE") || undefined,
    serviceAccountName: env.SERVICE_ACCOUNT_NAME || undefined,
    operatorNamespace: env.POD_NAMESPACE || "default",
    allowedPrometheusAddresses: parseList(
      flag("allowed-prometheus-addresses", "ALLOWED_PROMETHEUS_ADDRESSES"),
    ),
    tribes: tribeList(flag("tribes", "TRIBES")),
    revertWindowMs: positiveDuration(
      "--revert-window",
      flag("revert-window", "REVERT_WINDOW"),
      DEFAULT_REVERT_WINDOW_MS,
    ),
    incidentPort: integer("--incident-port", flag("incident-port", "INCIDENT_PORT"), 8017),
    incidentToken: env.INCIDENT_TOKEN || undefined,
    incidentTokenFile: flag("incident-token-file", "INCIDENT_TOKEN_FILE") || undefined,
    incidentTlsCertFile: flag("incident-tls-cert-file", "INCIDENT_TLS_CERT_FILE") || undefined,
    incidentTlsKeyFile: flag("incident-tls-key-file", "INCIDENT_TLS_KEY_FILE") || undefined,
    incidentClientCaFile: flag("incident-client-ca-file", "INCIDENT_CLIENT_CA_FILE") || undefined,
    incidentClientNames: clientNames(flag("incident-client-names", "INCIDENT_CLIENT_NAMES")),
    incidentLabels: incidentLabels(flag("incident-labels", "INCIDENT_LABELS")),
  });
}

/**
 * The receiver's flags must say one consistent thing; anything else stops the operator, naming
 * what is missing, rather than serving with less security than was asked for. Nothing set: the
 * receiver is off, as before TLS existed. TLS without a token or a client CA would be a receiver
 * anyone reaching the port could drive: refused, as a receiver without a token always was.
 */
export function checkIncidentReceiver(config: OperatorConfig): OperatorConfig {
  const cert = config.incidentTlsCertFile;
  const key = config.incidentTlsKeyFile;
  const token = config.incidentTokenFile || config.incidentToken;
  if (cert && !key)
    throw new Error("--incident-tls-cert-file needs --incident-tls-key-file (its private key)");
  if (key && !cert)
    throw new Error("--incident-tls-key-file needs --incident-tls-cert-file (its certificate)");
  if (config.incidentClientCaFile && !cert) {
    throw new Error(
      "--incident-client-ca-file needs --incident-tls-cert-file and --incident-tls-key-file: client certificates are asked for in a TLS handshake",
    );
  }
  if (config.incidentClientNames.length > 0 && !config.incidentClientCaFile) {
    throw new Error(
      "--incident-client-names needs --incident-client-ca-file: names are read from client certificates that CA signed",
    );
  }
  if (cert && !token && !config.incidentClientCaFile) {
    throw new Error(
      "the incident receiver has TLS but no authentication: set --incident-token-file, --incident-client-ca-file, or both (there is no unauthenticated mode)",
    );
  }
  return config;
}

/** `--incident-client-names`: comma-separated (a CN may hold spaces), each trimmed; empty entries ignored. */
function clientNames(text: string | undefined): string[] {
  const names = (text ?? "")
    .split(",")
    .map((n) => n.trim())
    .filter((n) => n !== "");
  if (names.some((n) => n.length > 253 || [...n].some((c) => c < " "))) {
    throw new Error(
      `--incident-client-names takes comma-separated certificate names (CN or DNS SAN); got "${text}"`,
    );
  }
  return [...new Set(names)];
}

/** `--incident-labels`: `namespace=…,release=…,squad=…`, each a Prometheus label name; defaults for those not named. */
function incidentLabels(text: string | undefined): OperatorConfig["incidentLabels"] {
  const labels = { namespace: "namespace", release: "crescendo_release", squad: "squad" };
  for (const entry of parseList(text)) {
    // Exactly one "=": `namespace=a=b` must not be read as `namespace=a`, dropping the rest.
    const [role, name, ...rest] = entry.split("=");
    if (!role || !(role in labels) || !name || rest.length > 0 || !/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(name)) {
      throw new Error(
        `--incident-labels takes namespace=NAME,release=NAME,squad=NAME with Prometheus label names; got "${entry}"`,
      );
    }
    labels[role as keyof typeof labels] = name;
  }
  return labels;
}

/** `--tribes`: DNS labels, as `spec.tribe` must be; a typo stops the operator rather than matching nothing. */
function tribeList(text: string | undefined): string[] {
  const tribes = [...new Set(parseList(text))];
  const bad = tribes.filter((t) => !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(t));
  if (bad.length > 0) {
    throw new Error(
      `--tribes must list DNS labels (lower case, digits, '-'), as spec.tribe is; got ${bad.join(", ")}`,
    );
  }
  return tribes.sort();
}

/** Watches ask for whole seconds, and at least one: the apiserver takes `timeoutSeconds`. */
function watchTimeout(text: string | undefined): number {
  const value = duration("--watch-timeout", text, DEFAULT_WATCH_TIMEOUT_MS);
  if (value < 1_000) throw new Error(`--watch-timeout must be at least 1s, got "${text ?? ""}"`);
  return value;
}

/** A duration that must be more than zero. */
function positiveDuration(name: string, text: string | undefined, fallbackMs: number): number {
  const value = duration(name, text, fallbackMs);
  if (value <= 0) throw new Error(`${name} must be more than zero, got "${text ?? ""}"`);
  return value;
}
