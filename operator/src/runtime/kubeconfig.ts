/**
 * Where the apiserver is and how to authenticate to it, found the way kubectl (client-go) finds
 * it. `transport.ts` turns the result into request options for Node's own `http`/`https`.
 *
 * Why this module reads kubeconfig itself: `@kubernetes/client-node`'s KubeConfig statically
 * imports the library's whole generated API (~700 models). Importing it costs ~70 MB RSS and
 * ~27 MB of heap, about half the operator's memory budget, for one YAML file. So the common
 * cases are handled here: kubeconfig files (`$KUBECONFIG` merged the client-go way,
 * `~/.kube/config`), the in-cluster service account, certificate authorities, client
 * certificates, bearer tokens (inline or from a file, re-read every minute because bound
 * service-account tokens rotate) and basic auth.
 *
 * What falls back: a user with `exec` (the EKS, GKE and AKS plugins), `auth-provider` (OIDC),
 * impersonation (`as`, ...) or any field not listed above, and a cluster with `proxy-url` or
 * any field not listed above, are handed to client-node's KubeConfig, imported lazily on the
 * first request, so only those processes pay for it.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parse } from "yaml";
import { isRecord } from "./is-record.js";

const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";
const SERVICE_ACCOUNT_TOKEN = `${SERVICE_ACCOUNT_DIR}/token`;
const SERVICE_ACCOUNT_CA = `${SERVICE_ACCOUNT_DIR}/ca.crt`;
const SERVICE_ACCOUNT_NAMESPACE = `${SERVICE_ACCOUNT_DIR}/namespace`;

/** How often token, certificate and CA files are read again (client-go: every minute). */
export const FILE_REREAD_MS = 60_000;

export interface LoadKubeConfigOptions {
  /** A kubeconfig file; otherwise `$KUBECONFIG`, `~/.kube/config`, then the in-cluster service account. */
  path?: string;
  /** A context other than the file's current one. */
  context?: string;
}

/** Bytes given inline (a `…-data` field, base64-decoded) or in a file, read again as it may rotate. */
export type Material = { readonly data: Buffer } | { readonly file: string };

/** How requests say who they are, besides a client certificate. */
export type Credentials =
  | { readonly type: "none" }
  /** A bearer token; a `tokenFile` that can be read wins over the inline `token`, as in client-go. */
  | { readonly type: "token"; readonly token?: string; readonly tokenFile?: string }
  | { readonly type: "basic"; readonly username: string; readonly password: string };

/** How the server's certificate is checked and which client certificate is shown. */
export interface TlsSettings {
  readonly ca?: Material;
  readonly cert?: Material;
  readonly key?: Material;
  /** `insecure-skip-tls-verify`: the server's certificate is not verified. */
  readonly insecure: boolean;
  /** `tls-server-name`: the name the server's certificate is checked against, and sent as SNI. */
  readonly serverName?: string;
}

interface ConnectionBase {
  /** Where the settings came from, for messages: `kubeconfig /a, /b` or `in-cluster service account`. */
  readonly source: string;
  readonly context: string;
  /** The context's namespace, if it sets one. */
  readonly namespace: string | undefined;
  /** The apiserver's base URL; it may carry a path prefix (e.g. behind Rancher). */
  readonly server: string;
}

/** A connection this module serves itself. */
export interface NativeConnection extends ConnectionBase {
  readonly via: "native";
  readonly tls: TlsSettings;
  readonly credentials: Credentials;
}

/** A connection left to client-node: auth plugins, proxies, fields this module does not know. */
export interface DelegatedConnection extends ConnectionBase {
  readonly via: "client-node";
  /** The fields that made it so, e.g. `user.exec`. */
  readonly delegated: readonly string[];
  /** A kubeconfig of just this context, its cluster and its user, with file paths made absolute. */
  readonly kubeconfig: Readonly<Record<string, unknown>>;
}

/** A resolved kubeconfig context: what `createTransport` and `createKubeClient` take. */
export type KubeConnection = NativeConnection | DelegatedConnection;

