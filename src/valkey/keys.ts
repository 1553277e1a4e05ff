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
    /** heartbeat-guard-set-n.lua reads the id back off the key, after `mitraHeartbeat("")`. */
    mitraHeartbeat: (mitraId: string) => `${avail}mitra:heartbeat:${mitraId}`,
    /** The Postgres status_version of the presence state mirrored (older writes are refused). */
    mitraStatusVersion: (mitraId: string) => `${avail}mitra:status-version:${mitraId}`,
    /** Available mitras (online, active, below capacity), scored capacity × 1e13 + last offer ms: pairing picks from the head. */
    mitrasAvailable: `${avail}mitras:available`,
    /** mitra id → epoch ms of its last pairing offer (the tie-break of the available set's score). */
    mitrasLastOffered: `${avail}mitras:last-offered`,
    availabilitySnapshot: `${avail}availability:snapshot`,
    availabilitySnapshotLock: `${avail}availability:snapshot:lock`,
    /** Written last by every reseed: without it this Valkey holds no whole mirror and readers use Postgres. */
    mirrorSeeded: `${avail}mirror:seeded`,
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

    // --- push reachability (owned by src/push/reachability.ts) ---
    // Single-key commands and one single-key script only, so no hash tag: a user's hash lands in its own
    // slot (spread over the cluster) and the one lease set in another.
    /** HASH: process id → 1 for each process holding a socket of this user (customers and mitras). */
    reachUser: (userType: string, userId: string) => `${prefix}reach:user:${userType}:${userId}`,
    /** ZSET: process id scored by the epoch ms its lease ends (renewed every few seconds). */
    reachProcs: `${prefix}reach:procs`,

    // --- pub/sub channels (owned by src/valkey/pubsub) ---
    // Shard channels (SPUBLISH/SSUBSCRIBE): a message travels to the one node
    // that owns the channel's slot, instead of being broadcast over the whole
    // cluster bus as PUBLISH is.
    channel: {
      revocations: `${prefix}ch:revocations`,
      config: `${prefix}ch:config`,
      /**
       * Frames addressed to a user, for every process's sockets, split over
       * EVENT_SHARD_TAGS.length shard channels (a user's frames always use the
       * same one, so their order holds). Each carries a hash tag in cluster mode.
       */
      events: EVENT_SHARD_TAGS.map((tag, i) => `${prefix}${cluster ? `{${tag}}` : ""}ch:events:${i}`),
      /** The classic (PUBLISH) channels of the single-channel version, heard during a rolling deploy. */
      legacy: {
        events: `${prefix}ch:events`,
        revocations: `${prefix}ch:revocations`,
        config: `${prefix}ch:config`,
      },
      /** A mitra (de)activated: every process's in-memory deactivated set (src/mirror/deactivated-set.ts). */
      mitraActive: `${prefix}ch:mitra-active`,
    },
  };
}

/**
 * Hash tags of the event shard channels: tag i hashes to a slot in the i-th
 * sixteenth of the 16384 slots (found once with CLUSTER KEYSLOT; the cluster
 * test checks them), so with slots split evenly over any number of primaries
 * up to 16 the shards land on every primary rather than where chance puts them.
 */
export const EVENT_SHARD_TAGS = [
  "ev0.40",
  "ev1.43",
  "ev2.60",
  "ev3.63",
  "ev4.23",
  "ev5.20",
  "ev6.2",
  "ev7.1",
  "ev8.0",
  "ev9.3",
  "ev10.40",
  "ev11.43",
  "ev12.61",
  "ev13.62",
  "ev14.23",
  "ev15.20",
] as const;
