/**
 * The receiver over TLS with real certificates (openssl, hack/test-pki.ts): the handshake refuses
 * clients without a certificate the client CA signed, the auth rule of receiver-auth.ts holds on
 * real connections, and renewed files are served without a restart while a bad pair is not.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createTestPki, type IssuedCertificate, type TestPki } from "../../../../hack/test-pki.js";
import { createReceiver, RECEIVER_PATH, type Receiver, type ReceiverOptions } from "./receiver.js";
import { receiverTlsReloadErrors } from "./receiver-metrics.js";
import { ALERTMANAGER_MESSAGE } from "./test-fixtures.js";
import { receiverTlsCredentials, type ReceiverTlsFiles } from "./receiver-tls.js";

const TOKEN = "s3cret-token";
const MESSAGE = JSON.stringify(ALERTMANAGER_MESSAGE);
const quiet = { info: () => {}, warn: () => {}, error: () => {} };

let dir: string;
let pki: TestPki;
let otherPki: TestPki;
let server: IssuedCertificate;
let alertmanager: IssuedCertificate;
let stranger: IssuedCertificate;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "crescendo-receiver-tls-"));
  pki = createTestPki(dir, "incidents");
  otherPki = createTestPki(dir, "other");
  server = pki.issue("server", { cn: "crescendo", usage: "serverAuth", san: "IP:127.0.0.1,DNS:localhost" });
  alertmanager = pki.issue("alertmanager", {
    cn: "alertmanager",
    usage: "clientAuth",
    san: "DNS:alertmanager.monitoring.svc",
  });
  stranger = otherPki.issue("stranger", { cn: "alertmanager", usage: "clientAuth" });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let receiver: Receiver | undefined;
afterEach(async () => {
  await receiver?.close();
  receiver = undefined;
});

const clock = { t: 0, now: () => clock.t };

async function start(o: {
  files?: ReceiverTlsFiles;
  token?: boolean;
  clientCert?: boolean;
  clientNames?: string[];
}): Promise<{ port: number; handled: number[] }> {
  const handled: number[] = [];
  const files = o.files ?? {
    certFile: server.cert,
    keyFile: server.key,
    ...(o.clientCert ? { clientCaFile: pki.caCert } : {}),
  };
  const options: ReceiverOptions = {
    port: 0,
    host: "127.0.0.1",
    ...(o.token ? { token: () => TOKEN } : {}),
    tls: {
      credentials: receiverTlsCredentials(files, quiet, clock),
      clientCert: o.clientCert === true,
      clientNames: o.clientNames ?? [],
    },
    isLeader: () => true,
    handle: async () => {
      handled.push(Date.now());
      return { ok: true };
    },
    logger: quiet,
  };
  receiver = createReceiver(options);
  return { port: (await receiver.listen()).port, handled };
}

interface Answer {
  status: number;
  /** The server certificate's CN, as the client saw it. */
  servedBy: string;
  protocol: string;
}

function post(
  port: number,
  o: { client?: IssuedCertificate; token?: string; ca?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path: RECEIVER_PATH,
        method: "POST",
        agent: false,
        ca: readFileSync(o.ca ?? pki.caCert),
        ...(o.client ? { cert: readFileSync(o.client.cert), key: readFileSync(o.client.key) } : {}),
        headers: {
          "Content-Type": "application/json",
          ...(o.token ? { Authorization: `Bearer ${o.token}` } : {}),
        },
      },
      (res) => {
        const socket = res.socket as TLSSocket;
        const answer = {
          status: res.statusCode ?? 0,
          servedBy: String(socket.getPeerCertificate().subject?.CN),
          protocol: String(socket.getProtocol()),
        };
        res.resume();
        res.on("end", () => resolve(answer));
      },
    );
    req.on("error", reject);
    req.end(MESSAGE);
  });
}

