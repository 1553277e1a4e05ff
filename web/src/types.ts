/** Shapes of the gateway's answers, as contract.md §2, §3, §4, §6 and §9 give them. */

export type Role = "admin" | "operator";

export interface Operator {
  id: string;
  type?: "cc";
  email: string;
  role: Role;
  status: "active" | "invited" | "disabled" | string;
  createdAt: string;
}

export interface SignedIn {
  accessToken: string;
  expiresIn: number;
  user: Operator;
  sessionEstablished?: boolean;
}

export interface Counts {
  online: number;
  available: number;
  deactivated: number;
  activeSessions: number;
  pendingSessions: number;
}

export interface HistoryPoint extends Counts {
  at: string;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface Mitra {
  id: string;
  phone: string;
  displayName: string;
  isActive: boolean;
  online: boolean;
  available: boolean;
  heartbeatAgeSeconds: number | null;
  capacity: number;
  maxConcurrentSessions: number;
  verifiedAt: string | null;
}

export interface MitraLogEntry {
  status: "online" | "offline" | "auto_offline" | "deactivated" | "activated" | string;
  at: string;
}

export interface OpenSession {
  id: string;
  status: "pending_payment" | "active" | string;
  customerId: string;
  mitraId: string;
  createdAt: string;
  paidAt: string | null;
  expiresAt: string | null;
  ageSeconds: number;
}

export interface Verification {
  id: string;
  mitraId: string;
  provider: string;
  status: string;
  reason: string | null;
  recreateCount: number;
  expiresAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export type Tunables = Record<string, number | string | boolean>;
