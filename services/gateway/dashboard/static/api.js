// The gateway's API from the page: bearer token on every call, JSON answers, Problem documents as errors,
// and Server-Sent Events read through fetch() (EventSource cannot send an Authorization header).

const base = new URL("../../", import.meta.url);  // the gateway's root (this file is <root>/ui/assets/api.js)
let token = null;

export function useToken(value) { token = value; }

export function absolute(path) { return new URL(String(path).replace(/^\//, ""), base).href; }

/** The text of an IVOA message: its rendered form, or its template filled with its values. */
export function messageText(m) {
  if (m.message) return m.message;
  return (m.template || "").replace(/\{(\w+)\}/g, (all, name) => (m.values && name in m.values ? m.values[name] : all));
}

export class ApiError extends Error {
  constructor(status, title, messages) {
    super(`${status} ${title}${messages.length ? ": " + messages.map(messageText).join("; ") : ""}`);
    this.status = status;
    this.title = title;
    this.messages = messages;
  }
}

async function problem(answer) {
  try {
    const doc = await answer.json();
    if (doc && typeof doc.title === "string") return new ApiError(answer.status, doc.title, doc.messages || []);
  } catch { /* not a Problem document */ }
  return new ApiError(answer.status, answer.statusText || "HTTP error", []);
}

function headers(extra) {
  return { Accept: "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}), ...extra };
}

/** One call; the JSON answer, or an ApiError carrying the Problem. */
export async function call(path, { method = "GET", body, contentType, prefer, signal } = {}) {
  const extra = {};
  if (contentType) extra["Content-Type"] = contentType;
  if (prefer) extra.Prefer = prefer;
  const answer = await fetch(absolute(path), { method, body, signal, headers: headers(extra) });
  if (!answer.ok) throw await problem(answer);
  return answer.json();
}

/** An SSE stream's events ({event, data, id}) as they come; throws ApiError when it cannot be opened. */
export async function* events(path, { lastId, signal } = {}) {
  const extra = { Accept: "text/event-stream", ...(lastId ? { "Last-Event-ID": lastId } : {}) };
  const answer = await fetch(absolute(path), { signal, headers: headers(extra), cache: "no-store" });
  if (!answer.ok) throw await problem(answer);
  if (!(answer.headers.get("content-type") || "").startsWith("text/event-stream")) {
    throw new ApiError(406, "Not an event stream", []);
  }
  const reader = answer.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const found = parse(block);
      if (found) yield found;
    }
  }
}

function parse(block) {
  let event = "message", id = null;
  const data = [];
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;  // a comment: keep-alive
    const colon = line.indexOf(":");
    const name = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (name === "event") event = value;
    else if (name === "data") data.push(value);
    else if (name === "id") id = value;
  }
  if (!data.length) return id ? { event, data: null, id } : null;
  return { event, data: JSON.parse(data.join("\n")), id };
}

/** Statuses that mean "this gateway has no such endpoint" rather than "no such thing". */
export function missingEndpoint(error) {
  return error instanceof ApiError && [404, 405, 406, 501].includes(error.status);
}
