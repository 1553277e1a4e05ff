import pino, { type Logger } from "pino";
import type { Config } from "./config.js";

export type { Logger };

/**
 * Secrets are removed by configuration, not by care: any field with one of
 * these names, at the top level or one level down, is redacted.
 */
const SECRET_FIELDS = [
  "authorization",
  "cookie",
  "set-cookie",
  "access_token",
  "accessToken",
  "refreshToken",
  "password",
  "newPassword",
  "currentPassword",
  "otpCode",
  "token",
  "idToken",
];
const REDACT_PATHS = [...SECRET_FIELDS, ...SECRET_FIELDS.map((f) => `*.${f}`), "*.headers.authorization"];

export function createLogger(
  config: Pick<Config, "LOG_LEVEL" | "NODE_ENV">,
  destination?: pino.DestinationStream,
): Logger {
  const pretty = !destination && config.NODE_ENV === "development" && process.stdout.isTTY;
  const options: pino.LoggerOptions = {
    level: config.LOG_LEVEL,
    base: { service: "halo-gateway" },
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    ...(pretty ? { transport: { target: "pino-pretty", options: { translateTime: "SYS:HH:MM:ss.l" } } } : {}),
  };
  // Node's own stdout stream, not pino's default sonic-boom on fd 1: when the log reader goes away (EPIPE),
  // sonic-boom retries the write forever and the process hangs, even on SIGTERM; the stream just errors.
  return pretty ? pino(options) : pino(options, destination ?? process.stdout);
}
