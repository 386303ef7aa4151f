/**
 * Connects the plugin the way kubectl connects: the same kubeconfig search, `--kubeconfig` and
 * `--context`, and the context's namespace as the default. It uses the operator's own client,
 * so the plugin and the controller speak to the apiserver identically.
 */
import { createKubeClient, type KubeClient } from "../runtime/client.js";
import { loadKubeConfig } from "../runtime/kubeconfig.js";
import { CliError } from "./errors.js";

export interface ConnectOptions {
  kubeconfig?: string;
  context?: string;
}

export interface Connection {
  client: KubeClient;
  /** The kubeconfig context's namespace, else `default`. */
  defaultNamespace: string;
  /** The apiserver URL, for error messages. */
  server: string;
}

export type Connect = (options: ConnectOptions) => Connection;

/** Loads the kubeconfig and creates a client; a kubeconfig that cannot be used is a CliError. */
export function connect(options: ConnectOptions): Connection {
  let kc;
  try {
    kc = loadKubeConfig({ path: options.kubeconfig, context: options.context });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const hint = options.context ? ` (is there a context "${options.context}" in the kubeconfig?)` : "";
    throw new CliError(`cannot use the kubeconfig: ${message}${hint}`);
  }
  return {
    client: createKubeClient(kc, { userAgent: "kubectl-crescendo", timeoutMs: 30_000 }),
    defaultNamespace: kc.namespace || "default",
    server: kc.server,
  };
}
