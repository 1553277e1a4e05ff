import type { Pool } from "../db/pool.js";
import type { Logger } from "../log.js";
import type { MailProvider, OutgoingMail } from "./mail-provider.js";

/**
 * Development and test provider: writes the link to the log and records the
 * mail in `mail_outbox` (where `GET /internal/_test/mail` finds it). The link
 * signs someone in, so this provider is for machines whose log only the
 * operators read.
 */
export function createLogMailProvider(d: { pool: Pool; log: Logger; now: () => Date }): MailProvider {
  return {
    name: "log",
    async send(mail: OutgoingMail): Promise<void> {
      await d.pool.query(
        "INSERT INTO mail_outbox (to_email, kind, link, created_at) VALUES ($1, $2, $3, $4)",
        [mail.to, mail.kind, mail.link, d.now()],
      );
      d.log.info({ mailTo: mail.to, mailKind: mail.kind, link: mail.link }, `mail: ${mail.subject}`);
    },
  };
}
