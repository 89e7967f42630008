// A new database: engine and version from the catalog (/v1/engines); the API validates,
// and its messages are shown next to the fields they concern.

import { ApiProblem, engines, request } from "./api.js";
import { asNumber, field, h, showFieldErrors, showProblem } from "./dom.js";

const DELETION_POLICIES = ["Delete", "Halt", "WipeOut", "DoNotTerminate"];
// The API's field names (FieldError.field) → the input showing them.
const FIELDS = {
  name: "new-name",
  engine: "new-engine",
  version: "new-version",
  replicas: "new-replicas",
  storage: "new-storage",
  "resources.cpu": "new-cpu",
  "resources.memory": "new-memory",
  resources: "new-cpu",
  deletion_policy: "new-deletion-policy",
};

export function renderCreate(main, { canWrite, navigate }) {
  if (!canWrite) {
    main.replaceChildren(
      h("h1", { tabindex: "-1" }, "New database"),
      h("p", {}, "This key is a viewer: it can read, not create. ", h("a", { href: "#/databases" }, "Back to the databases")),
    );
    return () => {};
  }
  const problems = h("div", { tabindex: "-1" });
  const engine = h("select", { name: "engine" });
  const version = h("select", { name: "version" });
  const replicas = h("input", { type: "number", name: "replicas", min: "1", value: "1", inputmode: "numeric" });
  const inputs = {
    name: h("input", { type: "text", name: "name", autocomplete: "off", spellcheck: "false" }),
    storage: h("input", { type: "text", name: "storage", value: "10Gi" }),
    cpu: h("input", { type: "text", name: "cpu", placeholder: "500m" }),
    memory: h("input", { type: "text", name: "memory", placeholder: "1Gi" }),
    deletionPolicy: h("select", { name: "deletion_policy" }, DELETION_POLICIES.map((p) => h("option", { value: p }, p))),
  };
  const submit = h("button", { type: "submit", class: "primary" }, "Create database");
  const form = h(
    "form",
    { class: "card", novalidate: true },
    problems,
    h(
      "div",
      { class: "grid" },
      field({ id: "new-name", label: "Name", control: inputs.name, hint: "lower-case letters, digits and dashes" }),
      field({ id: "new-engine", label: "Engine", control: engine }),
      field({ id: "new-version", label: "Version", control: version }),
      field({ id: "new-replicas", label: "Replicas", control: replicas, hint: "1 for a standalone server" }),
      field({ id: "new-storage", label: "Storage", control: inputs.storage, hint: "a Kubernetes quantity, e.g. 10Gi" }),
      field({ id: "new-cpu", label: "CPU (optional)", control: inputs.cpu, hint: "e.g. 500m or 1" }),
      field({ id: "new-memory", label: "Memory (optional)", control: inputs.memory, hint: "e.g. 1Gi" }),
      field({ id: "new-deletion-policy", label: "Deletion policy", control: inputs.deletionPolicy }),
    ),
    h("div", { class: "row" }, submit, h("a", { href: "#/databases" }, "Cancel")),
  );
  main.replaceChildren(
    h("p", {}, h("a", { href: "#/databases" }, "← Databases")),
    h("h1", { tabindex: "-1" }, "New database"),
    form,
  );

  let catalog = [];
  const fillVersions = () => {
    const chosen = catalog.find((item) => item.name === engine.value);
    version.replaceChildren(
      ...(chosen?.versions ?? []).map((v) =>
        h("option", { value: v.name }, v.name, v.distribution ? ` (${v.distribution})` : "", v.end_of_life ? " — end of life" : ""),
      ),
    );
    const replicated = chosen?.replicas.replicated;
    form.querySelector("#new-replicas-hint").textContent = replicated
      ? `1 (standalone) or ${replicated.minimum}–${replicated.maximum} (${replicated.topology})`
      : "";
  };
  engine.addEventListener("change", fillVersions);
  engines().then(
    (items) => {
      catalog = items;
      engine.replaceChildren(...items.map((item) => h("option", { value: item.name }, item.name)));
      fillVersions();
    },
    (problem) => showProblem(problems, problem),
  );

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      name: inputs.name.value.trim(),
      engine: engine.value,
      version: version.value,
      storage: inputs.storage.value.trim(),
      deletion_policy: inputs.deletionPolicy.value,
    };
    if (replicas.value.trim() !== "") body.replicas = asNumber(replicas.value);
    const resources = {};
    if (inputs.cpu.value.trim()) resources.cpu = inputs.cpu.value.trim();
    if (inputs.memory.value.trim()) resources.memory = inputs.memory.value.trim();
    if (Object.keys(resources).length > 0) body.resources = resources;
    submit.disabled = true;
    try {
      const { data } = await request("POST", "databases", { body });
      navigate(`#/databases/${data.id}`);
    } catch (problem) {
      if (!(problem instanceof ApiProblem)) throw problem;
      showFieldErrors(form, problems, problem, FIELDS);
    } finally {
      submit.disabled = false;
    }
  });
  return () => {};
}
