import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "../src/log.js";

describe("logs", () => {
  it("never carry tokens, passwords or cookies, however they are nested", () => {
    let out = "";
    const sink = new Writable({
      write(chunk, _enc, cb) {
        out += chunk.toString();
        cb();
      },
    });
    const log = createLogger({ LOG_LEVEL: "info", NODE_ENV: "test" }, sink);
    log.info(
      {
        headers: { authorization: "Bearer eyJhbGciOi.secret.jwt", cookie: "cc_refresh=abc" },
        body: { password: "Hunter2-Secret", refreshToken: "rt-secret-value" },
        accessToken: "at-secret-value",
        access_token: "query-secret-value",
      },
      "request",
    );
    for (const secret of [
      "eyJhbGciOi",
      "cc_refresh=abc",
      "Hunter2-Secret",
      "rt-secret-value",
      "at-secret-value",
      "query-secret-value",
    ]) {
      expect(out).not.toContain(secret);
    }
    expect(out).toContain("[redacted]");
  });
});
