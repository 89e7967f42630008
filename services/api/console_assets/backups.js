// A database's backups on its page: its backup policy and restorable window, the backups
// newest first with state, origin, times and size, and a "Back up now" button for keys that
// may take one (operator, admin). Refreshed by the page's poll; a refusal (503
// backups-not-configured, 409 a database being deleted) shows the API's problem here.
// The same keys may restore: a succeeded backup, or a point in time of the restorable
// window, into a new database (POST /v1/databases with `restore`), then follow it there.

import { getAll, request } from "./api.js";
import { badge, h, showProblem, timeElement } from "./dom.js";
import { buildRestore } from "./restore.js";

const COLUMNS = ["Started", "State", "Origin", "Completed", "Size", "Error"];
const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

export function buildBackups({ path, canWrite, confirmAction, refresh, navigate }) {
  const problems = h("div", { tabindex: "-1" });
  const notice = h("p", { class: "notice", role: "status" });
  const body = h("tbody");
  const summary = h("p", { class: "muted" }, "Loading…");
  const policy = h("dl", { class: "facts policy" });
  const backUp = canWrite ? h("button", { type: "button", class: "primary" }, "Back up now") : null;
  const restore = canWrite ? buildRestore({ confirmAction, navigate, describe: describeBackup }) : null;
  backUp?.addEventListener("click", async () => {
    const sure = await confirmAction({
      title: "Back up now?",
      text: "The backup is queued as an operation after the database's other operations; its state shows here.",
      action: "Back up now",
    });
    if (!sure) return;
    backUp.disabled = true;
    try {
      const { data } = await request("POST", `${path}/backups`);
      showProblem(problems, null);
      notice.textContent = `Backup queued (operation ${data.operation.id}); its state shows below.`;
    } catch (problem) {
      notice.textContent = "";
      showProblem(problems, problem);
      problems.focus();
    } finally {
      backUp.disabled = false;
    }
    await refresh();
  });

  const section = h(
    "section",
    { class: "card", "aria-labelledby": "backups-title" },
    h("div", { class: "page-head" }, h("h2", { id: "backups-title" }, "Backups"), backUp),
    policy,
    problems,
    notice,
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "list backups" },
        h("caption", { class: "visually-hidden" }, "Backups, newest first"),
        h("thead", {}, h("tr", {}, COLUMNS.map((title) => h("th", { scope: "col" }, title)))),
        body,
      ),
    ),
    summary,
    restore?.form,
  );

  async function load() {
    const backups = await getAll(`${path}/backups`);
    body.replaceChildren(...backups.map(row));
    summary.textContent = backups.length === 0
      ? "No backups yet."
      : `${backups.length} backup${backups.length === 1 ? "" : "s"}, newest first.`;
    restore?.showBackups(backups);
  }
  /** The policy and window as the database's own GET states them. */
  function showPolicy(database) {
    restore?.showDatabase(database);
    const span = database.restorable_window;
    const restorable = span
      ? [h("dt", {}, "Restorable"), h("dd", {}, "any time from ", timeElement(span.earliest), " to ", timeElement(span.latest))]
      : [];
    policy.replaceChildren(h("dt", {}, "Schedule"), h("dd", {}, describePolicy(database.backup)), ...restorable);
  }
  return { section, load, showPolicy };
}

function describePolicy(policy) {
  if (!policy) return "none (only backups taken here or by the API)";
  const retention = policy.retention ?? {};
  const parts = [policy.schedule];
  if (retention.keep_last !== null && retention.keep_last !== undefined) parts.push(`keep last ${retention.keep_last}`);
  if (retention.max_age) parts.push(`max age ${retention.max_age}`);
  if (policy.pitr) parts.push("point-in-time recovery");
  return parts.join(" · ");
}

function row(backup) {
  return h(
    "tr",
    { "data-id": backup.id, "data-state": backup.state },
    h("th", { scope: "row" }, timeElement(backup.started_at ?? backup.created_at)),
    h("td", { "data-label": "State" }, badge(backup.state)),
    h("td", { "data-label": "Origin" }, backup.origin),
    h("td", { "data-label": "Completed" }, backup.completed_at ? timeElement(backup.completed_at) : "—"),
    h("td", { "data-label": "Size" }, size(backup.size_bytes)),
    h("td", { "data-label": "Error", class: backup.error ? "op-error" : "" }, backup.error ?? "—"),
  );
}

function describeBackup(backup) {
  const when = new Date(backup.started_at ?? backup.created_at).toLocaleString();
  return `${when} (${backup.origin}, ${size(backup.size_bytes)})`;
}

/** 1536 -> "1.5 KiB": binary units, as Kubernetes quantities count storage. */
export function size(bytes) {
  if (bytes === null || bytes === undefined) return "—";
  let value = bytes;
  for (const unit of UNITS) {
    if (value < 1024 || unit === UNITS.at(-1)) return unit === "B" ? `${bytes} B` : `${value.toFixed(1)} ${unit}`;
    value /= 1024;
  }
  return `${bytes} B`;
}
