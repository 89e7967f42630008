// The REST API as the console sees it: the key as a Bearer token, JSON in and out, and
// every failure as the API's problem details (RFC 9457), thrown as an ApiProblem.

const BASE = new URL("../v1/", window.location.href); // works under any path prefix
const KEY = "dbaas.key";
const IDENTITY = "dbaas.identity";

export class ApiProblem extends Error {
  constructor(problem) {
    super(problem.detail ?? problem.title);
    Object.assign(this, problem);
  }
}

// Only sessionStorage: the key lives as long as the tab, never in localStorage or a cookie.
export const session = {
  key: () => sessionStorage.getItem(KEY),
  identity: () => JSON.parse(sessionStorage.getItem(IDENTITY) ?? "null"),
  save(key, identity) {
    sessionStorage.setItem(KEY, key);
    sessionStorage.setItem(IDENTITY, JSON.stringify(identity));
  },
  clear() {
    sessionStorage.removeItem(KEY);
    sessionStorage.removeItem(IDENTITY);
  },
};

let onUnauthorized = () => {};
export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

/** One request: resolves to {data, etag, status}, rejects with an ApiProblem. */
export async function request(method, path, { body, headers = {}, key = session.key() } = {}) {
  const sent = { Accept: "application/json, application/problem+json", ...headers };
  if (key) sent.Authorization = `Bearer ${key}`;
  if (body !== undefined) {
    sent["Content-Type"] = method === "PATCH" ? "application/merge-patch+json" : "application/json";
  }
  let response;
  try {
    response = await fetch(new URL(path, BASE), {
      method,
      headers: sent,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch (error) {
    throw new ApiProblem({ title: "Network error", status: 0, detail: `the API did not answer (${error.message})` });
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const problem = data && typeof data === "object" && data.title
      ? data
      : { title: response.statusText || "Error", status: response.status, detail: text.slice(0, 200) };
    if (response.status === 401 && key === session.key()) onUnauthorized(problem);
    throw new ApiProblem(problem);
  }
  return { data, etag: response.headers.get("ETag"), status: response.status };
}

export const get = (path, options) => request("GET", path, options);

/** Every item of a paged list, following next_cursor (bounded: `maxPages` of 100). */
export async function getAll(path, { maxPages = 20 } = {}) {
  const items = [];
  let cursor = null;
  for (let page = 0; page < maxPages; page += 1) {
    const separator = path.includes("?") ? "&" : "?";
    const url = `${path}${separator}limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
    const { data } = await get(url);
    items.push(...data.items);
    cursor = data.next_cursor;
    if (!cursor) break;
  }
  return items;
}

/** The engines with their versions, newest first (the catalog lists them in its own order). */
export async function engines() {
  const { data } = await get("engines");
  for (const engine of data.items) engine.versions.sort((a, b) => compareVersions(b.version, a.version) || b.name.localeCompare(a.name));
  return data.items;
}

function compareVersions(a, b) {
  const left = a.split(/[.-]/).map((part) => Number.parseInt(part, 10) || 0);
  const right = b.split(/[.-]/).map((part) => Number.parseInt(part, 10) || 0);
  for (let index = 0; index < Math.max(left.length, right.length); index += 1) {
    const difference = (left[index] ?? 0) - (right[index] ?? 0);
    if (difference !== 0) return difference;
  }
  return 0;
}
