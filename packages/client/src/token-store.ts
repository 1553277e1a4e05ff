import type { TokenPair, User } from "./protocol.js";

/** One signed-in device's tokens, as the SDK keeps them. */
export interface StoredSession {
  accessToken: string;
  refreshToken: string;
  /** When the access token expires, on this device's clock (epoch ms): receipt time + `expiresIn`. */
  accessExpiresAt: number;
  /** The access token's lifetime (`expiresIn`), seconds. */
  accessLifetimeSeconds: number;
  user: User;
  /**
   * The device's push token, kept with the tokens because the gateway keeps
   * it per auth session: a refresh carries it over; a sign-in that replaces
   * this session carries it with `registered: false` (the new session does
   * not have it yet); the end of the session drops it.
   */
  pushDevice?: KeptPushDevice;
}

/** A push token, as the app's push library (FCM) gave it. */
export interface PushDevice {
  platform: "android" | "ios";
  token: string;
}

/** A push token kept with the session: `registered` once the gateway has it for this session. */
export interface KeptPushDevice extends PushDevice {
  registered: boolean;
}

/**
 * Where the tokens live. The SDK writes after every sign-in and refresh and
 * clears when the session ends; keep the refresh token somewhere only this
 * app can read (Keychain/Keystore on phones, memory or an HttpOnly cookie
 * proxy on the web).
 */
export interface TokenStore {
  load(): StoredSession | null | Promise<StoredSession | null>;
  save(session: StoredSession): void | Promise<void>;
  clear(): void | Promise<void>;
}

/** Tokens in memory only: gone when the process or tab goes (the default). */
export class MemoryTokenStore implements TokenStore {
  private session: StoredSession | null = null;
  load(): StoredSession | null {
    return this.session;
  }
  save(session: StoredSession): void {
    this.session = session;
  }
  clear(): void {
    this.session = null;
  }
}

/** `localStorage`, `sessionStorage`, React Native's AsyncStorage, or anything with these three methods. */
export interface KeyValueStorage {
  getItem(key: string): string | null | Promise<string | null>;
  setItem(key: string, value: string): void | Promise<void>;
  removeItem(key: string): void | Promise<void>;
}

/** Tokens as one JSON value under `key` of a key-value storage. */
export class KeyValueTokenStore implements TokenStore {
  constructor(
    private readonly storage: KeyValueStorage,
    private readonly key = "halo.session",
  ) {}
  async load(): Promise<StoredSession | null> {
    const raw = await this.storage.getItem(this.key);
    if (!raw) return null;
    try {
      return JSON.parse(raw) as StoredSession;
    } catch {
      return null;
    }
  }
  async save(session: StoredSession): Promise<void> {
    await this.storage.setItem(this.key, JSON.stringify(session));
  }
  async clear(): Promise<void> {
    await this.storage.removeItem(this.key);
  }
}

/** A token pair as received now → what is stored. */
export function sessionFromPair(pair: TokenPair, receivedAt: number): StoredSession {
  return {
    accessToken: pair.accessToken,
    refreshToken: pair.refreshToken,
    accessExpiresAt: receivedAt + pair.expiresIn * 1000,
    accessLifetimeSeconds: pair.expiresIn,
    user: pair.user,
  };
}
