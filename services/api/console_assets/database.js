// One database: status, desired vs observed, actions (operator and admin keys only),
// credentials on demand, its backups, its operations as a timeline and its events.
// Polled; the forms are built once, so polling never disturbs what the user is typing.

import { ApiProblem, engines, get, getAll, request } from "./api.js";
import { buildBackups } from "./backups.js";
import { asNumber, badge, field, h, showFieldErrors, showProblem, timeElement } from "./dom.js";

const COMPARED = [
  ["Version", (d) => d.version, (o) => o.version],
  ["Replicas", (d) => d.replicas, (o) => o.replicas],
  ["Storage", (d) => d.storage, (o) => o.storage],
  ["CPU", (d) => d.resources.cpu, (o) => o.cpu],
  ["Memory", (d) => d.resources.memory, (o) => o.memory],
  ["Deletion policy", (d) => d.deletion_policy, (o) => o.deletion_policy],
];
const FIELDS = {
  replicas: "scale-replicas",
  "resources.cpu": "resize-cpu",
  "resources.memory": "resize-memory",
  resources: "resize-cpu",
  storage: "expand-storage",
  version: "upgrade-version",
};

export function renderDatabase(main, { identity, canWrite, poll, confirmAction, navigate }, id) {
  const path = `databases/${id}`;
  const state = { database: null, etag: null, gone: false };
  const title = h("h1", { tabindex: "-1" }, "Database");
  const problems = h("div", { tabindex: "-1" });
  const notice = h("p", { class: "notice", role: "status" });
  const statusList = h("dl", { class: "facts" });
  const comparison = h("tbody");
  const timeline = h("ol", { class: "timeline", "aria-label": "Operations, newest first" });
  const eventList = h("ol", { class: "events", "aria-label": "Events, newest first" });
  const actions = canWrite ? buildActions() : null;
  const credentials = canWrite ? buildCredentials() : null;
  const backups = buildBackups({ path, canWrite, confirmAction, refresh, navigate });

  const sections = [
    h("p", {}, h("a", { href: "#/databases" }, "← Databases")),
    h("div", { class: "page-head" }, title),
    problems,
    notice,
    h(
      "div",
      { class: "columns" },
      h("section", { class: "card", "aria-labelledby": "status-title" }, h("h2", { id: "status-title" }, "Status"), statusList),
      h(
        "section",
        { class: "card", "aria-labelledby": "spec-title" },
        h("h2", { id: "spec-title" }, "Desired and observed"),
        h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            { class: "compare" },
            h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Field"), h("th", { scope: "col" }, "Desired"), h("th", { scope: "col" }, "Observed"))),
            comparison,
          ),
        ),
      ),
    ),
    actions?.section,
    credentials,
    backups.section,
    h("section", { class: "card", "aria-labelledby": "ops-title" }, h("h2", { id: "ops-title" }, "Operations"), timeline),
    h("section", { class: "card", "aria-labelledby": "events-title" }, h("h2", { id: "events-title" }, "Events"), eventList),
  ];
  main.replaceChildren(...sections.filter(Boolean)); // a viewer's page has no actions

  async function refresh() {
    if (state.gone) return;
    try {
      const { data, etag } = await get(path);
      state.database = data;
      state.etag = etag;
      showDatabase(data);
      const [operations, events] = await Promise.all([getAll(`${path}/operations`), getAll(`${path}/events`), backups.load()]);
      showOperations(operations);
      showEvents(events);
    } catch (problem) {
      if (problem.status === 404 && state.database) {
        state.gone = true;
        notice.textContent = `${state.database.name} was deleted.`;
        actions?.section.remove();
        credentials?.remove();
        return;
      }
      showProblem(problems, problem);
    }
  }

  function showDatabase(database) {
    title.textContent = database.name;
    document.title = `${database.name} · dbaas console`;
    const status = database.status;
    const facts = [
      ["State", badge(database.state)],
      ["Phase", status.phase ?? "—"],
      ["Engine", database.engine],
      ["Generation", `${status.observed_generation ?? 0} observed of ${database.generation}`],
      ["Endpoint", status.endpoint ?? "—"],
      ["Message", status.message ?? "—"],
      ["Last synced", status.synced_at ? timeElement(status.synced_at) : "never"],
    ];
    statusList.replaceChildren(...facts.flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]));
    const observed = status.observed ?? {};
    comparison.replaceChildren(
      ...COMPARED.map(([label, desired, seen]) => {
        const want = desired(database);
        const have = seen(observed);
        // Unset desired values (cpu, memory) take KubeDB's defaults: not a difference.
        const differs = want !== null && have !== undefined && have !== null && String(have) !== String(want);
        return h(
          "tr",
          { class: differs ? "differs" : "" },
          h("th", { scope: "row" }, label),
          h("td", {}, want ?? "—"),
          h("td", {}, have ?? "—", differs ? h("span", { class: "visually-hidden" }, " (differs)") : ""),
        );
      }),
    );
    actions?.fill(database);
    backups.showPolicy(database);
  }

  function showOperations(operations) {
    timeline.replaceChildren(
      ...operations.reverse().map((operation) =>
        h(
          "li",
          { class: `op state-${operation.state}`, "data-type": operation.type },
          h("div", { class: "op-head" }, h("strong", {}, operation.type), " ", badge(operation.state), " ", timeElement(operation.created_at)),
          h("p", { class: "muted" }, describeOperation(operation, actorName)),
          operation.error && h("p", { class: "op-error" }, operation.error.title ?? "Failed", ": ", operation.error.detail ?? ""),
          canWrite && operation.state === "pending" && h("button", { type: "button", onclick: () => cancel(operation) }, `Cancel ${operation.type}`),
        ),
      ),
    );
    if (operations.length === 0) timeline.append(h("li", { class: "muted" }, "No operations."));
  }

  function showEvents(events) {
    eventList.replaceChildren(
      ...events.reverse().map((event) =>
        h("li", {}, timeElement(event.created_at), " ", h("span", { class: "muted" }, actorName(event.actor)), " ", event.message),
      ),
    );
    if (events.length === 0) eventList.append(h("li", { class: "muted" }, "No events."));
  }

  function actorName(actor) {
    return actor === `key:${identity.key_id}` ? "you" : actor;
  }

  async function cancel(operation) {
    const sure = await confirmAction({ title: `Cancel the ${operation.type}?`, text: "Its changes to the desired spec roll back.", action: `Cancel ${operation.type}` });
    if (!sure) return;
    try {
      await request("POST", `operations/${operation.id}/cancel`);
      notice.textContent = `The ${operation.type} was cancelled.`;
    } catch (problem) {
      showProblem(problems, problem);
    }
    await refresh();
  }

  // -- actions -----------------------------------------------------------------------------

  function buildActions() {
    const errors = h("div", { tabindex: "-1" });
    const replicas = h("input", { type: "number", min: "1", inputmode: "numeric" });
    const cpu = h("input", { type: "text", placeholder: "500m" });
    const memory = h("input", { type: "text", placeholder: "1Gi" });
    const storage = h("input", { type: "text" });
    const version = h("select", {});
    let filled = false;
    let versionsLoaded = false;

    const form = (label, fields, onsubmit) => {
      const element = h("form", { class: "action", novalidate: true, "aria-label": label }, fields, h("button", { type: "submit" }, label));
      element.addEventListener("submit", (event) => {
        event.preventDefault();
        onsubmit();
      });
      return element;
    };
    const forms = h(
      "div",
      { class: "actions" },
      form("Scale", field({ id: "scale-replicas", label: "Replicas", control: replicas }), () => {
        const value = asNumber(replicas.value);
        change({ replicas: value }, `Scale ${state.database.name} to ${value} replica${value === 1 ? "" : "s"}?`, "Scale");
      }),
      form("Resize", [field({ id: "resize-cpu", label: "CPU", control: cpu }), field({ id: "resize-memory", label: "Memory", control: memory })], () => {
        const resources = {};
        if (cpu.value.trim()) resources.cpu = cpu.value.trim();
        if (memory.value.trim()) resources.memory = memory.value.trim();
        const text = Object.entries(resources).map(([k, v]) => `${k} ${v}`).join(", ") || "nothing";
        change({ resources }, `Resize ${state.database.name} to ${text}?`, "Resize");
      }),
      form("Expand storage", field({ id: "expand-storage", label: "Storage", control: storage, hint: "storage only grows" }), () => {
        change({ storage: storage.value.trim() }, `Expand the storage of ${state.database.name} to ${storage.value.trim()}?`, "Expand storage");
      }),
      form("Upgrade", field({ id: "upgrade-version", label: "Version", control: version }), () => {
        change({ version: version.value }, `Upgrade ${state.database.name} to version ${version.value}?`, "Upgrade");
      }),
    );
    const restart = h("button", { type: "button" }, "Restart");
    restart.addEventListener("click", async () => {
      const name = state.database.name;
      if (!(await confirmAction({ title: `Restart ${name}?`, text: "Its pods restart one by one.", action: "Restart" }))) return;
      await submit(() => request("POST", `${path}/restart`), "Restart queued.");
    });
    const remove = h("button", { type: "button", class: "danger" }, "Delete");
    remove.addEventListener("click", async () => {
      const name = state.database.name;
      const text = `The database and, with deletion policy ${state.database.deletion_policy}, what KubeDB keeps of it are removed. This cannot be undone.`;
      if (!(await confirmAction({ title: `Delete ${name}?`, text, action: "Delete" }))) return;
      await submit(() => request("DELETE", path, { headers: ifMatch() }), `Deletion of ${name} queued.`);
    });
    const section = h(
      "section",
      { class: "card", "aria-labelledby": "actions-title" },
      h("h2", { id: "actions-title" }, "Actions"),
      errors,
      forms,
      h("div", { class: "row" }, restart, remove),
    );

    const ifMatch = () => (state.etag ? { "If-Match": state.etag } : {});

    async function change(body, question, action) {
      if (!(await confirmAction({ title: question, text: "The change is queued as an operation; the timeline below shows its progress.", action }))) return;
      await submit(() => request("PATCH", path, { body, headers: ifMatch() }), `${action} queued.`);
    }

    async function submit(send, done) {
      try {
        const { data } = await send();
        showFieldErrors(section, errors, null, FIELDS);
        const queued = (data?.operations ?? []).map((operation) => operation.type).join(", ");
        notice.textContent = queued ? `${done} Operation: ${queued}.` : done;
      } catch (problem) {
        if (!(problem instanceof ApiProblem)) throw problem;
        notice.textContent = "";
        showFieldErrors(section, errors, problem, FIELDS);
      }
      await refresh();
    }

    function fill(database) {
      if (!filled) {
        filled = true; // once, and never over what the user has typed already
        const start = (input, value) => {
          if (input.value === "") input.value = value ?? "";
        };
        start(replicas, database.replicas);
        start(cpu, database.resources.cpu);
        start(memory, database.resources.memory);
        start(storage, database.storage);
      }
      if (!versionsLoaded) {
        versionsLoaded = true;
        engines().then(
          (items) => {
            const engine = items.find((item) => item.name === database.engine);
            const names = (engine?.versions ?? []).map((v) => v.name);
            if (!names.includes(database.version)) names.unshift(database.version);
            version.replaceChildren(...names.map((name) => h("option", { value: name }, name)));
            version.value = database.version;
          },
          () => {
            versionsLoaded = false; // the catalog is unreachable for now; retried on the next poll
          },
        );
      }
    }
    return { section, fill };
  }

  // -- credentials ---------------------------------------------------------------------------

  function buildCredentials() {
    const output = h("div", { "aria-live": "polite" });
    const reveal = h("button", { type: "button" }, "Reveal credentials");
    const hide = h("button", { type: "button", hidden: true }, "Hide credentials");
    reveal.addEventListener("click", async () => {
      try {
        const { data } = await get(`${path}/credentials`);
        const uri = uriOf(state.database, data);
        output.replaceChildren(
          h(
            "dl",
            { class: "facts" },
            h("dt", {}, "Username"), h("dd", {}, h("code", {}, data.username)),
            h("dt", {}, "Password"), h("dd", {}, h("code", { class: "secret" }, data.password)),
            h("dt", {}, "Endpoint"), h("dd", {}, h("code", {}, data.endpoint ?? "—")),
            h("dt", {}, "Port"), h("dd", {}, String(data.port)),
            uri && [h("dt", {}, "URI"), h("dd", {}, h("code", { class: "secret" }, uri))],
          ),
        );
        reveal.hidden = true;
        hide.hidden = false;
        hide.focus();
      } catch (problem) {
        if (!(problem instanceof ApiProblem)) throw problem;
        showProblem(output, problem);
      }
    });
    hide.addEventListener("click", () => {
      output.replaceChildren();
      hide.hidden = true;
      reveal.hidden = false;
      reveal.focus();
    });
    return h(
      "section",
      { class: "card", "aria-labelledby": "credentials-title" },
      h("h2", { id: "credentials-title" }, "Credentials"),
      h("p", { class: "muted" }, "Each reveal is recorded in the database's events."),
      h("div", { class: "row" }, reveal, hide),
      output,
    );
  }

  const stop = poll(refresh);
  return () => {
    stop();
    document.title = "dbaas console";
  };
}

const SCHEMES = { postgres: "postgresql", mysql: "mysql", mongodb: "mongodb", redis: "redis" };

function uriOf(database, credentials) {
  if (!credentials.endpoint) return null;
  const host = credentials.endpoint.replace(/:\d+$/, "");
  const user = encodeURIComponent(credentials.username);
  const password = encodeURIComponent(credentials.password);
  return `${SCHEMES[database.engine] ?? database.engine}://${user}:${password}@${host}:${credentials.port}`;
}

function describeOperation(operation, actorName) {
  const by = operation.origin === "drift" ? "drift correction" : actorName(operation.requested_by ?? operation.origin);
  const parts = [`by ${by}`];
  const params = operation.params ?? {};
  const shown = Object.entries(params).filter(([, value]) => value !== null && typeof value !== "object");
  if (shown.length > 0) parts.push(shown.map(([key, value]) => `${key} ${value}`).join(", "));
  if (operation.finished_at) parts.push(`finished ${new Date(operation.finished_at).toLocaleTimeString()}`);
  else if (operation.started_at) parts.push(`started ${new Date(operation.started_at).toLocaleTimeString()}`);
  return parts.join(" · ");
}
