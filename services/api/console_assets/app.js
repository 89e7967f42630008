// The console's shell: sign-in, the hash router, the confirmation dialog and polling.
// Pages are modules exporting `render(main, context)`, which returns a function that
// stops whatever the page keeps running (its polls).

import { ApiProblem, get, session, whenUnauthorized } from "./api.js";
import { h, problemBox } from "./dom.js";
import { renderCreate } from "./create.js";
import { renderDatabase } from "./database.js";
import { renderDatabases } from "./databases.js";

const main = document.getElementById("main");
const POLL_MILLISECONDS = 2000;
let stopPage = () => {};
let signInNotice = null;

const ROUTES = [
  [/^#\/databases\/new$/, renderCreate],
  [/^#\/databases\/([0-9a-f-]{36})$/, renderDatabase],
  [/^#\/databases$/, renderDatabases],
];

/** Run `work` now and again POLL_MILLISECONDS after each run ends, until stopped. */
export function poll(work) {
  let timer = null;
  let stopped = false;
  const run = async () => {
    try {
      if (!document.hidden) await work(); // a background tab costs the API nothing
    } finally {
      if (!stopped) timer = setTimeout(run, POLL_MILLISECONDS);
    }
  };
  run();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/** Ask before doing something: resolves true only when the user confirms. */
export function confirmAction({ title, text, action }) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-text").textContent = text;
  const ok = document.getElementById("confirm-ok");
  const cancel = document.getElementById("confirm-cancel");
  ok.textContent = action;
  return new Promise((resolve) => {
    const finish = (answer) => {
      ok.onclick = cancel.onclick = dialog.onclose = null;
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    ok.onclick = () => finish(true);
    cancel.onclick = () => finish(false);
    dialog.onclose = () => finish(false); // Escape
    dialog.showModal();
    cancel.focus(); // the safe choice has the focus
  });
}

export function navigate(hash) {
  if (window.location.hash === hash) route();
  else window.location.hash = hash;
}

function showIdentity(identity) {
  const box = document.getElementById("identity");
  box.hidden = !identity;
  document.getElementById("identity-text").textContent = identity
    ? `project ${identity.project} · ${identity.role}`
    : "";
}

function signOut(problem) {
  session.clear();
  signInNotice = problem ?? null;
  showIdentity(null);
  navigate("#/signin");
}

function renderSignIn() {
  const problems = h("div", { tabindex: "-1" });
  if (signInNotice) problems.append(problemBox(signInNotice));
  signInNotice = null;
  const input = h("input", {
    id: "api-key",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    "aria-describedby": "api-key-hint",
  });
  const form = h(
    "form",
    { class: "card narrow", novalidate: true },
    h("h1", { tabindex: "-1" }, "Sign in"),
    problems,
    h(
      "div",
      { class: "field" },
      h("label", { for: "api-key" }, "API key"),
      input,
      h("p", { class: "hint", id: "api-key-hint" }, "Kept in this browser tab only (sessionStorage); closing the tab forgets it."),
    ),
    h("button", { type: "submit", class: "primary" }, "Sign in"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    try {
      const { data } = await get("whoami", { key });
      session.save(key, data);
      showIdentity(data);
      navigate("#/databases");
    } catch (error) {
      if (!(error instanceof ApiProblem)) throw error;
      problems.replaceChildren(problemBox(error));
      input.focus();
    }
  });
  main.replaceChildren(form);
  input.focus();
  return () => {};
}

function route() {
  stopPage();
  const identity = session.identity();
  const hash = window.location.hash || "#/databases";
  if (!identity) {
    stopPage = renderSignIn();
    return;
  }
  if (hash === "#/signin") {
    navigate("#/databases");
    return;
  }
  const context = { identity, canWrite: identity.role !== "viewer", poll, confirmAction, navigate };
  for (const [pattern, render] of ROUTES) {
    const match = pattern.exec(hash);
    if (match) {
      stopPage = render(main, context, ...match.slice(1));
      main.querySelector("h1")?.focus();
      return;
    }
  }
  navigate("#/databases");
}

whenUnauthorized((problem) => signOut(problem));
document.getElementById("sign-out").addEventListener("click", () => signOut(null));
window.addEventListener("hashchange", route);
showIdentity(session.identity());
route();
// A stored key may have been revoked since: learn it now rather than at the first click.
if (session.key()) {
  get("whoami").then(({ data }) => {
    session.save(session.key(), data);
    showIdentity(data);
  }, () => {});
}
