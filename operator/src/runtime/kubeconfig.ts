/**
 * Where the apiserver is and how to authenticate to it. `@kubernetes/client-node`'s
 * KubeConfig does the hard parts (kubeconfig files, in-cluster service account, exec and
 * OIDC plugins, client certificates); this module turns it into request options for Node's
 * own `http`/`https`, with one keep-alive agent so requests reuse TLS connections.
 */
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { KubeConfig } from "@kubernetes/client-node";

const SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token";

export interface LoadKubeConfigOptions {
  /** A kubeconfig file; otherwise `$KUBECONFIG`, `~/.kube/config`, then the in-cluster service account. */
  path?: string;
  /** A context other than the file's current one. */
  context?: string;
}

/**
 * Loads credentials the way kubectl finds them. Unlike `loadFromDefault`, it fails loudly
 * when nothing is configured instead of silently pointing at http://localhost:8080.
 */
export function loadKubeConfig(opts: LoadKubeConfigOptions = {}): KubeConfig {
  const kc = new KubeConfig();
  if (opts.path) {
    kc.loadFromFile(opts.path);
  } else if (process.env.KUBECONFIG || fs.existsSync(path.join(os.homedir(), ".kube", "config"))) {
    kc.loadFromDefault();
  } else if (process.env.KUBERNETES_SERVICE_HOST && fs.existsSync(SERVICE_ACCOUNT_TOKEN)) {
    kc.loadFromCluster();
  } else {
    throw new Error(
      "no Kubernetes credentials: set KUBECONFIG, create ~/.kube/config, or run in a pod with a service account",
    );
  }
  if (opts.context) kc.setCurrentContext(opts.context);
  if (!kc.getCurrentCluster())
    throw new Error(`kubeconfig context "${kc.getCurrentContext()}" has no cluster`);
  return kc;
}

/** Everything a request needs besides its method, path and body. */
export interface Transport {
  /** The apiserver's base URL; it may carry a path prefix (e.g. behind Rancher). */
  readonly server: URL;
  /** Options with fresh credentials (tokens expire and rotate) and the shared agent. */
  requestOptions(): Promise<https.RequestOptions>;
  /** Closes idle keep-alive connections, so a process can exit promptly. */
  close(): void;
}

type TlsMaterial = Pick<
  https.AgentOptions,
  "ca" | "cert" | "key" | "pfx" | "passphrase" | "rejectUnauthorized" | "servername"
>;
const TLS_FIELDS = ["ca", "cert", "key", "pfx", "passphrase", "rejectUnauthorized", "servername"] as const;

/**
 * Builds a Transport for the kubeconfig's current context. KubeConfig creates a fresh,
 * non-keep-alive agent on every call; we replace it with one cached agent (rebuilt only if
 * the TLS material changes, e.g. a rotated client certificate), unless a proxy is configured,
 * in which case KubeConfig's proxy agent is used as is.
 */
export function createTransport(kc: KubeConfig): Transport {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error(`kubeconfig context "${kc.getCurrentContext()}" has no cluster`);
  const server = new URL(cluster.server);
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
      const opts: https.RequestOptions = { headers: {} };
      await kc.applyToHTTPSOptions(opts);
      if (!cluster.proxyUrl) {
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

function sameTls(a: TlsMaterial, b: TlsMaterial): boolean {
  return TLS_FIELDS.every((field) => sameValue(a[field], b[field]));
}

function sameValue(a: unknown, b: unknown): boolean {
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b);
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  return a === b;
}
