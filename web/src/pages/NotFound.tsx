export function NotFound() {
  return (
    <section>
      <h1>Not found</h1>
      <p>
        No page here. Go to the <a href="/runs">runs</a>.
      </p>
    </section>
  );
}
