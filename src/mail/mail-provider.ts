/** What the gateway mails: links that sign an operator in (contract §9). */
export type MailKind = "invite" | "reset";

export interface OutgoingMail {
  to: string;
  kind: MailKind;
  subject: string;
  text: string;
  /** The one link the mail carries (the test route and the outbox keep it). */
  link: string;
}

/**
 * A mail provider delivers one mail or throws. `MAIL_PROVIDER` chooses one;
 * only `log` exists so far, and an SMTP or API provider implements the same
 * method.
 */
export interface MailProvider {
  readonly name: string;
  send(mail: OutgoingMail): Promise<void>;
}
