import type { Logger } from "../log.js";
import type { PushMessage, PushProvider, PushResult } from "./push-provider.js";

/**
 * PUSH_PROVIDER=log (the default, contract §11): a push is a log line, and
 * always "sent". The line names the device by the end of its token and
 * leaves out chat text (the log is kept longer and read by more people than
 * a phone's notification).
 */
export class LogPushProvider implements PushProvider {
  readonly name = "log";

  constructor(private readonly log: Logger) {}

  async send(msg: PushMessage): Promise<PushResult> {
    const { text, ...data } = msg.data;
    this.log.info(
      {
        platform: msg.platform,
        tokenEnd: msg.token.slice(-8),
        data: text === undefined ? data : { ...data, textChars: String(text.length) },
      },
      "push (log provider)",
    );
    return { kind: "sent" };
  }
}
