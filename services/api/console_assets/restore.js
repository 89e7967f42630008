// Restore into a new database, from the database page's backups section: a succeeded backup
// or, where KubeDB archives the database, a point in time of its restorable window. The new
// database takes the source's engine, version and storage (the API refuses anything else);
// its name is the user's. Once accepted, the console follows the new database's page, where
// the restore shows as its first operation.

import { request } from "./api.js";
import { field, h, showFieldErrors } from "./dom.js";

const FIELDS = { name: "restore-name", "restore.backup_id": "restore-source", "restore.point_in_time": "restore-time" };
const POINT_IN_TIME = "point-in-time";

export function buildRestore({ confirmAction, navigate, describe }) {
  let database = null;
  let backupsShown = [];
  let chosen = null; // the user's choice, kept across polls; else the newest backup
  const problems = h("div", { tabindex: "-1" });
  const name = h("input", { type: "text", required: true, autocomplete: "off", spellcheck: "false" });
  const source = h("select", {}, h("option", { value: "" }, "No succeeded backup yet"));
  const time = h("input", { type: "datetime-local", step: "1" });
  const timeField = field({ id: "restore-time", label: "Point in time (your local time)", control: time });
  timeField.hidden = true;
  const submit = h("button", { type: "submit" }, "Restore");
  const form = h(
    "form",
    { class: "restore", "aria-labelledby": "restore-title", novalidate: true },
    h("h3", { id: "restore-title" }, "Restore into a new database"),
    problems,
    field({ id: "restore-name", label: "New database name", control: name }),
    field({ id: "restore-source", label: "From", control: source }),
    timeField,
    submit,
  );
  source.addEventListener("change", () => {
    chosen = source.value;
    timeField.hidden = source.value !== POINT_IN_TIME;
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!database) return;
    const restore = source.value === POINT_IN_TIME
      ? { database_id: database.id, point_in_time: time.value ? new Date(time.value).toISOString() : "" }
      : { backup_id: source.value };
    const body = {
      name: name.value.trim(),
      engine: database.engine,
      version: database.version,
      storage: database.storage,
      restore,
    };
    const sure = await confirmAction({
      title: `Restore into ${body.name || "a new database"}?`,
      text: `A new ${database.engine} ${database.version} database is created and filled from ${source.selectedOptions[0]?.textContent ?? "the backup"}; ${database.name} is not changed.`,
      action: "Restore",
    });
    if (!sure) return;
    submit.disabled = true;
    try {
      const { data } = await request("POST", "databases", { body });
      showFieldErrors(form, problems, null, FIELDS);
      navigate(`#/databases/${data.id}`);
    } catch (problem) {
      showFieldErrors(form, problems, problem, FIELDS);
    } finally {
      submit.disabled = false;
    }
  });

  /** The succeeded backups offered as sources (keeping the choice across polls). */
  function showBackups(backups) {
    backupsShown = backups;
    const usable = backups.filter((backup) => backup.state === "succeeded" && backup.snapshot);
    const options = usable.map((backup) => h("option", { value: backup.id }, describe(backup)));
    if (database?.restorable_window) options.push(h("option", { value: POINT_IN_TIME }, "A point in time…"));
    if (options.length === 0) options.push(h("option", { value: "" }, "No succeeded backup yet"));
    source.replaceChildren(...options);
    if (chosen !== null && [...source.options].some((option) => option.value === chosen)) source.value = chosen;
    timeField.hidden = source.value !== POINT_IN_TIME;
    submit.disabled = source.value === "";
  }
  function showDatabase(current) {
    const windowChanged = Boolean(database?.restorable_window) !== Boolean(current.restorable_window);
    database = current;
    if (windowChanged) showBackups(backupsShown);
  }
  return { form, showBackups, showDatabase };
}
