// Building DOM nodes from text: every string from the API is set as text, never parsed as HTML.

/** h("button", {type: "button", onclick: f}, "Label") */
export function h(tag, props, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "value") element.value = value;
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
}

/** The problem details of a failed request, as the API wrote them (RFC 9457). */
export function problemBox(problem) {
  const errors = problem.errors ?? [];
  return h(
    "div",
    { class: "problem", role: "alert" },
    h("p", {}, h("strong", {}, problem.title ?? "Error"), problem.status ? ` (${problem.status})` : "", ": ", problem.detail ?? ""),
    errors.length > 0 &&
      h("ul", {}, errors.map((error) => h("li", {}, error.field ? h("code", {}, error.field) : "request", ": ", error.message))),
  );
}

/** Show a problem (or nothing) in a container meant for it. */
export function showProblem(container, problem) {
  container.replaceChildren(problem ? problemBox(problem) : "");
}

export function when(timestamp) {
  if (!timestamp) return "";
  const date = new Date(timestamp);
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

export function timeElement(timestamp) {
  return timestamp ? h("time", { datetime: timestamp }, when(timestamp)) : "";
}

export function badge(state) {
  return h("span", { class: `badge state-${state ?? "unknown"}` }, state ?? "unknown");
}

/** A labelled input or select with a place for its field error right under it. */
export function field({ id, label, control, hint }) {
  const error = h("p", { class: "field-error", id: `${id}-error` });
  control.id = id;
  control.setAttribute("aria-describedby", [hint && `${id}-hint`, `${id}-error`].filter(Boolean).join(" "));
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    control,
    hint && h("p", { class: "hint", id: `${id}-hint` }, hint),
    error,
  );
}

/**
 * Put a problem's field errors next to their fields (`fields`: API field → input id) and
 * the problem itself in `container`; return nothing. Clears earlier errors first.
 */
export function showFieldErrors(form, container, problem, fields) {
  for (const error of form.querySelectorAll(".field-error")) error.textContent = "";
  for (const control of form.querySelectorAll("[aria-invalid]")) control.removeAttribute("aria-invalid");
  showProblem(container, problem);
  let first = null;
  for (const error of problem?.errors ?? []) {
    const id = fields[error.field];
    const control = id && form.querySelector(`#${id}`);
    if (!control) continue;
    control.setAttribute("aria-invalid", "true");
    const place = form.querySelector(`#${id}-error`);
    place.textContent = place.textContent ? `${place.textContent} ${error.message}` : error.message;
    first ??= control;
  }
  (first ?? container).focus?.();
}

/** A number when the text is one; else the text itself, so the API says what is wrong. */
export function asNumber(text) {
  const trimmed = text.trim();
  return /^-?\d+$/.test(trimmed) ? Number(trimmed) : trimmed;
}
