import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { stringify } from "yaml";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  FILE_REREAD_MS,
  loadKubeConfig,
  resolveKubeConnection,
  type KubeConnection,
  type KubeconfigEnvironment,
  type LoadKubeConfigOptions,
  type NativeConnection,
} from "./kubeconfig.js";
import { createTransport } from "./transport.js";

// Counts imports of client-node, to show that only a connection that needs it loads it.
const clientNode = vi.hoisted(() => ({ imports: 0 }));
vi.mock("@kubernetes/client-node", async (importOriginal) => {
  clientNode.imports++;
  return importOriginal();
});

const b64 = (s: string) => Buffer.from(s).toString("base64");

/** A kubeconfig document: one context `ctx` → cluster `c` and user `u`, each overridable. */
function doc(
  opts: {
    cluster?: Record<string, unknown>;
    user?: Record<string, unknown>;
    context?: Record<string, unknown>;
    current?: string | null;
  } = {},
): string {
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "c", cluster: opts.cluster ?? { server: "https://c.example:6443" } }],
    users: [{ name: "u", user: opts.user ?? { token: "tok" } }],
    contexts: [{ name: "ctx", context: opts.context ?? { cluster: "c", user: "u" } }],
    ...(opts.current === null ? {} : { "current-context": opts.current ?? "ctx" }),
  });
}

const SA = "/var/run/secrets/kubernetes.io/serviceaccount";

function fakeSystem(
  files: Record<string, string | Buffer>,
  env: Record<string, string> = {},
  homeDir = "/home/me",
): KubeconfigEnvironment {
  return {
    env,
    homeDir,
    readFile(file) {
      const content = files[file];
      if (content === undefined)
        throw Object.assign(new Error(`ENOENT: no such file or directory, open '${file}'`), {
          code: "ENOENT",
        });
      return Buffer.from(content);
    },
    isFile: (file) => files[file] !== undefined,
  };
}

function resolve(
  files: Record<string, string | Buffer>,
  opts: LoadKubeConfigOptions = {},
  env: Record<string, string> = {},
): KubeConnection {
  return resolveKubeConnection(opts, fakeSystem(files, env));
}

function native(conn: KubeConnection): NativeConnection {
  if (conn.via !== "native") throw new Error(`delegated: ${conn.delegated.join(", ")}`);
  return conn;
}

