import type { UserType } from "../../src/auth/user-types.js";
import { json } from "./http.js";

export interface Pair {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  user: { id: string; type: UserType } & Record<string, unknown>;
}

export const authHeader = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

export async function post(base: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${base}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

/** A new anonymous customer's token pair. */
export async function anonymousCustomer(publicUrl: string, displayName = "Tester"): Promise<Pair> {
  const res = await fetch(`${publicUrl}/api/shared/auth/anonymous`, {
    method: "POST",
    body: JSON.stringify({ displayName }),
  });
  if (res.status !== 201) throw new Error(`anonymous sign-in failed: ${res.status}`);
  return json(res);
}
