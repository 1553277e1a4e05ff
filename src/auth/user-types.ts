import { USER_TYPES } from "../protocol/common.js";

export { USER_TYPES };
export type UserType = (typeof USER_TYPES)[number];

/** Who a verified access token speaks for. */
export interface Principal {
  userId: string;
  userType: UserType;
  /** The auth session (one signed-in device). */
  sid: string;
  /** Access token expiry, epoch seconds. */
  exp: number;
}

/**
 * Which user types a path accepts (contract §2): /api/client customer,
 * /api/mitra mitra, /api/shared both, /internal cc. One rule for every route.
 */
export function userTypesForPath(path: string): readonly UserType[] {
  if (path.startsWith("/api/client/")) return ["customer"];
  if (path.startsWith("/api/mitra/")) return ["mitra"];
  if (path.startsWith("/api/shared/")) return ["customer", "mitra"];
  if (path.startsWith("/internal")) return ["cc"];
  return [];
}
