import type { Config } from "../config.js";
import type { Pool } from "../db/pool.js";
import type { Logger } from "../log.js";
import { createLogMailProvider } from "./log-mail-provider.js";
import type { MailProvider } from "./mail-provider.js";

/** The provider `MAIL_PROVIDER` names (the config schema admits only known names). */
export function createMailProvider(
  config: Pick<Config, "MAIL_PROVIDER">,
  d: { pool: Pool; log: Logger; now: () => Date },
): MailProvider {
  switch (config.MAIL_PROVIDER) {
    case "log":
      return createLogMailProvider(d);
  }
}
