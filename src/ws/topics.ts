import type { UserType } from "../auth/user-types.js";

/** Who an event is for. Each address is one uWS topic on every process. */
export type Address =
  | { kind: "user"; userType: UserType; userId: string }
  | { kind: "session"; sid: string }
  | { kind: "chat"; sessionId: string }
  | { kind: "group"; group: "customers" | "mitras" | "operators" };

export function topicOf(a: Address): string {
  switch (a.kind) {
    case "user":
      return `u:${a.userType}:${a.userId}`;
    case "session":
      return `s:${a.sid}`;
    case "chat":
      return `c:${a.sessionId}`;
    case "group":
      return `g:${a.group}`;
  }
}

export const groupOf = (t: UserType): "customers" | "mitras" | "operators" =>
  t === "customer" ? "customers" : t === "mitra" ? "mitras" : "operators";
