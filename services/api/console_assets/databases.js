// The project's databases with their live state and phase (polled).

import { getAll } from "./api.js";
import { badge, h, showProblem } from "./dom.js";

const COLUMNS = ["Name", "Engine", "Version", "Replicas", "State", "Phase"];

export function renderDatabases(main, { identity, canWrite, poll }) {
  const problems = h("div");
  const body = h("tbody");
  const summary = h("p", { class: "muted", role: "status" }, "Loading…");
  main.replaceChildren(
    h(
      "div",
      { class: "page-head" },
      h("h1", { tabindex: "-1" }, "Databases"),
      canWrite && h("a", { class: "button primary", href: "#/databases/new" }, "New database"),
    ),
    problems,
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "list" },
        h("caption", { class: "visually-hidden" }, `Databases of project ${identity.project}`),
        h("thead", {}, h("tr", {}, COLUMNS.map((title) => h("th", { scope: "col" }, title)))),
        body,
      ),
    ),
    summary,
  );
  return poll(async () => {
    try {
      const items = await getAll("databases");
      body.replaceChildren(...items.map(row));
      summary.textContent = items.length === 0
        ? "No databases yet."
        : `${items.length} database${items.length === 1 ? "" : "s"}; refreshed every 2 seconds.`;
      showProblem(problems, null);
    } catch (problem) {
      showProblem(problems, problem);
    }
  });
}

function row(database) {
  const observed = database.status.observed ?? {};
  const replicas = observed.replicas !== undefined && observed.replicas !== database.replicas
    ? `${observed.replicas} → ${database.replicas}`
    : database.replicas;
  return h(
    "tr",
    { "data-name": database.name },
    h("th", { scope: "row" }, h("a", { href: `#/databases/${database.id}` }, database.name)),
    h("td", { "data-label": "Engine" }, database.engine),
    h("td", { "data-label": "Version" }, database.version),
    h("td", { "data-label": "Replicas" }, replicas),
    h("td", { "data-label": "State" }, badge(database.state)),
    h("td", { "data-label": "Phase" }, database.status.phase ?? "—"),
  );
}
