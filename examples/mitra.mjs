// A mitra (provider) app on the SDK: sign in with a phone code, go online, heartbeat,
// take the first offer, and answer every customer message. Run `npm run example:mitra` against a
// gateway started with `ENABLE_TEST_ROUTES=true npm start` (see examples/README.md).
import { createHaloClient, HaloError } from "@halo/client/node";
import { devCodeFor, devSeedMitra, env, log } from "./dev-shortcuts.mjs";

const phone = env.MITRA_PHONE;
const client = createHaloClient({ baseUrl: env.HALO_URL });

// ---- sign in with a phone code -------------------------------------------------------------------
await devSeedMitra(phone); // dev only: an operator creates mitras in production (POST /internal/mitras)
let otp;
for (;;) {
  try {
    otp = await client.auth.requestOtp("mitra", phone);
    break;
  } catch (err) {
    if (!(err instanceof HaloError) || err.code !== "RESEND_COOLDOWN") throw err;
    log(`a code was sent less than a minute ago; asking again in ${err.retryAfterSeconds} s`);
    await new Promise((r) => setTimeout(r, (err.retryAfterSeconds ?? 1) * 1000));
  }
}
const session = await client.auth.verifyOtp("mitra", otp.requestId, await devCodeFor(phone));
log(`signed in as ${session.user.displayName} (${session.user.phone})`);

// ---- online, with a socket that heartbeats ----------------------------------------------------------
await client.goOnline();
const hello = await client.socket.connect();
log(`online; heartbeating every ${hello.heartbeatIntervalSeconds} s`);
client.socket.on("heartbeat", () => log("heartbeat acknowledged"));
client.socket.on("disconnected", (d) => log(`socket closed (${d.code}); retrying in ${d.retryInMs} ms`));
client.socket.on("hello", () => log("socket back"));

// ---- take offers, answer messages --------------------------------------------------------------------
client.socket.on("pairing.offer", async (offer) => {
  log(`offer ${offer.requestId} from ${offer.customer.displayName ?? "a customer"}`);
  try {
    const sessionId = await client.acceptOffer(offer);
    log(`accepted: session ${sessionId}, waiting for the payment`);
  } catch (err) {
    log(`lost the offer: ${err instanceof HaloError ? err.code : err}`);
  }
});

const me = session.user.id;
const chats = new Map();
client.socket.on("pairing.matched", ({ sessionId }) => {
  const chat = client.conversation(sessionId);
  chats.set(sessionId, chat);
  chat.on("message", (m) => {
    log(`${m.senderId === me ? "me" : "customer"}: ${m.text}`);
    if (m.senderId !== me) void chat.send(`You said "${m.text}"`);
  });
});
client.socket.on("session.updated", async ({ session: s }) => {
  log(`session ${s.status}${s.endReason ? ` (${s.endReason})` : ""}`);
  if (s.status !== "ended") return;
  chats.get(s.id)?.close();
  chats.delete(s.id);
  if (env.EXAMPLE_EXIT_AFTER_SESSION) await stop();
});

async function stop() {
  await client.goOffline().catch(() => {});
  client.close();
  log("offline, bye");
  process.exit(0);
}
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
