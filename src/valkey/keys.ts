/**
 * Every Valkey key and channel name is built here, and nowhere else.
 *
 * Standalone names are exactly the contract's (§3). In cluster mode every
 * availability key carries the `{avail}` hash tag so SDIFF, MGET, MSET and
 * SMISMEMBER stay in one slot. `prefix` (VALKEY_KEY_PREFIX) isolates tests and
 * tenants sharing one server; it comes before the hash tag, so the tag still
 * decides the slot.
 */
export interface KeyOptions {
  prefix: string;
  cluster: boolean;
}

export type Keys = ReturnType<typeof createKeys>;

export function createKeys({ prefix, cluster }: KeyOptions) {
  const avail = `${prefix}${cluster ? "{avail}" : ""}`;
  return {
    // --- availability mirror (owned by src/mirror) ---
    mitrasOnline: `${avail}mitras:online`,
    mitrasDeactivated: `${avail}mitras:deactivated`,
    mitraCapacity: (mitraId: string) => `${avail}mitra:capacity:${mitraId}`,
    mitraMax: (mitraId: string) => `${avail}mitra:max:${mitraId}`,
    mitraHeartbeat: (mitraId: string) => `${avail}mitra:heartbeat:${mitraId}`,
    /** The Postgres status_version of the presence state mirrored (older writes are refused). */
    mitraStatusVersion: (mitraId: string) => `${avail}mitra:status-version:${mitraId}`,
    /** Available mitras (online, active, below capacity), scored capacity × 1e13 + last offer ms: pairing picks from the head. */
    mitrasAvailable: `${avail}mitras:available`,
    /** mitra id → epoch ms of its last pairing offer (the tie-break of the available set's score). */
    mitrasLastOffered: `${avail}mitras:last-offered`,
    availabilitySnapshot: `${avail}availability:snapshot`,
    availabilitySnapshotLock: `${avail}availability:snapshot:lock`,
    /** Scratch set a reseed builds before swapping it in (same slot as the live set). */
    reseedScratch: (name: "online" | "deactivated" | "available") => `${avail}reseed:${name}`,

    // --- auth (owned by src/auth) ---
    revokedSession: (sid: string) => `${prefix}auth:revoked:${sid}`,

    // --- pairing (owned by src/pairing) ---
    /** The mitra whose accept won a request (SET NX in one Lua call): the race is settled here first. */
    pairingWinner: (requestId: string) => `${prefix}pairing:winner:${requestId}`,

    // --- verification (owned by src/verification) ---
    verificationRecreateLock: (verificationId: string) =>
      `${prefix}verification:recreate-lock:${verificationId}`,
    /** Held around the provider call that mints a mitra's first (or next, after a denial) verification. */
    verificationCreateLock: (mitraId: string) => `${prefix}verification:create-lock:${mitraId}`,

    // --- pub/sub channels (owned by src/valkey/pubsub) ---
    channel: {
      revocations: `${prefix}ch:revocations`,
      config: `${prefix}ch:config`,
      /** Frames addressed to a user, an auth session, a chat session or a group, for every process's sockets. */
      events: `${prefix}ch:events`,
      /** A mitra (de)activated: every process's in-memory deactivated set (src/mirror/deactivated-set.ts). */
      mitraActive: `${prefix}ch:mitra-active`,
    },
  };
}
