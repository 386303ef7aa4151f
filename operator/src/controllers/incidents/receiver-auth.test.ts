import { describe, expect, it } from "vitest";
import {
  allowedName,
  authorizeReceiverRequest,
  certificateNames,
  type PresentedCredentials,
  type ReceiverAuthPolicy,
} from "./receiver-auth.js";

const TOKEN_ONLY: ReceiverAuthPolicy = { token: true, clientCert: false, clientNames: [] };
const MTLS_ONLY: ReceiverAuthPolicy = { token: false, clientCert: true, clientNames: [] };
const BOTH: ReceiverAuthPolicy = { token: true, clientCert: true, clientNames: [] };
const NAMED: ReceiverAuthPolicy = {
  token: false,
  clientCert: true,
  clientNames: ["alertmanager.monitoring.svc"],
};

const cert = (names: string[], verified = true) => ({ clientCert: { verified, names } });
const none: PresentedCredentials = { tokenMatches: false };
const token: PresentedCredentials = { tokenMatches: true };

describe("who may POST to the receiver", () => {
  it("token only: the token, with or without a certificate", () => {
    expect(authorizeReceiverRequest(TOKEN_ONLY, token)).toEqual({ ok: true, by: "bearer token" });
    expect(authorizeReceiverRequest(TOKEN_ONLY, none)).toMatchObject({ ok: false, why: /Bearer/ });
    // A certificate is not asked for and counts for nothing.
    expect(authorizeReceiverRequest(TOKEN_ONLY, { tokenMatches: false, ...cert(["am"]) }).ok).toBe(false);
  });

  it("mTLS only: a verified certificate authenticates, no token needed", () => {
    expect(authorizeReceiverRequest(MTLS_ONLY, { tokenMatches: false, ...cert(["am"]) })).toEqual({
      ok: true,
      by: "client certificate am",
    });
    expect(authorizeReceiverRequest(MTLS_ONLY, { tokenMatches: false, ...cert([]) })).toEqual({
      ok: true,
      by: "client certificate",
    });
    // The handshake refuses these first; refused here too, never let through.
    expect(authorizeReceiverRequest(MTLS_ONLY, none).ok).toBe(false);
    expect(authorizeReceiverRequest(MTLS_ONLY, token).ok).toBe(false);
    expect(authorizeReceiverRequest(MTLS_ONLY, { tokenMatches: true, ...cert(["am"], false) }).ok).toBe(
      false,
    );
  });

  it("both: the certificate and the token, neither alone", () => {
    expect(authorizeReceiverRequest(BOTH, { tokenMatches: true, ...cert(["am"]) })).toEqual({
      ok: true,
      by: "client certificate am and bearer token",
    });
    expect(authorizeReceiverRequest(BOTH, { tokenMatches: false, ...cert(["am"]) })).toMatchObject({
      ok: false,
      why: /Bearer/,
    });
    expect(authorizeReceiverRequest(BOTH, token)).toMatchObject({ ok: false, why: /client certificate/ });
  });

  it("with names: the certificate must carry one of them", () => {
    expect(
      authorizeReceiverRequest(NAMED, { tokenMatches: false, ...cert(["x", "Alertmanager.Monitoring.svc"]) }),
    ).toEqual({ ok: true, by: "client certificate Alertmanager.Monitoring.svc" });
    expect(
      authorizeReceiverRequest(NAMED, { tokenMatches: true, ...cert(["prometheus.monitoring.svc"]) }),
    ).toMatchObject({ ok: false, why: /none of the allowed/ });
  });

  it("nothing configured lets nobody in", () => {
    const off = { token: false, clientCert: false, clientNames: [] };
    expect(authorizeReceiverRequest(off, { tokenMatches: true, ...cert(["am"]) }).ok).toBe(false);
  });
});

describe("certificate names", () => {
  it("matches exactly, ignoring case, with no wildcard", () => {
    expect(allowedName(["am.monitoring.svc"], ["AM.monitoring.svc"])).toBe("AM.monitoring.svc");
    expect(allowedName(["am.monitoring.svc"], ["*.monitoring.svc"])).toBeUndefined();
    expect(allowedName(["*.monitoring.svc"], ["am.monitoring.svc"])).toBeUndefined();
    expect(allowedName([], ["am"])).toBeUndefined();
  });

  it("reads the subject CN and the DNS SANs, nothing else", () => {
    expect(
      certificateNames({
        subject: { CN: "alertmanager" },
        subjectaltname: "DNS:am.monitoring.svc, IP Address:10.0.0.1, URI:spiffe://x/am, DNS:am",
      }),
    ).toEqual(["alertmanager", "am.monitoring.svc", "am"]);
    expect(certificateNames({ subject: { CN: ["a", "b"] } })).toEqual(["a", "b"]);
    expect(certificateNames({})).toEqual([]);
  });

  it("reads a quoted SAN value as one name, never as the names it spells", () => {
    // Node writes a value holding a comma as a JSON string.
    const names = certificateNames({ subjectaltname: 'DNS:"evil, DNS:am.monitoring.svc", DNS:ok' });
    expect(names).toEqual(["evil, DNS:am.monitoring.svc", "ok"]);
    expect(allowedName(["am.monitoring.svc"], names)).toBeUndefined();
  });
});
