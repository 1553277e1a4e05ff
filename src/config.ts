import { availableParallelism } from "node:os";
import { z } from "zod";
import { passwordPolicyProblem } from "./auth/password-policy.js";

/**
 * The one schema of every environment variable (contract §0). Nothing else in
 * src/ reads process.env: main.ts passes the parsed Config down.
 */

const seconds = (def: number) => z.coerce.number().int().min(1).max(86400).default(def);

/** node-cron fires `*\/N` on wall-clock boundaries, so a cadence must tile a minute or an hour. */
export function isValidCadence(s: number): boolean {
  return (s <= 60 && 60 % s === 0) || (s % 60 === 0 && 3600 % s === 0);
}
const cadence = (def: number) =>
  seconds(def).refine(isValidCadence, {
    message: "must divide 60, or be a multiple of 60 that divides 3600",
  });

const port = (def: number) => z.coerce.number().int().min(0).max(65535).default(def);
const bool = (def: boolean) => z.stringbool().default(def);
const optionalString = z.string().trim().min(1).optional();
const optionalUrl = z.url().optional();

const csv = z
  .string()
  .optional()
  .transform((v) =>
    (v ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s.length > 0),
  );

const clusterNodes = csv.pipe(
  z.array(
    z
      .string()
      .regex(/^[^:\s]+:\d{1,5}$/, "each entry must be host:port")
      .transform((hp) => {
        const i = hp.lastIndexOf(":");
        return { host: hp.slice(0, i), port: Number(hp.slice(i + 1)) };
      }),
  ),
);

/**
 * Gateway processes on this machine (src/supervisor.ts): an integer, or `auto`
 * for one per core. 1 runs the gateway in this process, with no supervisor.
 */
const workers = z
  .string()
  .default("1")
  .transform((v, ctx) => {
    const n = v.trim() === "auto" ? availableParallelism() : Number(v);
    if (!Number.isInteger(n) || n < 1 || n > 64) {
      ctx.addIssue({ code: "custom", message: 'must be "auto" or an integer from 1 to 64' });
      return z.NEVER;
    }
    return n;
  });

export const configSchema = z
  .object({
    NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
    LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    PUBLIC_HOST: z.string().min(1).default("0.0.0.0"),
    PUBLIC_PORT: port(8080),
    INTERNAL_HOST: z.string().min(1).default("127.0.0.1"),
    INTERNAL_PORT: port(8081),
    TRUST_PROXY: bool(false),
    DATA_DIR: z.string().min(1).default(".data"),
    WORKERS: workers,

    DATABASE_URL: z
      .string()
      .regex(/^postgres(ql)?:\/\//, "must be a postgres:// URL")
      .optional(),
    VALKEY_URL: z
      .string()
      .regex(/^(redis|rediss|valkey|valkeys):\/\//, "must be a redis:// or valkey:// URL")
      .optional(),
    VALKEY_CLUSTER_NODES: clusterNodes,
    /** Prefix of every key and channel: lets tests (and tenants) share one Valkey. */
    VALKEY_KEY_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9:_-]*$/, "letters, digits, ':', '_' and '-' only")
      .default(""),

    AUTH_JWT_SECRET: z.string().min(32, "must be at least 32 characters").optional(),
    ACCESS_TOKEN_TTL_SECONDS: seconds(3600),
    REFRESH_TOKEN_TTL_DAYS: z.coerce.number().int().min(1).max(365).default(30),
    REFRESH_REUSE_GRACE_SECONDS: seconds(10),
    HEARTBEAT_STALE_SECONDS: seconds(90),
    MITRA_AUTO_OFFLINE_SWEEP_SECONDS: cadence(30),
    HEARTBEAT_MIRROR_INTERVAL_SECONDS: cadence(60),
    VALKEY_ONLINE_MIRROR_SWEEP_SECONDS: cadence(300),
    DEFAULT_COUNTRY_CODE: z.coerce.number().int().min(1).max(999).default(62),

    ADMIN_EMAIL: z.email().optional(),
    ADMIN_PASSWORD: z
      .string()
      .optional()
      .superRefine((v, ctx) => {
        const problem = v === undefined ? null : passwordPolicyProblem(v);
        if (problem) ctx.addIssue({ code: "custom", message: problem });
      }),

    GOOGLE_JWKS_URL: z.url().default("https://www.googleapis.com/oauth2/v3/certs"),
    APPLE_JWKS_URL: z.url().default("https://appleid.apple.com/auth/keys"),
    GOOGLE_OAUTH_CLIENT_IDS: csv,
    APPLE_SERVICES_ID: optionalString,
    CC_PASSWORD_HASH_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(2),

    ENABLE_TEST_ROUTES: bool(false),
    VERIFICATION_REQUIRED: bool(false),
    IDENFY_API_KEY: optionalString,
    IDENFY_API_SECRET: optionalString,
    IDENFY_API_URL: z.url().default("https://ivs.idenfy.com"),
    IDENFY_WEBHOOK_SECRET: optionalString,
    IDENFY_DEV_MODE: bool(false),
    /** Development provider: a verification turns approved this long after it was minted. */
    IDENFY_DEV_APPROVE_SECONDS: seconds(10),

    CC_PUBLIC_URL: optionalUrl,
    /** Other origins a control center may be served from (contract §10): CORS with credentials on /internal/**. */
    CC_ORIGINS: csv.superRefine((origins, ctx) => {
      for (const o of origins)
        if (!/^https?:\/\/[^/\s]+$/.test(o))
          ctx.addIssue({ code: "custom", message: `${o} is not an origin (scheme://host[:port], no path)` });
    }),
    MAIL_PROVIDER: z.enum(["log"]).default("log"),
    /** Push to apps in the background (contract §11): `log` writes each push to the log. */
    PUSH_PROVIDER: z.enum(["log", "fcm"]).default("log"),
    FCM_PROJECT_ID: optionalString,
    /** Path of the Google service-account JSON whose key signs the OAuth2 token requests. */
    FCM_SERVICE_ACCOUNT_FILE: optionalString,
    FCM_API_URL: z.url().default("https://fcm.googleapis.com"),
    // Unset: the service-account file's token_uri, else Google's endpoint (src/push/fcm-access-token.ts).
    FCM_TOKEN_URL: optionalUrl,
  })
  .superRefine((c, ctx) => {
    if (c.NODE_ENV === "production" && !c.AUTH_JWT_SECRET) {
      ctx.addIssue({
        code: "custom",
        path: ["AUTH_JWT_SECRET"],
        message: "is required when NODE_ENV=production",
      });
    }
    if (c.ADMIN_EMAIL && !c.ADMIN_PASSWORD) {
      ctx.addIssue({ code: "custom", path: ["ADMIN_PASSWORD"], message: "is required with ADMIN_EMAIL" });
    }
    if (c.ADMIN_PASSWORD && !c.ADMIN_EMAIL) {
      ctx.addIssue({ code: "custom", path: ["ADMIN_EMAIL"], message: "is required with ADMIN_PASSWORD" });
    }
    if (c.VALKEY_URL && c.VALKEY_CLUSTER_NODES.length > 0) {
      ctx.addIssue({
        code: "custom",
        path: ["VALKEY_CLUSTER_NODES"],
        message: "cannot be combined with VALKEY_URL",
      });
    }
    // Caught at start, not at the first push: a gateway that cannot push must not look healthy.
    if (c.PUSH_PROVIDER === "fcm") {
      for (const name of ["FCM_PROJECT_ID", "FCM_SERVICE_ACCOUNT_FILE"] as const) {
        if (!c[name])
          ctx.addIssue({ code: "custom", path: [name], message: "is required when PUSH_PROVIDER=fcm" });
      }
    }
  });

