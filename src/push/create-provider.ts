import type { Config } from "../config.js";
import type { Logger } from "../log.js";
import { LogPushProvider } from "./log-provider.js";
import type { PushProvider } from "./push-provider.js";

/** The push settings of contract §0/§11 (validated in src/config.ts). */
export type PushProviderConfig = Pick<
  Config,
  "PUSH_PROVIDER" | "FCM_PROJECT_ID" | "FCM_SERVICE_ACCOUNT_FILE" | "FCM_API_URL" | "FCM_TOKEN_URL"
>;

/** PUSH_PROVIDER picks the provider: `log` (default) or `fcm`. */
export function createPushProvider(config: PushProviderConfig, log: Logger): PushProvider {
  switch (config.PUSH_PROVIDER) {
    case "log":
      return new LogPushProvider(log);
    case "fcm":
      // The FCM HTTP v1 provider (src/push/fcm-provider.ts) plugs in here.
      throw new Error("PUSH_PROVIDER=fcm: the FCM provider is not built into this version");
  }
}