/** What resolving reads from the outside world; injected so the rules are tested without files. */
export interface KubeconfigEnvironment {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly homeDir: string | undefined;
  /** Reads a whole file, throwing (code `ENOENT` if it does not exist) as `fs.readFileSync` does. */
  readFile(file: string): Buffer;
  /** Whether a regular file exists. */
  isFile(file: string): boolean;
}

const nodeEnvironment = (): KubeconfigEnvironment => ({
  env: process.env,
  homeDir: os.homedir(),
  readFile: (file) => fs.readFileSync(file),
  isFile: (file) => {
    try {
      return fs.statSync(file).isFile();
    } catch {
      return false;
    }
  },
});

/**
 * Loads credentials the way kubectl finds them. Unlike client-node's `loadFromDefault`, it
 * fails loudly when nothing is configured instead of silently pointing at http://localhost:8080,
 * and it checks the chosen context now, so a broken kubeconfig stops the process at start-up.
 */
export function loadKubeConfig(opts: LoadKubeConfigOptions = {}): KubeConnection {
  return resolveKubeConnection(opts, nodeEnvironment());
}

/**
 * The rules of client-go's loader, without I/O of its own. Files: the explicit path (which must
 * exist), else every file in `$KUBECONFIG` that exists, else `~/.kube/config`. They are merged
 * as client-go merges them: the first file to define a cluster, user or context name, or a
 * current-context, wins, and relative paths are resolved against the file that holds them.
 * When no file exists, or none chooses a context, the in-cluster service account is used if the
 * process runs in a pod.
 */
export function resolveKubeConnection(
  opts: LoadKubeConfigOptions,
  sys: KubeconfigEnvironment,
): KubeConnection {
  const candidates = kubeconfigFiles(opts, sys);
  const docs: { file: string; doc: Record<string, unknown> }[] = [];
  for (const file of candidates) {
    const doc = readKubeconfig(file, sys, file === opts.path);
    if (doc) docs.push({ file, doc });
  }
  const merged = merge(docs);
  const contextName = opts.context || merged.currentContext;
  if (!contextName) {
    if (inClusterPossible(sys)) return inCluster(sys);
    if (docs.length === 0)
      throw new Error(
        "no Kubernetes credentials: set KUBECONFIG, create ~/.kube/config, or run in a pod with a service account",
      );
    throw new Error(`${merged.source} sets no current-context, and no context was chosen`);
  }
  return fromContext(merged, contextName, sys);
}

function kubeconfigFiles(opts: LoadKubeConfigOptions, sys: KubeconfigEnvironment): string[] {
  if (opts.path) return [opts.path];
  const fromEnv = (sys.env.KUBECONFIG ?? "").split(path.delimiter).filter(Boolean);
  if (fromEnv.length > 0) return [...new Set(fromEnv)];
  return sys.homeDir ? [path.join(sys.homeDir, ".kube", "config")] : [];
}