type ParsedEnv = z.infer<typeof configSchema>;

export type ValkeyMode =
  | { kind: "standalone"; url: string }
  | { kind: "cluster"; nodes: { host: string; port: number }[] }
  | { kind: "embedded" };

export interface Config extends ParsedEnv {
  valkeyMode: ValkeyMode;
  /** Base of links mailed to operators (defaults to the internal listener). */
  ccPublicUrl: string;
}

export class ConfigError extends Error {
  constructor(readonly lines: string[]) {
    super(`invalid configuration:\n${lines.join("\n")}`);
    this.name = "ConfigError";
  }
}

/** Validates the environment; throws ConfigError with one line per bad variable, each starting with its name. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  // An empty variable means "unset": `FOO= npm start` must not turn into a bad value.
  const cleaned: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== "") cleaned[k] = v;

  const result = configSchema.safeParse(cleaned);
  if (!result.success) {
    const byVar = new Map<string, string[]>();
    for (const issue of result.error.issues) {
      const name = String(issue.path[0] ?? "config");
      const list = byVar.get(name) ?? [];
      list.push(issue.message);
      byVar.set(name, list);
    }
    const lines = [...byVar].map(
      ([name, msgs]) => `${name}: ${msgs.join("; ")} (got ${describe(cleaned[name])})`,
    );
    throw new ConfigError(lines);
  }
  const c = result.data;
  const valkeyMode: ValkeyMode = c.VALKEY_URL
    ? { kind: "standalone", url: c.VALKEY_URL }
    : c.VALKEY_CLUSTER_NODES.length > 0
      ? { kind: "cluster", nodes: c.VALKEY_CLUSTER_NODES }
      : { kind: "embedded" };
  return {
    ...c,
    valkeyMode,
    ccPublicUrl: (c.CC_PUBLIC_URL ?? `http://127.0.0.1:${c.INTERNAL_PORT}/internal`).replace(/\/+$/, ""),
  };
}

/** Secrets are never echoed back, only their shape. */
function describe(value: string | undefined): string {
  if (value === undefined) return "unset";
  return `${value.length} characters`;
}
