import { describe, expect, it } from "vitest";
import { controllerLogger, createLogger, logLevelFrom } from "./logger.js";

function capture(level?: string, env: NodeJS.ProcessEnv = {}) {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({
    level,
    env,
    destination: { write: (l: string) => lines.push(JSON.parse(l)) },
  });
  return { logger, lines };
}

describe("logger", () => {
  it("reads LOG_LEVEL, defaulting to info, and refuses unknown levels", () => {
    expect(logLevelFrom({})).toBe("info");
    expect(logLevelFrom({ LOG_LEVEL: "DEBUG" })).toBe("debug");
    expect(logLevelFrom({ LOG_LEVEL: "silent" })).toBe("silent");
    expect(() => logLevelFrom({ LOG_LEVEL: "verbose" })).toThrow(/LOG_LEVEL=verbose/);
  });

  it("writes JSON lines with a level name and ISO time", () => {
    const { logger, lines } = capture(undefined, { LOG_LEVEL: "warn" });
    logger.info("hidden");
    logger.warn({ a: 1 }, "shown");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: "warn", msg: "shown", a: 1 });
    expect(String(lines[0]!["time"])).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it("child loggers carry the controller name", () => {
    const { logger, lines } = capture("info");
    controllerLogger(logger, "release").info({ name: "web" }, "reconciled");
    expect(lines[0]).toMatchObject({ controller: "release", name: "web", msg: "reconciled" });
  });
});
