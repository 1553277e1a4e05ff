import type { Tunables } from "../../src/app-config/tunables.js";
import { anonymousCustomer } from "./auth.js";
import type { TestGateway } from "./gateway.js";
import { mitraToken, seedMitra } from "./mitras.js";
import { WsClient, wsUrl } from "./ws-client.js";

export interface Party {
  id: string;
  token: string;
  ws: WsClient;
  gw: TestGateway;
}

/** Sets app_config tunables and makes every gateway re-read them now (no 2 s cache wait). */
export async function setTunables(gateways: TestGateway[], values: Partial<Tunables>): Promise<void> {
  const pool = (gateways[0] as TestGateway).pool;
  for (const [key, value] of Object.entries(values))
    await pool.query(
      `INSERT INTO app_config (key, value) VALUES ($1, $2::jsonb)
       ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`,
      [key, JSON.stringify(value)],
    );
  for (const gw of gateways) gw.gateway.services.appConfig.invalidate();
}

/** Every mitra offline, in Postgres and (through a reseed) in Valkey: a test starts with nobody available. */
export async function everyoneOffline(gw: TestGateway): Promise<void> {
  await gw.pool.query("UPDATE mitras SET is_online = false WHERE is_online");
  await gw.pool.query(
    "UPDATE chat_sessions SET status = 'ended', end_reason = 'ENDED_BY_CUSTOMER' WHERE status <> 'ended'",
  );
  await gw.pool.query(
    "UPDATE pairing_requests SET status = 'failed', fail_reason = 'TIMEOUT' WHERE status = 'searching'",
  );
  await gw.gateway.services.scheduler.runNow("reseed");
}

/** A mitra gone online through the gateway (Postgres, then Valkey), with a socket whose hello is read. */
export async function onlineMitra(gw: TestGateway, opts: { max?: number } = {}): Promise<Party> {
  const id = await seedMitra(gw.pool, { ...(opts.max ? { max: opts.max } : {}) });
  if (opts.max) await gw.gateway.services.avail.mirror.setMax(id, opts.max);
  await gw.gateway.services.avail.status.goOnline(id);
  const token = await mitraToken(gw, id);
  const ws = await WsClient.connect(wsUrl(gw.publicUrl, "/ws"), { token });
  await ws.next("hello");
  return { id, token, ws, gw };
}

/** A new anonymous customer with a socket (hello and availability read). */
export async function socketCustomer(gw: TestGateway): Promise<Party> {
  const pair = await anonymousCustomer(gw.publicUrl, "Pat");
  const ws = await WsClient.connect(wsUrl(gw.publicUrl, "/ws"), { token: pair.accessToken });
  await ws.next("hello");
  await ws.next("availability");
  return { id: pair.user.id, token: pair.accessToken, ws, gw };
}
