import { existsSync } from "node:fs";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, expect } from "vitest";
import { ADMIN } from "../../support/people.js";

/** Debian's Chromium (`apt-get install chromium`; .ci/run installs it): playwright cannot download one here. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/**
 * The flags that work on these machines (no network but the registries):
 * without the background-networking ones Chromium keeps dialling Google's
 * hosts. Playwright adds --headless and a fresh --user-data-dir of its own.
 */
const ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
}

/** One Chromium for the file, closed after it. */
export function useBrowser(): { browser: Browser } {
  const ctx = {} as { browser: Browser };
  beforeAll(async () => {
    ctx.browser = await launchChromium();
  });
  afterAll(async () => {
    await ctx.browser?.close();
  });
  return ctx;
}

/** An answer the page expects (e.g. the 401 of a refresh without a cookie): not a console error to fail on. */
export interface ExpectedFailure {
  path: string | RegExp;
  status: number;
}

/** A refresh with no cookie (first visit, after sign-out) answers 401: the page then shows sign-in. */
export const NO_COOKIE_REFRESH: ExpectedFailure = { path: "/internal/auth/refresh", status: 401 };

export interface OpenedPage {
  context: BrowserContext;
  page: Page;
  /** Console errors, page errors and CSP violations seen so far, less the expected failures. */
  problems(): string[];
  close(): Promise<void>;
}

/**
 * A fresh browser profile (no cookies) and a page in it, 1280×800 in
 * Asia/Jakarta unless told otherwise, recording everything that would show
 * as an error in the developer console.
 */
export async function openPage(
  browser: Browser,
  opts: {
    viewport?: { width: number; height: number };
    timezoneId?: string;
    expected?: ExpectedFailure[];
    /** Console errors the test provokes on purpose (e.g. a socket that cannot connect while the gateway is down). */
    allow?: RegExp[];
  } = {},
): Promise<OpenedPage> {
  const context = await browser.newContext({
    viewport: opts.viewport ?? { width: 1280, height: 800 },
    timezoneId: opts.timezoneId ?? "Asia/Jakarta",
    locale: "en-GB",
  });
  const page = await context.newPage();
  const expected = [NO_COOKIE_REFRESH, ...(opts.expected ?? [])];
  const seen: string[] = [];
  page.on("console", (msg) => {
    if (msg.type() !== "error") return;
    const text = msg.text();
    const url = msg.location().url;
    if (opts.allow?.some((re) => re.test(text))) return;
    const status = /status of (\d{3})/.exec(text)?.[1];
    if (
      status &&
      expected.some(
        (e) =>
          e.status === Number(status) &&
          (typeof e.path === "string" ? new URL(url).pathname === e.path : e.path.test(url)),
      )
    )
      return;
    seen.push(`console error: ${text} (${url})`);
  });
  page.on("pageerror", (err) => seen.push(`page error: ${err.message}`));
  return {
    context,
    page,
    problems: () => [...seen],
    close: () => context.close(),
  };
}

/** Signs in through the form and waits for the dashboard. */
export async function signInThroughForm(
  page: Page,
  baseUrl: string,
  email: string = ADMIN.email,
  password: string = ADMIN.password,
): Promise<void> {
  if (!page.url().startsWith(`${baseUrl}/internal/`)) await page.goto(`${baseUrl}/internal/`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { level: 1, name: "Dashboard" }).waitFor();
}

/** The page showed nothing in its console that a person would call an error. */
export function expectNoProblems(opened: OpenedPage): void {
  expect(opened.problems()).toEqual([]);
}

/** The number on one dashboard card (`online`, `available`, `deactivated`, `activeSessions`, `pendingSessions`). */
export async function countOf(page: Page, key: string): Promise<string> {
  return (await page.locator(`[data-count="${key}"] .card-value`).textContent())?.trim() ?? "";
}
