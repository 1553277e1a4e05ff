import type { Config } from "../config.js";
import type { Logger } from "../log.js";
import { FcmProvider } from "./fcm-provider.js";
import { LogPushProvider } from "./log-provider.js";
import type { PushProvider } from "./push-provider.js";

/** The push settings of contract §0/§11 (validated in src/config.ts). */
export type PushProviderConfig = Pick<
  Config,
  "PUSH_PROVIDER" | "FCM_PROJECT_ID" | "FCM_SERVICE_ACCOUNT_FILE" | "FCM_API_URL" | "FCM_TOKEN_URL"
>;

/**
 * PUSH_PROVIDER picks the provider: `log` (default) or `fcm`. Async because
 * FCM reads its service account here, at start: a bad file stops the boot
 * instead of failing every push.
 */
export async function createPushProvider(config: PushProviderConfig, log: Logger): Promise<PushProvider> {
  switch (config.PUSH_PROVIDER) {
    case "log":
      return new LogPushProvider(log);
    case "fcm":
      // config.ts refuses PUSH_PROVIDER=fcm without these two.
      if (!config.FCM_PROJECT_ID || !config.FCM_SERVICE_ACCOUNT_FILE)
        throw new Error("PUSH_PROVIDER=fcm needs FCM_PROJECT_ID and FCM_SERVICE_ACCOUNT_FILE");
      return FcmProvider.fromFile({
        projectId: config.FCM_PROJECT_ID,
        serviceAccountFile: config.FCM_SERVICE_ACCOUNT_FILE,
        apiUrl: config.FCM_API_URL,
        ...(config.FCM_TOKEN_URL ? { tokenUrl: config.FCM_TOKEN_URL } : {}),
      });
  }
}
