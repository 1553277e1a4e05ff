import type { Logger } from "../log.js";
import type { MailProvider, OutgoingMail } from "./mail-provider.js";

/**
 * Hands mail to the provider after the response, not before: a provider's
 * latency (an SMTP round trip) would otherwise tell a caller of the reset
 * route which emails have accounts. The link is already committed when a mail
 * is dispatched; a failed delivery is logged (without the link) and the user
 * asks again. Shutdown waits for deliveries in flight.
 */
export class MailDispatcher {
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly provider: MailProvider,
    private readonly log: Logger,
  ) {}

  dispatch(mail: OutgoingMail): void {
    const delivery: Promise<void> = this.provider
      .send(mail)
      .catch((err: unknown) => {
        this.log.error(
          { err, mailTo: mail.to, mailKind: mail.kind, provider: this.provider.name },
          "mail delivery failed",
        );
      })
      .finally(() => this.pending.delete(delivery));
    this.pending.add(delivery);
  }

  /** Resolves when every delivery dispatched so far has finished. */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.pending]);
  }
}
