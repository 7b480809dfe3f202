// The app shell: who is signed in, the navigation, and one route per page.
// The seat page (a player's join link) lives outside the shell: it has no cookie
// session and shows nothing but that seat.

import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ErrorBoundary, LocationProvider, Route, Router, lazy, useLocation } from "preact-iso";
import { ApiError, type Me, atLeast, signOut, whoAmI } from "./api";
import { MeContext } from "./me";
import { LoginPage } from "./pages/Login";
import { RunsPage } from "./pages/Runs";
import { RunPage } from "./pages/Run";
import { SeatPage } from "./pages/Seat";
import { ScenariosPage } from "./pages/Scenarios";
import { ComparePage } from "./pages/Compare";
import { SqlPage } from "./pages/Sql";
import { BatchPage } from "./pages/Batch";
import { NotFound } from "./pages/NotFound";
import "./style.css";

// CodeMirror is most of the bundle: it loads with the editor page only
const EditorPage = lazy(() => import("./pages/Editor").then((m) => m.EditorPage));


function Shell() {
  const { path, route } = useLocation();
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    whoAmI()
      .then(setMe)
      .catch((e: ApiError) => setError(e.message));
  }, []);

  useEffect(() => {
    if (me === null && path !== "/login") route(`/login?next=${encodeURIComponent(path)}`, true);
  }, [me, path]);

  if (error) return <p class="error" role="alert">{error}</p>;
  if (me === undefined) return <p class="muted">Loading…</p>;
  if (me === null || path === "/login") {
    return <LoginPage onSignedIn={setMe} />;
  }
  const out = async () => {
    await signOut();
    setMe(null);
  };
  return (
    <MeContext.Provider value={me}>
      <a class="skip" href="#main">Skip to content</a>
      <header class="top">
        <a class="brand" href="/runs">scenario-lab</a>
        <nav aria-label="Main">
          <a href="/runs">Runs</a>
          <a href="/scenarios">Scenarios</a>
          <a href="/compare">Compare</a>
          <a href="/sql">SQL</a>
          {atLeast(me, "facilitator") && <a href="/editor">Editor</a>}
        </nav>
        <span class="who">
          {me.open ? "open server (loopback)" : `${me.name} · ${me.role}`}
          {!me.open && (
            <button type="button" class="link" onClick={out}>
              Sign out
            </button>
          )}
        </span>
      </header>
      <main id="main">
        <ErrorBoundary>
          <Router>
            <Route path="/" component={RunsPage} />
            <Route path="/runs" component={RunsPage} />
            <Route path="/runs/:id" component={RunPage} />
            <Route path="/scenarios" component={ScenariosPage} />
            <Route path="/scenarios/:name" component={ScenariosPage} />
            <Route path="/compare" component={ComparePage} />
            <Route path="/editor" component={EditorPage} />
            <Route path="/sql" component={SqlPage} />
            <Route path="/batches/:id" component={BatchPage} />
            <Route default component={NotFound} />
          </Router>
        </ErrorBoundary>
      </main>
    </MeContext.Provider>
  );
}

function App() {
  return (
    <LocationProvider>
      <Pages />
    </LocationProvider>
  );
}

function Pages() {
  const { path } = useLocation();
  // a seat is not signed in: its page must not ask who is
  if (path.startsWith("/join/")) {
    return <SeatPage runId={decodeURIComponent(path.split("/")[2] ?? "")} />;
  }
  return <Shell />;
}

render(<App />, document.getElementById("app")!);