function readKubeconfig(
  file: string,
  sys: KubeconfigEnvironment,
  required: boolean,
): Record<string, unknown> | undefined {
  let text: string;
  try {
    text = sys.readFile(file).toString("utf8");
  } catch (err) {
    if (!required && (err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new Error(`cannot read kubeconfig ${file}: ${(err as Error).message}`, { cause: err });
  }
  let doc: unknown;
  try {
    // YAML 1.1, as Go's YAML reader: `insecure-skip-tls-verify: yes` is a boolean there.
    doc = parse(text, { version: "1.1" });
  } catch (err) {
    throw new Error(`kubeconfig ${file} is not valid YAML: ${(err as Error).message}`, { cause: err });
  }
  if (doc === null || doc === undefined) return {};
  if (!isRecord(doc)) throw new Error(`kubeconfig ${file} is not a YAML mapping`);
  return doc;
}

interface Entry {
  readonly name: string;
  /** The entry's body, with relative file paths resolved against its file's directory. */
  readonly body: Record<string, unknown>;
  readonly file: string;
}

interface Merged {
  /** `kubeconfig a, b`, for messages. */
  readonly source: string;
  readonly clusters: Map<string, Entry>;
  readonly users: Map<string, Entry>;
  readonly contexts: Map<string, Entry>;
  readonly currentContext: string | undefined;
}

const PATH_FIELDS = {
  cluster: ["certificate-authority"],
  user: ["client-certificate", "client-key", "tokenFile"],
  context: [],
} as const;

function merge(docs: readonly { file: string; doc: Record<string, unknown> }[]): Merged {
  const merged = {
    source: docs.length > 0 ? `kubeconfig ${docs.map((d) => d.file).join(", ")}` : "no kubeconfig file",
    clusters: new Map<string, Entry>(),
    users: new Map<string, Entry>(),
    contexts: new Map<string, Entry>(),
    currentContext: undefined as string | undefined,
  };
  for (const { file, doc } of docs) {
    addEntries(merged.clusters, file, doc, "clusters", "cluster");
    addEntries(merged.users, file, doc, "users", "user");
    addEntries(merged.contexts, file, doc, "contexts", "context");
    merged.currentContext ||= optionalString(doc, "current-context", `kubeconfig ${file}`);
  }
  return merged;
}

function addEntries(
  into: Map<string, Entry>,
  file: string,
  doc: Record<string, unknown>,
  list: "clusters" | "users" | "contexts",
  kind: "cluster" | "user" | "context",
): void {
  const items = doc[list];
  if (items === undefined || items === null) return;
  if (!Array.isArray(items)) throw new Error(`kubeconfig ${file}: ${list} must be a list`);
  const seen = new Set<string>();
  items.forEach((item: unknown, i) => {
    const where = `kubeconfig ${file}: ${list}[${i}]`;
    if (!isRecord(item)) throw new Error(`${where} must be a mapping`);
    const name = optionalString(item, "name", where);
    if (!name) throw new Error(`${where} has no name`);
    if (seen.has(name)) throw new Error(`kubeconfig ${file}: duplicate ${kind} name "${name}"`);
    seen.add(name);
    const body = item[kind] ?? {};
    if (!isRecord(body)) throw new Error(`${where}.${kind} must be a mapping`);
    if (!into.has(name)) into.set(name, { name, body: resolvePaths(body, kind, file), file });
  });
}

/** client-go's ResolveLocalPaths: relative to the kubeconfig's directory, like kubectl. */
function resolvePaths(
  body: Record<string, unknown>,
  kind: "cluster" | "user" | "context",
  file: string,
): Record<string, unknown> {
  const dir = path.resolve(path.dirname(file));
  const out = { ...body };
  for (const field of PATH_FIELDS[kind]) {
    const value = out[field];
    if (typeof value === "string" && value !== "" && !path.isAbsolute(value))
      out[field] = path.join(dir, value);
  }
  // An exec command with a slash is a path; one without is looked up in $PATH.
  const exec = out.exec;
  if (kind === "user" && isRecord(exec) && typeof exec.command === "string" && exec.command.includes("/"))
    if (!path.isAbsolute(exec.command)) out.exec = { ...exec, command: path.join(dir, exec.command) };
  return out;
}

const NATIVE_FIELDS = {
  cluster: new Set([
    "server",
    "certificate-authority",
    "certificate-authority-data",
    "insecure-skip-tls-verify",
    "tls-server-name",
    // Metadata for tools, and an opt-out of response compression, which we never ask for.
    "extensions",
    "disable-compression",
  ]),
  user: new Set([
    "client-certificate",
    "client-certificate-data",
    "client-key",
    "client-key-data",
    "token",
    "tokenFile",
    "username",
    "password",
    "extensions",
  ]),
};

function fromContext(merged: Merged, contextName: string, sys: KubeconfigEnvironment): KubeConnection {
  const context = merged.contexts.get(contextName);
  if (!context) throw new Error(`context "${contextName}" not found in ${merged.source}`);
  const where = `context "${contextName}" in kubeconfig ${context.file}`;
  const clusterName = optionalString(context.body, "cluster", where);
  const userName = optionalString(context.body, "user", where);
  if (!clusterName) throw new Error(`${where} names no cluster`);
  if (!userName) throw new Error(`${where} names no user`);
  const cluster = merged.clusters.get(clusterName);
  if (!cluster)
    throw new Error(`cluster "${clusterName}" of context "${contextName}" not found in ${merged.source}`);
  const user = merged.users.get(userName);
  if (!user) throw new Error(`user "${userName}" of context "${contextName}" not found in ${merged.source}`);

  const clusterWhere = `cluster "${clusterName}" in kubeconfig ${cluster.file}`;
  const userWhere = `user "${userName}" in kubeconfig ${user.file}`;
  const base: ConnectionBase = {
    source: merged.source,
    context: contextName,
    namespace: optionalString(context.body, "namespace", where),
    server: serverUrl(cluster.body, clusterWhere),
  };
  const delegated = [
    ...unknownFields(cluster.body, NATIVE_FIELDS.cluster).map((f) => `cluster.${f}`),
    ...unknownFields(user.body, NATIVE_FIELDS.user).map((f) => `user.${f}`),
  ];
  if (delegated.length > 0) {
    return {
      ...base,
      via: "client-node",
      delegated,
      kubeconfig: {
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: clusterName, cluster: cluster.body }],
        users: [{ name: userName, user: user.body }],
        contexts: [
          {
            name: contextName,
            context: { cluster: clusterName, user: userName, namespace: base.namespace },
          },
        ],
        "current-context": contextName,
      },
    };
  }
  return {
    ...base,
    via: "native",
    tls: tlsSettings(cluster.body, clusterWhere, user.body, userWhere, sys),
    credentials: credentials(user.body, userWhere, sys),
  };
}

