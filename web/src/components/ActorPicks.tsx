// Choosing actors: one from a list, or several with checkboxes (labelled for screen readers).

export interface ActorRef {
  short_name: string;
  name: string;
}

export function ActorPick({ actors, value, onChange }: { actors: ActorRef[]; value: string; onChange: (v: string) => void }) {
  return (
    <label>
      Actor
      <select value={value} onChange={(e) => onChange(e.currentTarget.value)}>
        <option value="">none</option>
        {actors.map((a) => (
          <option key={a.short_name} value={a.short_name}>
            {a.name}
          </option>
        ))}
      </select>
    </label>
  );
}

export function ActorChecks({ legend, actors, chosen, onChange }: { legend: string; actors: ActorRef[]; chosen: string[]; onChange: (v: string[]) => void }) {
  return (
    <fieldset>
      <legend>{legend}</legend>
      {actors.map((a) => (
        <label key={a.short_name} class="inline">
          <input
            type="checkbox"
            checked={chosen.includes(a.short_name)}
            onChange={(e) => onChange(e.currentTarget.checked ? [...chosen, a.short_name] : chosen.filter((x) => x !== a.short_name))}
          />{" "}
          {a.name}
        </label>
      ))}
    </fieldset>
  );
}
