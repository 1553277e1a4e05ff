import { useEffect } from "preact/hooks";
import { formatCountdown, nowMs, timeZone } from "./format";
import { startHistory, stopHistory } from "./history";
import { link, reconnectNow, retryAt, startLive } from "./live";
import { Dashboard } from "./pages/Dashboard";
import { LinkPage } from "./pages/LinkPage";
import { Mitras } from "./pages/Mitras";
import { Operators } from "./pages/Operators";
import { Sessions } from "./pages/Sessions";
import { Settings } from "./pages/Settings";
import { SignIn } from "./pages/SignIn";
import { Verifications } from "./pages/Verifications";
import { href, linkPage, PAGES, type Page, route } from "./router";
import { auth, restore, signOut } from "./session";
import type { Operator } from "./types";

export function App() {
  const a = auth.value;
  const lp = linkPage.value;

  useEffect(() => {
    // A link page starts signed out (the link itself signs in); anywhere else the cookie may restore a session.
    if (linkPage.peek()) auth.value = { kind: "signed-out" };
    else void restore();
  }, []);

  const signedIn = a.kind === "signed-in";
  useEffect(() => {
    if (!signedIn) return;
    startLive();
    startHistory();
    return () => stopHistory();
  }, [signedIn]);

  if (lp && a.kind !== "signed-in") return <LinkPage kind={lp} />;
  if (a.kind === "loading")
    return (
      <main id="main" class="auth-page" aria-busy="true">
        <p>Loading…</p>
      </main>
    );
  if (a.kind === "signed-out") return <SignIn reason={a.reason} />;
  return <Shell user={a.user} />;
}

function Shell({ user }: { user: Operator }) {
  const page = route.value;
  const admin = user.role === "admin";
  const entry = PAGES.find((p) => p.page === page);

  // After a page change, focus moves to its heading so keyboard and screen-reader users start there.
  useEffect(() => {
    document.getElementById("page-title")?.focus();
  }, [page]);

  return (
    <>
      <button type="button" class="skip-link" onClick={skipToMain}>
        Skip to content
      </button>
      <header class="top">
        <span class="brand">Halo control center</span>
        <nav aria-label="Pages">
          <ul>
            {PAGES.filter((p) => admin || !p.adminOnly).map((p) => (
              <li key={p.page}>
                <a href={href(p.page)} aria-current={p.page === page ? "page" : undefined}>
                  {p.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="who">
          <span>
            {user.email} <span class="role">({user.role})</span>
          </span>
          <button type="button" class="secondary" onClick={() => void signOut()}>
            Sign out
          </button>
        </div>
      </header>
      <LinkBanner />
      <main id="main" tabIndex={-1}>
        {entry?.adminOnly && !admin ? (
          <Forbidden />
        ) : page === "unknown" ? (
          <NotFound />
        ) : (
          <PageView page={page} />
        )}
      </main>
      <footer class="foot">Times are shown in {timeZone}.</footer>
    </>
  );
}

// A button, not an anchor: "#main" would be read as a page by the hash router.
function skipToMain() {
  document.getElementById("main")?.focus();
}

function PageView({ page }: { page: Page }) {
  switch (page) {
    case "dashboard":
      return <Dashboard />;
    case "mitras":
      return <Mitras />;
    case "sessions":
      return <Sessions />;
    case "verifications":
      return <Verifications />;
    case "operators":
      return <Operators />;
    case "settings":
      return <Settings />;
  }
}

function LinkBanner() {
  const state = link.value;
  if (state !== "reconnecting") return null;
  const left = Math.max(0, (retryAt.value - nowMs.value) / 1000);
  return (
    <div class="banner" role="status" data-testid="reconnecting">
      <span>
        Live updates paused: {left >= 1 ? `reconnecting in ${formatCountdown(left)}` : "reconnecting now"}.
        Counts may be out of date.
      </span>
      <button type="button" class="secondary" onClick={reconnectNow}>
        Retry now
      </button>
    </div>
  );
}

function Forbidden() {
  return (
    <>
      <h1 id="page-title" tabIndex={-1}>
        Admins only
      </h1>
      <p>This page is for admins. Ask an admin if you need a change here.</p>
    </>
  );
}

function NotFound() {
  return (
    <>
      <h1 id="page-title" tabIndex={-1}>
        No such page
      </h1>
      <p>
        <a href="#/">Go to the dashboard</a>
      </p>
    </>
  );
}