function serverUrl(cluster: Record<string, unknown>, where: string): string {
  const server = optionalString(cluster, "server", where);
  if (!server) throw new Error(`${where} has no server`);
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new Error(`${where}: server "${server}" is not a URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:")
    throw new Error(`${where}: server "${server}" is not an http or https URL`);
  return server;
}

function tlsSettings(
  cluster: Record<string, unknown>,
  clusterWhere: string,
  user: Record<string, unknown>,
  userWhere: string,
  sys: KubeconfigEnvironment,
): TlsSettings {
  const ca = material(cluster, "certificate-authority", clusterWhere, sys);
  const insecure = optionalBoolean(cluster, "insecure-skip-tls-verify", clusterWhere) ?? false;
  if (ca && insecure)
    throw new Error(
      `${clusterWhere}: certificate-authority and insecure-skip-tls-verify are both set (kubectl: "specifying a root certificates file with the insecure flag is not allowed")`,
    );
  const cert = material(user, "client-certificate", userWhere, sys);
  const key = material(user, "client-key", userWhere, sys);
  if (cert && !key) throw new Error(`${userWhere} has a client-certificate but no client-key`);
  const serverName = optionalString(cluster, "tls-server-name", clusterWhere);
  return {
    insecure,
    ...(ca ? { ca } : {}),
    // As in client-go, a key without a certificate is not used.
    ...(cert && key ? { cert, key } : {}),
    ...(serverName ? { serverName } : {}),
  };
}

/** `field` (a file) or `field-data` (base64), never both, as client-go validates. */
function material(
  body: Record<string, unknown>,
  field: string,
  where: string,
  sys: KubeconfigEnvironment,
): Material | undefined {
  const file = optionalString(body, field, where);
  const data = optionalString(body, `${field}-data`, where);
  if (file && data) throw new Error(`${where}: ${field} and ${field}-data are both set`);
  if (data) return { data: base64(data, `${where}: ${field}-data`) };
  if (!file) return undefined;
  readOrThrow(file, `${where}: cannot read ${field}`, sys);
  return { file };
}

function credentials(user: Record<string, unknown>, where: string, sys: KubeconfigEnvironment): Credentials {
  const token = optionalString(user, "token", where);
  const tokenFile = optionalString(user, "tokenFile", where);
  const username = optionalString(user, "username", where);
  const password = optionalString(user, "password", where);
  const basic = username !== undefined || password !== undefined;
  if (basic && (token || tokenFile))
    throw new Error(`${where} has both a token and a username/password; only one is allowed`);
  if (basic) return { type: "basic", username: username ?? "", password: password ?? "" };
  if (!token && !tokenFile) return { type: "none" };
  // Without an inline token to fall back on, the file must be readable now (client-go reads it here).
  if (!token && tokenFile)
    readToken(tokenFile, (file) => readOrThrow(file, `${where}: cannot read tokenFile`, sys));
  return { type: "token", ...(token ? { token } : {}), ...(tokenFile ? { tokenFile } : {}) };
}

function inClusterPossible(sys: KubeconfigEnvironment): boolean {
  return Boolean(
    sys.env.KUBERNETES_SERVICE_HOST && sys.env.KUBERNETES_SERVICE_PORT && sys.isFile(SERVICE_ACCOUNT_TOKEN),
  );
}

/** client-go's InClusterConfig: always https, the token re-read as it rotates. */
function inCluster(sys: KubeconfigEnvironment): NativeConnection {
  const host = sys.env.KUBERNETES_SERVICE_HOST ?? "";
  const port = sys.env.KUBERNETES_SERVICE_PORT ?? "";
  readToken(SERVICE_ACCOUNT_TOKEN, (file) =>
    readOrThrow(file, "in-cluster service account: cannot read the token", sys),
  );
  let namespace = sys.env.POD_NAMESPACE || undefined;
  if (!namespace && sys.isFile(SERVICE_ACCOUNT_NAMESPACE))
    namespace = sys.readFile(SERVICE_ACCOUNT_NAMESPACE).toString("utf8").trim() || undefined;
  return {
    via: "native",
    source: "in-cluster service account",
    context: "in-cluster",
    namespace,
    server: `https://${host.includes(":") ? `[${host}]` : host}:${port}`,
    // Without the CA file client-go carries on with the system's roots; so do we.
    tls: { insecure: false, ...(sys.isFile(SERVICE_ACCOUNT_CA) ? { ca: { file: SERVICE_ACCOUNT_CA } } : {}) },
    credentials: { type: "token", tokenFile: SERVICE_ACCOUNT_TOKEN },
  };
}

