import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { ConfigError, isValidCadence, loadConfig } from "../src/config.js";
import { MAIN_JS } from "./support/gateway.js";

function badLines(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.lines;
    throw err;
  }
  throw new Error("expected the configuration to be refused");
}

describe("configuration", () => {
  it("starts from the contract's defaults with no environment at all", () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      NODE_ENV: "development",
      LOG_LEVEL: "info",
      PUBLIC_HOST: "0.0.0.0",
      PUBLIC_PORT: 8080,
      INTERNAL_HOST: "127.0.0.1",
      INTERNAL_PORT: 8081,
      TRUST_PROXY: false,
      ACCESS_TOKEN_TTL_SECONDS: 3600,
      REFRESH_TOKEN_TTL_DAYS: 30,
      REFRESH_REUSE_GRACE_SECONDS: 10,
      HEARTBEAT_STALE_SECONDS: 90,
      MITRA_AUTO_OFFLINE_SWEEP_SECONDS: 30,
      HEARTBEAT_MIRROR_INTERVAL_SECONDS: 60,
      VALKEY_ONLINE_MIRROR_SWEEP_SECONDS: 300,
      DEFAULT_COUNTRY_CODE: 62,
      CC_PASSWORD_HASH_CONCURRENCY: 2,
      ENABLE_TEST_ROUTES: false,
      VERIFICATION_REQUIRED: false,
      MAIL_PROVIDER: "log",
      PUSH_PROVIDER: "log",
      FCM_API_URL: "https://fcm.googleapis.com",
    });
    expect(c.valkeyMode).toEqual({ kind: "embedded" });
    expect(c.ccPublicUrl).toBe("http://127.0.0.1:8081/internal");
  });

  it('reads "false" as false, not as a non-empty string', () => {
    expect(loadConfig({ TRUST_PROXY: "false", ENABLE_TEST_ROUTES: "true" })).toMatchObject({
      TRUST_PROXY: false,
      ENABLE_TEST_ROUTES: true,
    });
  });

  it("names every bad variable on a line of its own that starts with its name", () => {
    const lines = badLines({
      PUBLIC_PORT: "eighty",
      ACCESS_TOKEN_TTL_SECONDS: "0",
      HEARTBEAT_STALE_SECONDS: "86401",
      TRUST_PROXY: "maybe",
      LOG_LEVEL: "loud",
      DATABASE_URL: "mysql://x",
    });
    const names = lines.map((l) => l.split(":")[0]).sort();
    expect(names).toEqual(
      [
        "ACCESS_TOKEN_TTL_SECONDS",
        "DATABASE_URL",
        "HEARTBEAT_STALE_SECONDS",
        "LOG_LEVEL",
        "PUBLIC_PORT",
        "TRUST_PROXY",
      ].sort(),
    );
  });

  it("accepts only sweep cadences that tile a minute or an hour", () => {
    for (const ok of [1, 2, 5, 15, 30, 60, 120, 300, 600, 1800, 3600]) expect(isValidCadence(ok)).toBe(true);
    for (const bad of [7, 45, 90, 100, 420, 7200]) expect(isValidCadence(bad)).toBe(false);
    expect(badLines({ MITRA_AUTO_OFFLINE_SWEEP_SECONDS: "45" })[0]).toMatch(
      /^MITRA_AUTO_OFFLINE_SWEEP_SECONDS: /,
    );
    expect(badLines({ VALKEY_ONLINE_MIRROR_SWEEP_SECONDS: "7200" })[0]).toMatch(
      /^VALKEY_ONLINE_MIRROR_SWEEP_SECONDS: /,
    );
  });

  it("refuses PUSH_PROVIDER=fcm without the FCM project and service account", () => {
    expect(
      badLines({ PUSH_PROVIDER: "fcm" })
        .map((l) => l.split(":")[0])
        .sort(),
    ).toEqual(["FCM_PROJECT_ID", "FCM_SERVICE_ACCOUNT_FILE"]);
    expect(badLines({ PUSH_PROVIDER: "apns" }).map((l) => l.split(":")[0])).toEqual(["PUSH_PROVIDER"]);
    const c = loadConfig({
      PUSH_PROVIDER: "fcm",
      FCM_PROJECT_ID: "halo",
      FCM_SERVICE_ACCOUNT_FILE: "/run/sa.json",
    });
    expect(c).toMatchObject({ PUSH_PROVIDER: "fcm", FCM_PROJECT_ID: "halo" });
  });

  it("requires AUTH_JWT_SECRET in production", () => {
    expect(badLines({ NODE_ENV: "production" })).toEqual([expect.stringMatching(/^AUTH_JWT_SECRET: /)]);
    expect(() => loadConfig({ NODE_ENV: "production", AUTH_JWT_SECRET: "x".repeat(40) })).not.toThrow();
  });

  it("refuses a first-admin password that fails the policy, without echoing it", () => {
    const lines = badLines({ ADMIN_EMAIL: "admin@example.com", ADMIN_PASSWORD: "Password1" });
    expect(lines).toEqual([expect.stringMatching(/^ADMIN_PASSWORD: .*too common/)]);
    expect(lines.join("\n")).not.toContain("Password1");
    expect(badLines({ ADMIN_EMAIL: "admin@example.com", ADMIN_PASSWORD: "short1A" })[0]).toMatch(
      /^ADMIN_PASSWORD:/,
    );
    expect(() =>
      loadConfig({ ADMIN_EMAIL: "admin@example.com", ADMIN_PASSWORD: "Halo-Gateway-2026" }),
    ).not.toThrow();
  });

  it("parses Valkey Cluster nodes and refuses a malformed list", () => {
    expect(loadConfig({ VALKEY_CLUSTER_NODES: "10.0.0.1:7000, 10.0.0.2:7001" }).valkeyMode).toEqual({
      kind: "cluster",
      nodes: [
        { host: "10.0.0.1", port: 7000 },
        { host: "10.0.0.2", port: 7001 },
      ],
    });
    expect(badLines({ VALKEY_CLUSTER_NODES: "nohostport" })[0]).toMatch(/^VALKEY_CLUSTER_NODES: /);
  });

  it("a bad value stops the real process with exit code 1 before anything starts", () => {
    const r = spawnSync(process.execPath, [MAIN_JS], {
      env: { PUBLIC_PORT: "-1", HEARTBEAT_MIRROR_INTERVAL_SECONDS: "45", PATH: process.env.PATH ?? "" },
      encoding: "utf8",
      timeout: 20_000,
    });
    expect(r.status).toBe(1);
    const lines = r.stderr.trim().split("\n");
    expect(lines.map((l) => l.split(":")[0]).sort()).toEqual([
      "HEARTBEAT_MIRROR_INTERVAL_SECONDS",
      "PUBLIC_PORT",
    ]);
    expect(r.stdout).not.toContain("listening");
  });
});