const inClusterEnv = { KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443" };
const inClusterFiles = {
  [`${SA}/token`]: "sa-token\n",
  [`${SA}/ca.crt`]: "sa-ca",
  [`${SA}/namespace`]: "team-a",
};

describe("resolveKubeConnection: which kubeconfig", () => {
  const a = doc({ cluster: { server: "https://a.example" } });
  const b = doc({ cluster: { server: "https://b.example" } });

  it("takes an explicit path over $KUBECONFIG and ~/.kube/config", () => {
    const files = { "/x/config": a, "/env/config": b, "/home/me/.kube/config": b };
    const conn = resolve(files, { path: "/x/config" }, { KUBECONFIG: "/env/config" });
    expect(conn.server).toBe("https://a.example");
    expect(conn.source).toBe("kubeconfig /x/config");
  });

  it("refuses an explicit path that does not exist, instead of looking elsewhere", () => {
    expect(() => resolve({ "/home/me/.kube/config": a }, { path: "/nope" })).toThrow(
      /cannot read kubeconfig \/nope: ENOENT/,
    );
  });

  it("takes $KUBECONFIG over ~/.kube/config, skipping listed files that do not exist", () => {
    const files = { "/env/config": a, "/home/me/.kube/config": b };
    const conn = resolve(files, {}, { KUBECONFIG: "/missing:/env/config:" });
    expect(conn.server).toBe("https://a.example");
    expect(conn.source).toBe("kubeconfig /env/config");
  });

  it("falls back to ~/.kube/config", () => {
    expect(resolve({ "/home/me/.kube/config": b }).server).toBe("https://b.example");
  });

  it("merges $KUBECONFIG files the client-go way: the first to set a name or current-context wins", () => {
    const first = stringify({
      clusters: [{ name: "shared", cluster: { server: "https://first.example" } }],
      users: [{ name: "me", user: { token: "first-token" } }],
      contexts: [{ name: "one", context: { cluster: "shared", user: "me", namespace: "ns1" } }],
    });
    const second = stringify({
      clusters: [
        { name: "shared", cluster: { server: "https://second.example" } },
        { name: "only-second", cluster: { server: "https://only-second.example" } },
      ],
      users: [{ name: "me", user: { token: "second-token" } }],
      contexts: [
        { name: "one", context: { cluster: "only-second", user: "me" } },
        { name: "two", context: { cluster: "only-second", user: "me" } },
      ],
      "current-context": "one",
    });
    const third = stringify({ "current-context": "two" });
    const files = { "/1/config": first, "/2/config": second, "/3/config": third };
    const conn = native(resolve(files, {}, { KUBECONFIG: "/1/config:/2/config:/3/config:/1/config" }));
    expect(conn).toMatchObject({
      source: "kubeconfig /1/config, /2/config, /3/config",
      context: "one", // the second file is the first to set current-context
      namespace: "ns1", // context "one" from the first file
      server: "https://first.example", // cluster "shared" from the first file
      credentials: { type: "token", token: "first-token" },
    });
    expect(resolve(files, { context: "two" }, { KUBECONFIG: "/1/config:/2/config" }).server).toBe(
      "https://only-second.example",
    );
  });

  it("uses the in-cluster service account when no kubeconfig file exists", () => {
    const conn = native(resolve(inClusterFiles, {}, { ...inClusterEnv, KUBECONFIG: "/missing" }));
    expect(conn).toEqual({
      via: "native",
      source: "in-cluster service account",
      context: "in-cluster",
      namespace: "team-a",
      server: "https://10.96.0.1:443",
      tls: { insecure: false, ca: { file: `${SA}/ca.crt` } },
      credentials: { type: "token", tokenFile: `${SA}/token` },
    });
  });

  it("in cluster: POD_NAMESPACE wins, IPv6 hosts are bracketed, a missing CA means the system's roots", () => {
    const conn = native(
      resolve(
        { [`${SA}/token`]: "t" },
        {},
        { KUBERNETES_SERVICE_HOST: "fd00::1", KUBERNETES_SERVICE_PORT: "6443", POD_NAMESPACE: "from-env" },
      ),
    );
    expect(conn.server).toBe("https://[fd00::1]:6443");
    expect(conn.namespace).toBe("from-env");
    expect(conn.tls).toEqual({ insecure: false });
  });

  it("in cluster: an empty token file is an error", () => {
    expect(() => resolve({ [`${SA}/token`]: " \n" }, {}, inClusterEnv)).toThrow(/token file .* is empty/);
  });

  it("uses the in-cluster service account when the kubeconfig chooses no context", () => {
    const files = { ...inClusterFiles, "/home/me/.kube/config": doc({ current: null }) };
    expect(resolve(files, {}, inClusterEnv).source).toBe("in-cluster service account");
    expect(() => resolve(files)).toThrow(
      "kubeconfig /home/me/.kube/config sets no current-context, and no context was chosen",
    );
  });

  it("is not in a cluster without the service host, the port and the token", () => {
    const noCredentials = /no Kubernetes credentials/;
    expect(() => resolve(inClusterFiles, {}, { KUBERNETES_SERVICE_HOST: "10.96.0.1" })).toThrow(
      noCredentials,
    );
    expect(() => resolve(inClusterFiles, {}, { KUBERNETES_SERVICE_PORT: "443" })).toThrow(noCredentials);
    expect(() => resolve({}, {}, inClusterEnv)).toThrow(noCredentials);
  });

  it("refuses a chosen context when there is no kubeconfig, even in a cluster", () => {
    expect(() => resolve(inClusterFiles, { context: "prod" }, inClusterEnv)).toThrow(
      'context "prod" not found in no kubeconfig file',
    );
  });
});

describe("resolveKubeConnection: the context", () => {
  const file = "/cfg/config";

  it("uses current-context, or the chosen context", () => {
    const two = stringify({
      clusters: [
        { name: "c1", cluster: { server: "https://one.example" } },
        { name: "c2", cluster: { server: "https://two.example" } },
      ],
      users: [{ name: "u", user: {} }],
      contexts: [
        { name: "first", context: { cluster: "c1", user: "u" } },
        { name: "second", context: { cluster: "c2", user: "u", namespace: "ns" } },
      ],
      "current-context": "first",
    });
    expect(resolve({ [file]: two }, { path: file })).toMatchObject({
      context: "first",
      server: "https://one.example",
    });
    expect(resolve({ [file]: two }, { path: file, context: "second" })).toMatchObject({
      context: "second",
      namespace: "ns",
      server: "https://two.example",
    });
  });

  it.each([
    [
      "an unknown context",
      { path: file, context: "nope" },
      doc(),
      'context "nope" not found in kubeconfig /cfg/config',
    ],
    [
      "a context without a cluster",
      { path: file },
      doc({ context: { user: "u" } }),
      'context "ctx" in kubeconfig /cfg/config names no cluster',
    ],
    [
      "a context without a user",
      { path: file },
      doc({ context: { cluster: "c" } }),
      'context "ctx" in kubeconfig /cfg/config names no user',
    ],
    [
      "a missing cluster",
      { path: file },
      doc({ context: { cluster: "gone", user: "u" } }),
      'cluster "gone" of context "ctx" not found in kubeconfig /cfg/config',
    ],
    [
      "a missing user",
      { path: file },
      doc({ context: { cluster: "c", user: "gone" } }),
      'user "gone" of context "ctx" not found in kubeconfig /cfg/config',
    ],
    [
      "a cluster without a server",
      { path: file },
      doc({ cluster: { "insecure-skip-tls-verify": true } }),
      'cluster "c" in kubeconfig /cfg/config has no server',
    ],
    [
      "a server that is not a URL",
      { path: file },
      doc({ cluster: { server: "c.example:6443" } }),
      'cluster "c" in kubeconfig /cfg/config: server "c.example:6443" is not an http or https URL',
    ],
    [
      "YAML that is not a kubeconfig",
      { path: file },
      "- a\n- b\n",
      "kubeconfig /cfg/config is not a YAML mapping",
    ],
    ["broken YAML", { path: file }, "clusters: [", "kubeconfig /cfg/config is not valid YAML"],
    [
      "clusters that are not a list",
      { path: file },
      "clusters: {}\n",
      "kubeconfig /cfg/config: clusters must be a list",
    ],
    [
      "a nameless entry",
      { path: file },
      stringify({ users: [{ user: {} }] }),
      "kubeconfig /cfg/config: users[0] has no name",
    ],
    [
      "a name used twice in one file",
      { path: file },
      stringify({ users: [{ name: "u" }, { name: "u" }] }),
      'kubeconfig /cfg/config: duplicate user name "u"',
    ],
  ])("refuses %s, naming the kubeconfig", (_, opts, content, message) => {
    expect(() => resolve({ [file]: content }, opts)).toThrow(message);
  });
});

describe("resolveKubeConnection: cluster TLS", () => {
  const file = "/cfg/config";
  const tls = (cluster: Record<string, unknown>, files: Record<string, string> = {}) =>
    native(
      resolve(
        { [file]: doc({ cluster: { server: "https://c.example", ...cluster } }), ...files },
        { path: file },
      ),
    ).tls;

  it("decodes certificate-authority-data", () => {
    expect(tls({ "certificate-authority-data": b64("the-ca") })).toEqual({
      insecure: false,
      ca: { data: Buffer.from("the-ca") },
    });
  });

  it("accepts base64 with line breaks, refuses anything else", () => {
    expect(
      tls({ "certificate-authority-data": `${b64("the-ca").slice(0, 4)}\n${b64("the-ca").slice(4)}` }).ca,
    ).toEqual({
      data: Buffer.from("the-ca"),
    });
    expect(() => tls({ "certificate-authority-data": "-----BEGIN CERTIFICATE-----" })).toThrow(
      'cluster "c" in kubeconfig /cfg/config: certificate-authority-data is not valid base64',
    );
  });

  it("resolves a relative certificate-authority against the kubeconfig's directory", () => {
    expect(tls({ "certificate-authority": "pki/ca.crt" }, { "/cfg/pki/ca.crt": "ca" }).ca).toEqual({
      file: "/cfg/pki/ca.crt",
    });
    expect(tls({ "certificate-authority": "/etc/ca.crt" }, { "/etc/ca.crt": "ca" }).ca).toEqual({
      file: "/etc/ca.crt",
    });
  });

  it("resolves each file's paths against its own directory when merging", () => {
    const clusters = stringify({
      clusters: [{ name: "c", cluster: { server: "https://c.example", "certificate-authority": "ca.crt" } }],
    });
    const rest = stringify({
      users: [{ name: "u", user: { tokenFile: "token" } }],
      contexts: [{ name: "ctx", context: { cluster: "c", user: "u" } }],
      "current-context": "ctx",
    });
    const files = { "/a/config": clusters, "/b/config": rest, "/a/ca.crt": "ca", "/b/token": "t" };
    const conn = native(resolve(files, {}, { KUBECONFIG: "/a/config:/b/config" }));
    expect(conn.tls.ca).toEqual({ file: "/a/ca.crt" });
    expect(conn.credentials).toEqual({ type: "token", tokenFile: "/b/token" });
  });

  it("refuses a certificate-authority that cannot be read", () => {
    expect(() => tls({ "certificate-authority": "missing.crt" })).toThrow(
      'cluster "c" in kubeconfig /cfg/config: cannot read certificate-authority /cfg/missing.crt: ENOENT',
    );
  });

  it("refuses certificate-authority and certificate-authority-data together, as kubectl does", () => {
    expect(() =>
      tls(
        { "certificate-authority": "/etc/ca.crt", "certificate-authority-data": b64("ca") },
        { "/etc/ca.crt": "ca" },
      ),
    ).toThrow("certificate-authority and certificate-authority-data are both set");
  });

  it("refuses a CA together with insecure-skip-tls-verify, as kubectl does", () => {
    expect(() => tls({ "certificate-authority-data": b64("ca"), "insecure-skip-tls-verify": true })).toThrow(
      "certificate-authority and insecure-skip-tls-verify are both set",
    );
  });

  it("reads insecure-skip-tls-verify as kubectl's YAML does, and refuses a quoted one", () => {
    expect(tls({ "insecure-skip-tls-verify": true })).toEqual({ insecure: true });
    const yes = `clusters:\n- name: c\n  cluster: {server: "https://c.example", insecure-skip-tls-verify: yes}\nusers: [{name: u}]\ncontexts: [{name: ctx, context: {cluster: c, user: u}}]\ncurrent-context: ctx\n`;
    expect(native(resolve({ [file]: yes }, { path: file })).tls.insecure).toBe(true);
    expect(() => tls({ "insecure-skip-tls-verify": "true" })).toThrow(
      'cluster "c" in kubeconfig /cfg/config: insecure-skip-tls-verify must be true or false',
    );
  });

  it("carries tls-server-name", () => {
    expect(tls({ "tls-server-name": "kubernetes.default" })).toEqual({
      insecure: false,
      serverName: "kubernetes.default",
    });
  });
});

describe("resolveKubeConnection: user credentials", () => {
  const file = "/cfg/config";
  const conn = (user: Record<string, unknown>, files: Record<string, string> = {}) =>
    native(resolve({ [file]: doc({ user }), ...files }, { path: file }));

  it("reads client certificates from data or from files relative to the kubeconfig", () => {
    expect(conn({ "client-certificate-data": b64("cert"), "client-key-data": b64("key") }).tls).toEqual({
      insecure: false,
      cert: { data: Buffer.from("cert") },
      key: { data: Buffer.from("key") },
    });
    const files = { "/cfg/me.crt": "cert", "/keys/me.key": "key" };
    expect(conn({ "client-certificate": "me.crt", "client-key": "/keys/me.key" }, files).tls).toEqual({
      insecure: false,
      cert: { file: "/cfg/me.crt" },
      key: { file: "/keys/me.key" },
    });
  });

  it("refuses a certificate without a key, or one given twice", () => {
    expect(() => conn({ "client-certificate-data": b64("cert") })).toThrow(
      'user "u" in kubeconfig /cfg/config has a client-certificate but no client-key',
    );
    expect(() =>
      conn(
        { "client-certificate": "/c", "client-certificate-data": b64("c"), "client-key-data": b64("k") },
        { "/c": "c" },
      ),
    ).toThrow("client-certificate and client-certificate-data are both set");
    expect(() => conn({ "client-certificate": "/missing", "client-key-data": b64("k") })).toThrow(
      'user "u" in kubeconfig /cfg/config: cannot read client-certificate /missing',
    );
  });

  it("takes a token, a tokenFile, or both", () => {
    expect(conn({ token: "t" }).credentials).toEqual({ type: "token", token: "t" });
    expect(conn({ tokenFile: "token" }, { "/cfg/token": "t\n" }).credentials).toEqual({
      type: "token",
      tokenFile: "/cfg/token",
    });
    // With an inline token to fall back on, the file need not exist yet (client-go reads it later).
    expect(conn({ token: "t", tokenFile: "/later" }).credentials).toEqual({
      type: "token",
      token: "t",
      tokenFile: "/later",
    });
    expect(() => conn({ tokenFile: "/missing" })).toThrow(
      'user "u" in kubeconfig /cfg/config: cannot read tokenFile /missing',
    );
    expect(() => conn({ tokenFile: "/empty" }, { "/empty": "\n" })).toThrow("token file /empty is empty");
  });

  it("takes basic auth, but not together with a token", () => {
    expect(conn({ username: "ann", password: "pw" }).credentials).toEqual({
      type: "basic",
      username: "ann",
      password: "pw",
    });
    expect(() => conn({ username: "ann", password: "pw", token: "t" })).toThrow(
      'user "u" in kubeconfig /cfg/config has both a token and a username/password',
    );
  });

  it("is anonymous with an empty user", () => {
    expect(conn({}).credentials).toEqual({ type: "none" });
  });
});

describe("resolveKubeConnection: what is left to client-node", () => {
  const file = "/cfg/config";
  const resolved = (o: { cluster?: Record<string, unknown>; user?: Record<string, unknown> }) =>
    resolve(
      { [file]: doc({ cluster: { server: "https://c.example", ...o.cluster }, user: o.user ?? {} }) },
      { path: file },
    );

  it.each([
    [
      "an exec plugin",
      { user: { exec: { apiVersion: "client.authentication.k8s.io/v1", command: "aws" } } },
      ["user.exec"],
    ],
    ["an auth-provider", { user: { "auth-provider": { name: "oidc", config: {} } } }, ["user.auth-provider"]],
    [
      "impersonation",
      { user: { token: "t", as: "admin", "as-groups": ["ops"] } },
      ["user.as", "user.as-groups"],
    ],
    ["an unknown user field", { user: { "future-auth": { x: 1 } } }, ["user.future-auth"]],
    ["a proxy", { cluster: { "proxy-url": "http://proxy:3128" } }, ["cluster.proxy-url"]],
    ["an unknown cluster field", { cluster: { "future-tls": true } }, ["cluster.future-tls"]],
  ])("delegates %s", (_, kubeconfig, delegated) => {
    const conn = resolved(kubeconfig);
    expect(conn.via).toBe("client-node");
    expect(conn.via === "client-node" && conn.delegated).toEqual(delegated);
    expect(conn.server).toBe("https://c.example");
  });

  it("serves fields that are set to nothing, and extensions, itself", () => {
    const empty = { exec: null, as: "", "as-groups": [], "auth-provider": {}, extensions: [{ name: "x" }] };
    expect(resolved({ user: empty, cluster: { "proxy-url": "", extensions: [{ name: "x" }] } }).via).toBe(
      "native",
    );
  });

  it("hands client-node one context, with paths absolute as client-go makes them", () => {
    const conn = resolve(
      {
        [file]: doc({
          cluster: {
            server: "https://c.example",
            "certificate-authority": "ca.crt",
            "proxy-url": "http://p:3128",
          },
          user: {
            "client-certificate": "me.crt",
            exec: { apiVersion: "client.authentication.k8s.io/v1", command: "./bin/auth", args: ["x"] },
          },
          context: { cluster: "c", user: "u", namespace: "ns" },
        }),
      },
      { path: file },
    );
    expect(conn.via === "client-node" && conn.kubeconfig).toEqual({
      apiVersion: "v1",
      kind: "Config",
      clusters: [
        {
          name: "c",
          cluster: {
            server: "https://c.example",
            "certificate-authority": "/cfg/ca.crt",
            "proxy-url": "http://p:3128",
          },
        },
      ],
      users: [
        {
          name: "u",
          user: {
            "client-certificate": "/cfg/me.crt",
            exec: { apiVersion: "client.authentication.k8s.io/v1", command: "/cfg/bin/auth", args: ["x"] },
          },
        },
      ],
      contexts: [{ name: "ctx", context: { cluster: "c", user: "u", namespace: "ns" } }],
      "current-context": "ctx",
    });
    // A bare command is looked up in $PATH, so it is left alone.
    const bare = resolved({ user: { exec: { apiVersion: "v1", command: "gke-gcloud-auth-plugin" } } });
    expect(bare.via === "client-node" && bare.kubeconfig.users).toEqual([
      { name: "u", user: { exec: { apiVersion: "v1", command: "gke-gcloud-auth-plugin" } } },
    ]);
  });
});

describe("loadKubeConfig (real files)", () => {
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
    fs.writeFileSync(file, doc({ cluster: { server, "certificate-authority": "ca.crt" } }));
    fs.writeFileSync(path.join(dir, "ca.crt"), "ca");
    return file;
  }

  it("loads an explicit file, resolving its relative paths", () => {
    const conn = native(loadKubeConfig({ path: writeConfig() }));
    expect(conn.server).toBe("https://one.example:6443");
    expect(conn.tls.ca).toEqual({ file: path.join(dir, "ca.crt") });
  });

  it("follows $KUBECONFIG, then ~/.kube/config", () => {
    vi.stubEnv("KUBECONFIG", writeConfig("https://from-env.example"));
    expect(loadKubeConfig().server).toBe("https://from-env.example");
    vi.stubEnv("KUBECONFIG", "");
    vi.stubEnv("HOME", dir);
    fs.mkdirSync(path.join(dir, ".kube"));
    fs.writeFileSync(path.join(dir, ".kube", "config"), doc({ cluster: { server: "https://home.example" } }));
    expect(loadKubeConfig().server).toBe("https://home.example");
  });

  it("fails loudly when no credentials exist, instead of defaulting to localhost:8080", () => {
    vi.stubEnv("KUBECONFIG", "");
    vi.stubEnv("HOME", dir);
    vi.stubEnv("KUBERNETES_SERVICE_HOST", "");
    expect(() => loadKubeConfig()).toThrow(/no Kubernetes credentials/);
  });
});

