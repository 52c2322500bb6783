// The client of the Vigía HTTP API (same origin, bearer token kept in sessionStorage).

const TOKEN_KEY = "vigia.token";
let unauthorizedHandler = () => {};

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
    this.detail = detail;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** Called when a request made with a token gets 401 (expired or revoked session). */
export function onUnauthorized(fn) {
  unauthorizedHandler = fn;
}

/** A readable message from an error body: {"detail": "..."} or FastAPI's list of problems. */
function detailOf(body, status) {
  const d = body?.detail;
  if (typeof d === "string") return d;
  if (Array.isArray(d)) {
    return d
      .map((p) => (typeof p === "string" ? p : [p.loc?.slice(1).join("."), p.msg].filter(Boolean).join(": ")))
      .join("; ");
  }
  return `HTTP ${status}`;
}

/**
 * Call the API: api("/api/sites"), api("/api/products", {method: "POST", body: {...}}).
 * Returns the parsed JSON (null for 204), or a Blob with {blob: true}; throws ApiError.
 */
export async function api(path, { method = "GET", body, blob = false } = {}) {
  const headers = { Accept: blob ? "*/*" : "application/json" };
  const tok = token();
  if (tok) headers.Authorization = `Bearer ${tok}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  if (!res.ok) {
    let parsed = null;
    try {
      parsed = await res.json();
    } catch {
      parsed = null;
    }
    if (res.status === 401 && tok) unauthorizedHandler();
    throw new ApiError(res.status, detailOf(parsed, res.status));
  }
  if (res.status === 204) return null;
  if (blob) return res.blob();
  return res.json();
}

const objectUrls = new Map();

/** An object URL for an authenticated binary resource (image chip, rendered product); cached. */
export async function objectUrl(path) {
  if (!objectUrls.has(path)) {
    objectUrls.set(path, api(path, { blob: true }).then((b) => URL.createObjectURL(b)));
  }
  try {
    return await objectUrls.get(path);
  } catch (err) {
    objectUrls.delete(path);
    throw err;
  }
}

/** Forget cached object URLs (at sign-out). */
export function releaseObjectUrls() {
  for (const p of objectUrls.values()) p.then((u) => URL.revokeObjectURL(u)).catch(() => {});
  objectUrls.clear();
}