describe("the receiver over TLS", () => {
  it("serves TLS 1.2 or later and still asks for the token", async () => {
    const { port, handled } = await start({ token: true });
    const ok = await post(port, { token: TOKEN });
    expect(ok).toMatchObject({ status: 200, servedBy: "crescendo" });
    expect(["TLSv1.2", "TLSv1.3"]).toContain(ok.protocol);
    expect((await post(port)).status).toBe(401);
    expect((await post(port, { token: "wrong" })).status).toBe(401);
    expect(handled).toHaveLength(1);
  });

  it("refuses plain HTTP on the TLS port: no HTTP answer at all", async () => {
    const { port, handled } = await start({ token: true });
    const plain = new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        { host: "127.0.0.1", port, path: RECEIVER_PATH, method: "POST", agent: false },
        (res) => resolve(res.statusCode ?? 0),
      );
      req.on("error", reject);
      req.end(MESSAGE);
    });
    await expect(plain).rejects.toThrow();
    expect(handled).toEqual([]);
  });

  it("mTLS: a client without a certificate, or with one another CA signed, fails the handshake", async () => {
    const { port, handled } = await start({ clientCert: true });
    await expect(post(port)).rejects.toThrow();
    await expect(post(port, { token: TOKEN })).rejects.toThrow();
    await expect(post(port, { client: stranger })).rejects.toThrow();
    expect(handled).toEqual([]);
    // The certificate alone authenticates when no token is configured.
    expect((await post(port, { client: alertmanager })).status).toBe(200);
    expect(handled).toHaveLength(1);
  });

  it("mTLS and a token: both are required", async () => {
    const { port, handled } = await start({ clientCert: true, token: true });
    expect((await post(port, { client: alertmanager })).status).toBe(401);
    expect((await post(port, { client: alertmanager, token: TOKEN })).status).toBe(200);
    expect(handled).toHaveLength(1);
  });

  it("mTLS with names: a signed certificate naming none of them gets 401", async () => {
    const other = pki.issue("prometheus", { cn: "prometheus", usage: "clientAuth" });
    const { port, handled } = await start({ clientCert: true, clientNames: ["alertmanager.monitoring.svc"] });
    expect((await post(port, { client: other })).status).toBe(401);
    expect((await post(port, { client: alertmanager })).status).toBe(200);
    expect(handled).toHaveLength(1);
  });

  it("serves renewed files without a restart, and keeps the last good pair when a change is bad", async () => {
    const files = { certFile: join(dir, "live.crt"), keyFile: join(dir, "live.key") };
    copyFileSync(server.cert, files.certFile);
    copyFileSync(server.key, files.keyFile);
    clock.t = 0;
    const { port } = await start({ files, token: true });
    expect((await post(port, { token: TOKEN })).servedBy).toBe("crescendo");

    const renewed = pki.issue("renewed", {
      cn: "crescendo-renewed",
      usage: "serverAuth",
      san: "IP:127.0.0.1",
    });
    copyFileSync(renewed.cert, files.certFile);
    copyFileSync(renewed.key, files.keyFile);
    clock.t += 1_000;
    expect((await post(port, { token: TOKEN })).servedBy).toBe("crescendo-renewed");

    // A key that is not the certificate's: refused, counted, the renewed pair still served.
    const errors = (await receiverTlsReloadErrors.get()).values[0]?.value ?? 0;
    copyFileSync(server.cert, files.certFile);
    clock.t += 1_000;
    expect((await post(port, { token: TOKEN })).servedBy).toBe("crescendo-renewed");
    expect((await receiverTlsReloadErrors.get()).values[0]?.value).toBe(errors + 1);
    // Not tried (nor counted) again until the files change again.
    clock.t += 1_000;
    await post(port, { token: TOKEN });
    expect((await receiverTlsReloadErrors.get()).values[0]?.value).toBe(errors + 1);
    // The matching key arrives: served.
    copyFileSync(server.key, files.keyFile);
    clock.t += 1_000;
    expect((await post(port, { token: TOKEN })).servedBy).toBe("crescendo");
  });

  it("refuses to start on files that do not load, naming the flag", () => {
    expect(() =>
      receiverTlsCredentials({ certFile: join(dir, "nope.crt"), keyFile: server.key }, quiet),
    ).toThrow(/--incident-tls-cert-file .*nope.crt cannot be read: no such file/);
    expect(() => receiverTlsCredentials({ certFile: server.cert, keyFile: alertmanager.key }, quiet)).toThrow(
      /do not load/,
    );
    expect(() =>
      receiverTlsCredentials({ certFile: server.cert, keyFile: server.key, clientCaFile: server.key }, quiet),
    ).toThrow(/do not load/);
  });
});