/** A connection with a fake file system and clock for the transport's re-reads. */
function transportFor(
  conn: Partial<NativeConnection> & Pick<NativeConnection, "credentials">,
  files: Record<string, string> = {},
) {
  const clock = { t: 0 };
  const reads: string[] = [];
  const transport = createTransport(
    {
      via: "native",
      source: "test",
      context: "ctx",
      namespace: undefined,
      server: "https://10.0.0.1:6443/prefix",
      tls: { insecure: false },
      ...conn,
    },
    {
      now: () => clock.t,
      readFile: (file) => {
        reads.push(file);
        const content = files[file];
        if (content === undefined) throw Object.assign(new Error(`ENOENT: ${file}`), { code: "ENOENT" });
        return Buffer.from(content);
      },
    },
  );
  return { transport, clock, files, reads };
}

describe("createTransport (native)", () => {
  afterEach(() => expect(clientNode.imports).toBe(0));

  it("exposes the server URL and fresh credentials", async () => {
    const { transport } = transportFor({
      tls: { insecure: false, ca: { data: Buffer.from("ca") }, serverName: "kubernetes" },
      credentials: { type: "token", token: "tok" },
    });
    expect(transport.server.href).toBe("https://10.0.0.1:6443/prefix");
    const opts = await transport.requestOptions();
    expect(opts.headers).toEqual({ Authorization: "Bearer tok" });
    expect(opts.ca).toEqual(Buffer.from("ca"));
    expect(opts.servername).toBe("kubernetes");
    expect(opts.rejectUnauthorized).toBeUndefined();
    transport.close();
  });

  it("sends basic auth, skips verification only when told, and is anonymous without credentials", async () => {
    const basic = transportFor({
      tls: { insecure: true },
      credentials: { type: "basic", username: "ann", password: "pw" },
    });
    const opts = await basic.transport.requestOptions();
    expect(opts.headers).toEqual({ Authorization: `Basic ${b64("ann:pw")}` });
    expect(opts.rejectUnauthorized).toBe(false);
    const none = transportFor({ credentials: { type: "none" } });
    expect((await none.transport.requestOptions()).headers).toEqual({});
  });

  it("shares one keep-alive agent while the TLS material is unchanged", async () => {
    const { transport } = transportFor({ credentials: { type: "token", token: "tok" } });
    const a = (await transport.requestOptions()).agent;
    const b = (await transport.requestOptions()).agent;
    expect(a).toBe(b);
    expect(a).toBeInstanceOf(https.Agent);
    expect((a as { keepAlive?: boolean }).keepAlive).toBe(true);
    transport.close();
  });

  it("uses a plain http agent for an http server", async () => {
    const t = createTransport({
      via: "native",
      source: "test",
      context: "ctx",
      namespace: undefined,
      server: "http://127.0.0.1:8080",
      tls: { insecure: false },
      credentials: { type: "none" },
    });
    const agent = (await t.requestOptions()).agent;
    expect(agent).toBeInstanceOf(http.Agent);
    expect(agent).not.toBeInstanceOf(https.Agent);
  });

  it("re-reads a token file about every minute, and keeps the last token if a re-read fails", async () => {
    const { transport, clock, files, reads } = transportFor(
      { credentials: { type: "token", tokenFile: "/token" } },
      { "/token": "one\n" },
    );
    const auth = async () => (await transport.requestOptions()).headers as Record<string, string>;
    expect(await auth()).toEqual({ Authorization: "Bearer one" });
    files["/token"] = "two";
    clock.t = FILE_REREAD_MS - 1;
    expect(await auth()).toEqual({ Authorization: "Bearer one" });
    expect(reads).toHaveLength(1);
    clock.t = FILE_REREAD_MS;
    expect(await auth()).toEqual({ Authorization: "Bearer two" });
    delete files["/token"];
    clock.t = 3 * FILE_REREAD_MS;
    expect(await auth()).toEqual({ Authorization: "Bearer two" });
    expect(await auth()).toEqual({ Authorization: "Bearer two" });
    expect(reads).toHaveLength(4); // a failed re-read is tried again on the next request
  });

  it("prefers a readable token file to the inline token, as client-go does", async () => {
    const { transport, files, clock } = transportFor(
      { credentials: { type: "token", token: "inline", tokenFile: "/token" } },
      {},
    );
    expect((await transport.requestOptions()).headers).toEqual({ Authorization: "Bearer inline" });
    files["/token"] = "from-file";
    clock.t = 1; // a file that never could be read is tried on every request
    expect((await transport.requestOptions()).headers).toEqual({ Authorization: "Bearer from-file" });
  });

  it("builds a new agent when a client certificate file rotates", async () => {
    const { transport, clock, files } = transportFor(
      {
        tls: { insecure: false, cert: { file: "/me.crt" }, key: { file: "/me.key" } },
        credentials: { type: "none" },
      },
      { "/me.crt": "cert-1", "/me.key": "key-1" },
    );
    const first = await transport.requestOptions();
    expect(first.cert).toEqual(Buffer.from("cert-1"));
    files["/me.crt"] = "cert-2";
    files["/me.key"] = "key-2";
    clock.t = FILE_REREAD_MS;
    const second = await transport.requestOptions();
    expect(second.cert).toEqual(Buffer.from("cert-2"));
    expect(second.agent).not.toBe(first.agent);
    expect((await transport.requestOptions()).agent).toBe(second.agent);
    transport.close();
  });
});

