import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createTransport, loadKubeConfig } from "./kubeconfig.js";

const kubeconfigYaml = (server: string) => `
apiVersion: v1
kind: Config
clusters:
  - name: one
    cluster: { server: "${server}", insecure-skip-tls-verify: true }
  - name: two
    cluster: { server: "https://two.example:6443", insecure-skip-tls-verify: true }
users:
  - name: alice
    user: { token: alice-token }
contexts:
  - name: first
    context: { cluster: one, user: alice }
  - name: second
    context: { cluster: two, user: alice }
current-context: first
`;

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "kubeconfig-test-"));
});
afterEach(() => {
  vi.unstubAllEnvs();
  fs.rmSync(dir, { recursive: true, force: true });
});

function writeConfig(server = "https://one.example:6443"): string {
  const file = path.join(dir, "config");
  fs.writeFileSync(file, kubeconfigYaml(server));
  return file;
}

describe("loadKubeConfig", () => {
  it("loads an explicit file, with its current context or a chosen one", () => {
    const file = writeConfig();
    expect(loadKubeConfig({ path: file }).getCurrentCluster()?.server).toBe("https://one.example:6443");
    expect(loadKubeConfig({ path: file, context: "second" }).getCurrentCluster()?.server).toBe(
      "https://two.example:6443",
    );
  });

  it("follows $KUBECONFIG", () => {
    vi.stubEnv("KUBECONFIG", writeConfig("https://from-env.example"));
    expect(loadKubeConfig().getCurrentCluster()?.server).toBe("https://from-env.example");
  });

  it("fails loudly when no credentials exist, instead of defaulting to localhost:8080", () => {
    vi.stubEnv("KUBECONFIG", "");
    vi.stubEnv("HOME", dir);
    vi.stubEnv("KUBERNETES_SERVICE_HOST", "");
    expect(() => loadKubeConfig()).toThrow(/no Kubernetes credentials/);
  });

  it("refuses an unknown context", () => {
    expect(() => loadKubeConfig({ path: writeConfig(), context: "nope" })).toThrow();
  });
});

function kubeConfig(opts: { server?: string; certData?: string; proxyUrl?: string } = {}): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [
      {
        name: "c",
        server: opts.server ?? "https://10.0.0.1:6443/prefix",
        caData: Buffer.from("ca").toString("base64"),
        proxyUrl: opts.proxyUrl,
      },
    ],
    users: [{ name: "u", token: "tok", certData: opts.certData }],
    contexts: [{ name: "ctx", cluster: "c", user: "u" }],
    currentContext: "ctx",
  });
  return kc;
}

describe("createTransport", () => {
  it("exposes the server URL and fresh credentials", async () => {
    const t = createTransport(kubeConfig());
    expect(t.server.href).toBe("https://10.0.0.1:6443/prefix");
    const opts = await t.requestOptions();
    expect(opts.headers).toMatchObject({ Authorization: "Bearer tok" });
    expect(opts.ca).toEqual(Buffer.from("ca"));
    t.close();
  });

  it("shares one keep-alive agent while the TLS material is unchanged", async () => {
    const t = createTransport(kubeConfig());
    const a = (await t.requestOptions()).agent;
    const b = (await t.requestOptions()).agent;
    expect(a).toBe(b);
    expect((a as { keepAlive?: boolean }).keepAlive).toBe(true);
    t.close();
  });

  it("builds a new agent when the client certificate rotates", async () => {
    const kc = kubeConfig({ certData: Buffer.from("cert-1").toString("base64") });
    const t = createTransport(kc);
    const first = (await t.requestOptions()).agent;
    kc.users = [{ name: "u", token: "tok", certData: Buffer.from("cert-2").toString("base64") }];
    const second = (await t.requestOptions()).agent;
    expect(second).not.toBe(first);
    expect((await t.requestOptions()).agent).toBe(second);
    t.close();
  });

  it("leaves the kubeconfig's proxy agent in place", async () => {
    const t = createTransport(kubeConfig({ proxyUrl: "http://proxy.example:3128" }));
    const a = (await t.requestOptions()).agent;
    const b = (await t.requestOptions()).agent;
    expect(a).toBeDefined();
    expect(a).not.toBe(b); // KubeConfig builds its proxy agent per call
  });

  it("refuses a kubeconfig without a current cluster", () => {
    expect(() => createTransport(new KubeConfig())).toThrow(/has no cluster/);
  });
});
