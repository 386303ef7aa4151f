import { mkdtemp, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ofrepToken } from "./ofrep-token.js";

describe("ofrepToken", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "crescendo-token-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("is undefined without configuration, and the env token otherwise", () => {
    expect(ofrepToken({})).toBeUndefined();
    expect(ofrepToken({ token: " s3cret\n" })?.()).toBe("s3cret");
  });

  it("reads the file, prefers it to the env token, and follows a rotation", async () => {
    const file = join(dir, "token");
    await writeFile(file, "first\n");
    let now = 0;
    const token = ofrepToken({ file, token: "env" }, { now: () => now });
    expect(token?.()).toBe("first");
    await writeFile(file, "second\n");
    await utimes(file, new Date(), new Date(Date.now() + 5000));
    expect(token?.()).toBe("first"); // checked at most once a second
    now = 1500;
    expect(token?.()).toBe("second");
    await rm(file);
    now = 3000;
    expect(token?.()).toBe("second"); // gone mid-rotation: keep the last one
  });

  it("refuses a missing or empty file at start-up", async () => {
    expect(() => ofrepToken({ file: join(dir, "absent") })).toThrow(
      `OFREP token file ${join(dir, "absent")} (--ofrep-token-file) cannot be read: no such file`,
    );
    expect(() =>
      ofrepToken({ file: join(dir, "absent"), what: "incident token", flag: "--incident-token-file" }),
    ).toThrow(
      `incident token file ${join(dir, "absent")} (--incident-token-file) cannot be read: no such file`,
    );
    const empty = join(dir, "empty");
    await writeFile(empty, "\n");
    expect(() => ofrepToken({ file: empty })).toThrow(/empty/);
  });
});
