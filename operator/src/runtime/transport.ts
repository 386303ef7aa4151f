/**
 * A KubeConnection (`kubeconfig.ts`) as request options for Node's own `http`/`https`: fresh
 * credentials on every request (token files re-read as they rotate) and one keep-alive agent, so
 * requests reuse TLS connections. A connection left to client-node (exec plugins, OIDC,
 * proxies) imports that library on its first request, not before.
 */
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";
import {
  FILE_REREAD_MS,
  readToken,
  type DelegatedConnection,
  type KubeConnection,
  type Material,
  type NativeConnection,
} from "./kubeconfig.js";

/** Everything a request needs besides its method, path and body. */
export interface Transport {
  /** The apiserver's base URL; it may carry a path prefix (e.g. behind Rancher). */
  readonly server: URL;
  /** Options with fresh credentials (tokens expire and rotate) and the shared agent. */
  requestOptions(): Promise<https.RequestOptions>;
  /** Closes idle keep-alive connections, so a process can exit promptly. */
  close(): void;
}

/** Seams for tests: the clock that paces file re-reads, and the file reader. */
export interface TransportOptions {
  now?: () => number;
  readFile?: (file: string) => Buffer;
}

type TlsMaterial = Pick<
  https.AgentOptions,
  "ca" | "cert" | "key" | "pfx" | "passphrase" | "rejectUnauthorized" | "servername"
>;
const TLS_FIELDS = ["ca", "cert", "key", "pfx", "passphrase", "rejectUnauthorized", "servername"] as const;

/** Request options with credentials; an `agent` only when it must be used as is (a proxy). */
type Authenticate = () => Promise<https.RequestOptions>;

/**
 * Builds a Transport for a connection, with one cached keep-alive agent (rebuilt only if the
 * TLS material changes, e.g. a rotated client certificate), unless a proxy is configured, in
 * which case client-node's proxy agent is used as is.
 */
export function createTransport(conn: KubeConnection, options: TransportOptions = {}): Transport {
  const server = new URL(conn.server);
  const authenticate =
    conn.via === "native"
      ? nativeAuthentication(conn, options.now ?? Date.now, options.readFile ?? ((f) => fs.readFileSync(f)))
      : delegatedAuthentication(conn);
  let cached: { tls: TlsMaterial; agent: http.Agent } | undefined;

  function agentFor(tls: TlsMaterial): http.Agent {
    if (cached && sameTls(cached.tls, tls)) return cached.agent;
    // The previous agent is dropped, not destroyed: open watches on it must finish normally,
    // and its idle sockets are unref'd, so they never keep the process alive.
    const agent =
      server.protocol === "https:"
        ? new https.Agent({ ...tls, keepAlive: true })
        : new http.Agent({ keepAlive: true });
    cached = { tls, agent };
    return agent;
  }

  return {
    server,
    async requestOptions() {
      const opts = await authenticate();
      if (!opts.agent) {
        const tls: TlsMaterial = {};
        for (const field of TLS_FIELDS)
          if (opts[field] !== undefined) Object.assign(tls, { [field]: opts[field] });
        opts.agent = agentFor(tls);
      }
      return opts;
    },
    close() {
      cached?.agent.destroy();
      cached = undefined;
    },
  };
}

function nativeAuthentication(
  conn: NativeConnection,
  now: () => number,
  readFile: (file: string) => Buffer,
): Authenticate {
  const read = rereading(readFile, now);
  const bytes = (m: Material): Buffer => ("data" in m ? m.data : read(m.file));
  const { tls, credentials } = conn;
  return async () => {
    const headers: http.OutgoingHttpHeaders = {};
    const opts: https.RequestOptions = { headers };
    if (tls.ca) opts.ca = bytes(tls.ca);
    if (tls.cert && tls.key) {
      opts.cert = bytes(tls.cert);
      opts.key = bytes(tls.key);
    }
    if (tls.insecure) opts.rejectUnauthorized = false;
    if (tls.serverName) opts.servername = tls.serverName;
    if (credentials.type === "token") {
      headers.Authorization = `Bearer ${bearerToken(credentials, (file) => readToken(file, read))}`;
    } else if (credentials.type === "basic") {
      const pair = `${credentials.username}:${credentials.password}`;
      headers.Authorization = `Basic ${Buffer.from(pair).toString("base64")}`;
    }
    return opts;
  };
}

/** client-go's bearer round tripper: the file's token if it can be read, else the inline one. */
function bearerToken(
  creds: { token?: string; tokenFile?: string },
  readTokenFile: (file: string) => string,
): string {
  if (!creds.tokenFile) return creds.token ?? "";
  try {
    return readTokenFile(creds.tokenFile);
  } catch (err) {
    if (creds.token) return creds.token;
    throw err;
  }
}

/**
 * Reads each file at most once per FILE_REREAD_MS. A failed re-read keeps the last content and
 * is tried again on the next call (as client-go's cached token source does); a first read fails.
 */
function rereading(readFile: (file: string) => Buffer, now: () => number): (file: string) => Buffer {
  const cache = new Map<string, { at: number; data: Buffer }>();
  return (file) => {
    const hit = cache.get(file);
    if (hit && now() - hit.at < FILE_REREAD_MS) return hit.data;
    try {
      const data = readFile(file);
      cache.set(file, { at: now(), data });
      return data;
    } catch (err) {
      if (hit) return hit.data;
      throw err;
    }
  };
}

/**
 * One client-node KubeConfig per connection, shared by its transports (the manager builds a
 * second client for leader election), so an exec plugin's cached credential serves them all.
 */
const clientNodeConfigs = new WeakMap<DelegatedConnection, Promise<KubeConfig>>();

function delegatedAuthentication(conn: DelegatedConnection): Authenticate {
  return async () => {
    let loading = clientNodeConfigs.get(conn);
    if (!loading) {
      loading = clientNodeConfig(conn);
      clientNodeConfigs.set(conn, loading);
      // A failed import or load is tried again on the next request.
      loading.catch(() => clientNodeConfigs.delete(conn));
    }
    const kc = await loading;
    const opts: https.RequestOptions = { headers: {} };
    await kc.applyToHTTPSOptions(opts);
    // KubeConfig builds a fresh, non-keep-alive agent per call; only a proxy agent is kept.
    if (!kc.getCurrentCluster()?.proxyUrl) delete opts.agent;
    return opts;
  };
}

/** The lazy import: only processes whose kubeconfig needs client-node load it. */
async function clientNodeConfig(conn: DelegatedConnection): Promise<KubeConfig> {
  const { KubeConfig } = await import("@kubernetes/client-node");
  const kc = new KubeConfig();
  kc.loadFromString(JSON.stringify(conn.kubeconfig));
  return kc;
}

function sameTls(a: TlsMaterial, b: TlsMaterial): boolean {
  return TLS_FIELDS.every((field) => sameValue(a[field], b[field]));
}

function sameValue(a: unknown, b: unknown): boolean {
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b);
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  return a === b;
}
