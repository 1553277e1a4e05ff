/**
 * Pages inside the app are hash routes (`/internal/#/mitras`): paths under
 * /internal/ belong to the API (GET /internal/mitras is JSON), so the page
 * never claims one. The two mailed links are real paths the gateway serves
 * with this same index.html: /internal/accept-invite and /internal/reset-password.
 */
import { signal } from "@preact/signals";

export type Page = "dashboard" | "mitras" | "sessions" | "verifications" | "operators" | "settings";
export type LinkPage = "accept-invite" | "reset-password";

export const PAGES: readonly { page: Page; label: string; adminOnly: boolean }[] = [
  { page: "dashboard", label: "Dashboard", adminOnly: false },
  { page: "mitras", label: "Mitras", adminOnly: false },
  { page: "sessions", label: "Open sessions", adminOnly: false },
  { page: "verifications", label: "Verifications", adminOnly: false },
  { page: "operators", label: "Operators", adminOnly: true },
  { page: "settings", label: "Settings", adminOnly: true },
];

function pageFromHash(): Page | "unknown" {
  const name = location.hash.replace(/^#\/?/, "").split(/[/?]/)[0] ?? "";
  if (name === "") return "dashboard";
  return PAGES.some((p) => p.page === name) ? (name as Page) : "unknown";
}

function linkFromPath(): LinkPage | null {
  const p = location.pathname.replace(/\/+$/, "");
  if (p.endsWith("/internal/accept-invite")) return "accept-invite";
  if (p.endsWith("/internal/reset-password")) return "reset-password";
  return null;
}

export const route = signal<Page | "unknown">(pageFromHash());
export const linkPage = signal<LinkPage | null>(linkFromPath());

window.addEventListener("hashchange", () => {
  route.value = pageFromHash();
});

export const href = (page: Page): string => (page === "dashboard" ? "#/" : `#/${page}`);

/** Leaves a link page for the app at /internal/, dropping the token from the address bar and history. */
export function leaveLinkPage(): void {
  history.replaceState(null, "", "/internal/#/");
  linkPage.value = null;
  route.value = "dashboard";
}
