import type { Clock } from "../clock.js";
import type { Config } from "../config.js";
import { DevProvider } from "./dev-provider.js";
import { IdenfyProvider } from "./idenfy-provider.js";
import type { VerificationProvider } from "./provider.js";

export type ProviderConfig = Pick<
  Config,
  "IDENFY_DEV_MODE" | "IDENFY_DEV_APPROVE_SECONDS" | "IDENFY_API_KEY" | "IDENFY_API_SECRET" | "IDENFY_API_URL"
>;

/**
 * The development provider when IDENFY_DEV_MODE is on; iDenfy when its key
 * and secret are set; otherwise null: verification is unavailable (503).
 */
export function createVerificationProvider(config: ProviderConfig, now: Clock): VerificationProvider | null {
  if (config.IDENFY_DEV_MODE) {
    return new DevProvider({ now, approveAfterSeconds: config.IDENFY_DEV_APPROVE_SECONDS });
  }
  if (config.IDENFY_API_KEY && config.IDENFY_API_SECRET) {
    return new IdenfyProvider({
      apiUrl: config.IDENFY_API_URL,
      apiKey: config.IDENFY_API_KEY,
      apiSecret: config.IDENFY_API_SECRET,
      now,
    });
  }
  return null;
}
