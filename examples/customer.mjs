// A customer app: sign in anonymously, ask for a mitra, pay, chat, end. Run `npm run example:customer`
// while `npm run example:mitra` is online (see examples/README.md).
import { createHaloClient } from "@halo/client/node";
import { env, log } from "./dev-shortcuts.mjs";

const client = createHaloClient({ baseUrl: env.HALO_URL });
await client.auth.signInAnonymous("Example Customer");
client.socket.on("availability", (a) => log(`${a.available} mitra(s) available`));
await client.socket.connect();

// One intent, one idempotency key: a retry after a lost ack returns the same request.
const pairing = client.requestPairing();
log(`asking for a mitra (request ${await pairing.requestId})`);
const match = await pairing.result;
if (match.status === "failed") {
  log(
    `no match: ${match.reason}${match.reason === "NO_MITRA_AVAILABLE" ? " (start npm run example:mitra)" : ""}`,
  );
  client.close();
  process.exit(1);
}
log(`matched with ${match.mitra?.displayName ?? "a mitra"}: session ${match.sessionId}`);

const paid = await client.sessions.pay(match.sessionId);
log(`paid; the session runs until ${paid.expiresAt}`);

const chat = client.conversation(match.sessionId);
const lines = ["Halo!", "Is this thing on?", "Terima kasih, bye."];
const replies = new Promise((resolve) => {
  let got = 0;
  chat.on("message", (m) => {
    log(`${m.senderType === "customer" ? "me" : "mitra"}: ${m.text}`);
    if (m.senderType === "mitra" && ++got === lines.length) resolve();
  });
});
for (const line of lines) await chat.send(line); // queued and resent across reconnects, stored once
await replies;

const ended = await client.endSession(match.sessionId);
log(`session ${ended.status} (${ended.endReason})`);
chat.close();
await client.auth.logout();
log("signed out, bye");
process.exit(0);