/** The fields set to something (Go's omitempty: not null, "", false, [] or {}) that we do not serve. */
function unknownFields(body: Record<string, unknown>, known: ReadonlySet<string>): string[] {
  return Object.keys(body)
    .filter((key) => !known.has(key) && isSet(body[key]))
    .sort();
}

function isSet(value: unknown): boolean {
  if (value === undefined || value === null || value === "" || value === false) return false;
  if (Array.isArray(value)) return value.length > 0;
  if (isRecord(value)) return Object.keys(value).length > 0;
  return true;
}

function optionalString(body: Record<string, unknown>, key: string, where: string): string | undefined {
  const value = body[key];
  if (value === undefined || value === null || value === "") return undefined;
  if (typeof value !== "string") throw new Error(`${where}: ${key} must be a string`);
  return value;
}

function optionalBoolean(body: Record<string, unknown>, key: string, where: string): boolean | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "boolean") throw new Error(`${where}: ${key} must be true or false`);
  return value;
}

/** Standard base64, line breaks allowed, as Go decodes `[]byte` fields; anything else is refused. */
function base64(text: string, where: string): Buffer {
  const compact = text.replace(/[\r\n]/g, "");
  if (compact.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(compact))
    throw new Error(`${where} is not valid base64`);
  return Buffer.from(compact, "base64");
}

function readOrThrow(file: string, message: string, sys: KubeconfigEnvironment): Buffer {
  try {
    return sys.readFile(file);
  } catch (err) {
    throw new Error(`${message} ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** client-go's file token source: trimmed, and an empty file is an error. */
export function readToken(file: string, readFile: (file: string) => Buffer): string {
  const token = readFile(file).toString("utf8").trim();
  if (!token) throw new Error(`token file ${file} is empty`);
  return token;
}