describe("createTransport (client-node)", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "kubeconfig-plugin-"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  // A real exec plugin (this Node binary) printing an ExecCredential, as EKS's or GKE's would,
  // and counting its runs in a file.
  const credential = JSON.stringify({
    apiVersion: "client.authentication.k8s.io/v1",
    kind: "ExecCredential",
    status: { token: "from-plugin", expirationTimestamp: new Date(Date.now() + 3_600_000).toISOString() },
  });
  const runs = () =>
    fs.existsSync(path.join(dir, "runs")) ? fs.readFileSync(path.join(dir, "runs"), "utf8").length : 0;
  function execConnection(cluster: Record<string, unknown> = {}): KubeConnection {
    const file = path.join(dir, "config");
    fs.writeFileSync(
      file,
      doc({
        cluster: { server: "https://c.example", "certificate-authority-data": b64("ca"), ...cluster },
        user: {
          exec: {
            apiVersion: "client.authentication.k8s.io/v1",
            command: process.execPath,
            args: [
              "-e",
              `require("fs").appendFileSync(${JSON.stringify(path.join(dir, "runs"))}, "x");` +
                `process.stdout.write(${JSON.stringify(credential)})`,
            ],
          },
        },
      }),
    );
    return loadKubeConfig({ path: file });
  }

  // First in this file to reach client-node: the import count shows it loads lazily.
  it("loads client-node on the first request only, and uses its exec plugin support", async () => {
    const conn = execConnection();
    expect(conn.via).toBe("client-node");
    const t = createTransport(conn);
    expect(t.server.href).toBe("https://c.example/");
    expect(clientNode.imports).toBe(0);
    const opts = await t.requestOptions();
    expect(clientNode.imports).toBe(1);
    expect(opts.headers).toMatchObject({ Authorization: "Bearer from-plugin" });
    expect(opts.ca).toEqual(Buffer.from("ca"));
    // client-node's per-call agent is replaced by the shared keep-alive one.
    expect((opts.agent as { keepAlive?: boolean }).keepAlive).toBe(true);
    expect((await t.requestOptions()).agent).toBe(opts.agent);
    // A second transport (the manager's leader-election client) shares the plugin's credential.
    const other = createTransport(conn);
    expect((await other.requestOptions()).headers).toMatchObject({ Authorization: "Bearer from-plugin" });
    expect(runs()).toBe(1);
    t.close();
    other.close();
  });

  it("leaves client-node's proxy agent in place", async () => {
    const t = createTransport(execConnection({ "proxy-url": "http://proxy.example:3128" }));
    const a = (await t.requestOptions()).agent;
    const b = (await t.requestOptions()).agent;
    expect(a).toBeDefined();
    expect(a).not.toBe(b); // KubeConfig builds its proxy agent per call
  });
});
