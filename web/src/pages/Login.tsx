import { useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { type Me, signIn, whoAmI } from "../api";
import { ErrorLine } from "../format";

export function LoginPage({ onSignedIn }: { onSignedIn: (me: Me) => void }) {
  const { query, route } = useLocation();
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await signIn(name, password);
      const me = await whoAmI();
      if (me) onSignedIn(me);
      const next = query.next && query.next.startsWith("/") && !query.next.startsWith("//") ? query.next : "/runs";
      route(next === "/login" ? "/runs" : next, true);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main id="main" class="login">
      <form onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">Sign in to scenario-lab</h1>
        <label>
          Name
          <input name="name" autocomplete="username" required value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autocomplete="current-password"
            required
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </label>
        <ErrorLine error={error} />
        <button type="submit" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
        <p class="muted small">Players: open the join link your facilitator gave you; it needs no sign-in.</p>
      </form>
    </main>
  );
}
