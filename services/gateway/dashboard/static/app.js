// The dashboard: sites and agents, the caller's OfferSets and sessions, an OfferSet's offers on a timeline,
// accept/reject/cancel, and a session followed live (its event stream, or polling where the gateway has none).

import { ApiError, call, events, messageText, missingEndpoint, useToken } from "./api.js";
import { beginSignIn, describe, finishSignIn, forgetToken, keepToken, loadConfig, savedToken } from "./auth.js";
import { draw, resources } from "./timeline.js";

const $ = (id) => document.getElementById(id);
const FINAL = new Set(["COMPLETED", "FAILED", "CANCELLED", "REJECTED", "EXPIRED"]);
const LABELS = { ACCEPTED: "Accept", REJECTED: "Reject", CANCELLED: "Cancel" };
const RECENT = "eb.recent";  // OfferSets and sessions this browser made, for a gateway without the lists
const EXAMPLE = `# Can you run this container, with these resources, for this long?
kind: https://www.purl.org/ivoa.net/EB/schema/v1.0/types/offerset/execution-request-1.0
meta:
  name: astroml notebook
executable:
  kind: https://www.purl.org/ivoa.net/EB/schema/v1.0/types/executable/docker-container-1.0
  image:
    locations:
      - images.canfar.net/skaha/astroml:24.07
compute:
  kind: https://www.purl.org/ivoa.net/EB/schema/v1.0/types/compute/simple-compute-resource-1.0
  cores: {min: 2, max: 4}
  memory: {min: 4, max: 8}
schedule:
  requested:
    duration: PT2H
`;

let config = null;
const followed = { offerset: null, session: null };  // {uuid, doc, stop: AbortController}

// --- Problems ----------------------------------------------------------------------------------------------

function show(error) {
  if (error?.name === "AbortError") return;
  const box = $("problem");
  box.replaceChildren();
  const head = document.createElement("strong");
  head.textContent = error instanceof ApiError ? `${error.status} ${error.title}` : String(error.message || error);
  box.append(head);
  if (error instanceof ApiError && error.messages.length) {
    const list = document.createElement("ul");
    for (const m of error.messages) list.append(item(messageText(m), `level-${(m.level || "").toLowerCase()}`));
    box.append(list);
  }
  box.hidden = false;
  if (error instanceof ApiError && error.status === 401) signedOut();
}

function clearProblem() { $("problem").hidden = true; }

function item(text, className) {
  const li = document.createElement("li");
  li.textContent = text;
  if (className) li.className = className;
  return li;
}

function cell(content) {
  const td = document.createElement("td");
  if (content instanceof Node) td.append(content); else td.textContent = content ?? "—";
  return td;
}

function link(text, action) {
  const a = document.createElement("a");
  a.href = "#";
  a.textContent = text;
  a.addEventListener("click", (e) => { e.preventDefault(); action(); });
  return a;
}

function when(t) { return t ? String(t).replace("T", " ").replace(/\.\d+/, "").replace(/\+00:00$|Z$/, "Z") : "—"; }

function ago(t) {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(t)) / 1000));
  return s < 120 ? `${s} s ago` : `${Math.round(s / 60)} min ago`;
}

function pause(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => { clearTimeout(timer); reject(signal.reason); }, { once: true });
  });
}

// --- Signing in --------------------------------------------------------------------------------------------

async function start() {
  $("sign-in-token").addEventListener("submit", (e) => {
    e.preventDefault();
    const token = $("token").value.trim();
    if (token) { keepToken(token); signedIn(token); }
  });
  $("oidc-sign-in").addEventListener("click", () => beginSignIn(config).catch(show));
  $("sign-out").addEventListener("click", () => { clearProblem(); signedOut(); });
  $("request-form").addEventListener("submit", postRequest);
  $("refresh-agents").addEventListener("click", refreshAgents);
  $("refresh-lists").addEventListener("click", refreshLists);
  try {
    config = await loadConfig();
    const token = config.mode === "oidc" && config.client_id ? await finishSignIn(config) : null;
    if (token) keepToken(token);
  } catch (error) { show(error); }
  const token = savedToken();
  if (token) signedIn(token); else signedOut();
  setInterval(() => { if (!$("main").hidden && !document.hidden) refreshAgents(); }, 10000);
}

function signedOut() {
  forgetToken();
  useToken(null);
  for (const kind of ["offerset", "session"]) followed[kind]?.stop.abort();
  $("main").hidden = true;
  $("sign-out").hidden = true;
  $("who").textContent = "";
  $("sign-in").hidden = false;
  const oidc = config?.mode === "oidc" && config.client_id;
  $("sign-in-oidc").hidden = !oidc;
  $("sign-in-token").hidden = Boolean(oidc);
  if (oidc) $("issuer").textContent = config.issuer;
  if (config?.token_hint && !$("token").value) {
    $("token").value = config.token_hint;
    $("token-hint").textContent = `The development token of this broker is ${config.token_hint}.`;
  } else if (config?.mode === "oidc" && !oidc) {
    $("token-hint").textContent = `Paste an access token of ${config.issuer} (no dashboard client is configured: EB_OIDC_CLIENT_ID).`;
  }
}

function signedIn(token) {
  useToken(token);
  $("sign-in").hidden = true;
  $("main").hidden = false;
  $("sign-out").hidden = false;
  $("who").textContent = `signed in as ${describe(token)}`;
  if (!$("request").value) $("request").value = EXAMPLE;
  refreshAgents();
  refreshLists();
  const route = location.hash.slice(1).split("/");
  for (let i = 0; i + 1 < route.length; i += 2) {
    if (route[i] === "offerset") openOfferSet(route[i + 1]);
    if (route[i] === "session") openSession(route[i + 1]);
  }
}

function setRoute() {
  const parts = ["offerset", "session"].filter((k) => followed[k]).map((k) => `${k}/${followed[k].uuid}`);
  history.replaceState(null, "", parts.length ? `#${parts.join("/")}` : location.pathname);
}

// --- Sites and agents --------------------------------------------------------------------------------------

async function refreshAgents() {
  try {
    const list = await call("agents");
    const rows = [];
    for (const a of [...list.agents].sort((x, y) => `${x.site}${x.role}`.localeCompare(`${y.site}${y.role}`))) {
      const c = a.capabilities || {};
      const capacity = a.role === "data" ? (c.detail || "data") :
        [`${c.in_use_cores ?? 0}/${c.max_cores} cores`, `${c.in_use_memory_gb ?? 0}/${c.max_memory_gb} GiB`,
         c.max_gpus ? `${c.in_use_gpus ?? 0}/${c.max_gpus} GPU` : ""].filter(Boolean).join(", ") +
        ` in use, ${c.reservations ?? 0} reservation(s)` +
        (c.reachable === false ? " (platform unreachable)" : "");
      rows.push(agentRow(a, a.leaving ? "leaving" : "live", capacity, a.agent));
    }
    for (const s of list.silent || []) rows.push(agentRow(s, "silent", "—"));
    $("agents").tBodies[0].replaceChildren(...rows);
  } catch (error) { show(error); }
}

function agentRow(a, state, capacity, name) {
  const tr = document.createElement("tr");
  tr.className = `agent ${state}`;
  const badge = document.createElement("span");
  badge.className = `badge ${state}`;
  badge.textContent = state;
  tr.append(cell(a.site), cell(a.platform), cell(a.role), cell(badge), cell(capacity), cell(ago(a.last_seen)));
  if (name) tr.title = name;
  return tr;
}

// --- Lists: GET /offersets and GET /sessions, or what this browser remembers ------------------------------

function recent() { return JSON.parse(localStorage.getItem(RECENT) || '{"offersets": [], "sessions": []}'); }

function remember(kind, entry) {
  const all = recent();
  all[kind] = [entry, ...all[kind].filter((e) => e.uuid !== entry.uuid)].slice(0, 50);
  localStorage.setItem(RECENT, JSON.stringify(all));
}

/** What this browser remembers of one it made, brought up to date. */
function touch(kind, uuid, fields) {
  const all = recent();
  const found = all[kind].find((e) => e.uuid === uuid);
  if (!found || Object.entries(fields).every(([k, v]) => found[k] === v)) return;
  Object.assign(found, fields);
  localStorage.setItem(RECENT, JSON.stringify(all));
}

async function refreshLists() {
  await Promise.all([
    fill("offersets", (o) => [cell(when(o.created)), cell(link(o.name || o.uuid.slice(0, 8), () => openOfferSet(o.uuid))),
                              cell(o.status), cell(o.result), cell(o.offers)]),
    fill("sessions", (s) => [cell(when(s.created)), cell(link(s.site || s.uuid.slice(0, 8), () => openSession(s.uuid))),
                             cell(s.phase), cell(when(s.start))]),
  ]);
}

async function fill(kind, columns) {
  const note = $(`${kind}-note`);
  let items;
  try {
    items = (await call(`${kind}?limit=20`)).items;
    note.hidden = true;
  } catch (error) {
    if (!missingEndpoint(error)) return show(error);
    items = recent()[kind];
    note.textContent = `This gateway cannot list ${kind} yet: these are the ones made from this browser.`;
    note.hidden = false;
  }
  $(kind).tBodies[0].replaceChildren(...items.map((entry) => {
    const tr = document.createElement("tr");
    tr.append(...columns(entry));
    return tr;
  }));
}

// --- Asking --------------------------------------------------------------------------------------------------

async function postRequest(e) {
  e.preventDefault();
  clearProblem();
  const text = $("request").value;
  const first = text.trimStart()[0];
  const type = first === "{" ? "application/json" : first === "<" ? "application/xml" : "application/yaml";
  $("post-request").disabled = true;
  try {
    const doc = await call("requests", { method: "POST", body: text, contentType: type });  // 303: the OfferSet
    remember("offersets", { uuid: doc.meta.uuid, name: doc.meta.name, created: new Date().toISOString(),
                            status: doc.status });
    openOfferSet(doc.meta.uuid, doc);
    refreshLists();
  } catch (error) { show(error); } finally { $("post-request").disabled = false; }
}

// --- An OfferSet ----------------------------------------------------------------------------------------------

function follow(kind, uuid) {
  followed[kind]?.stop.abort();
  const entry = { uuid, doc: null, stop: new AbortController() };
  followed[kind] = entry;
  $(kind).hidden = false;
  setRoute();
  return entry;
}

async function openOfferSet(uuid, doc) {
  const entry = follow("offerset", uuid);
  const signal = entry.stop.signal;
  const live = $("offerset-live");
  try {
    doc = doc?.status === "COMPLETE" ? doc : await call(`offersets/${uuid}`, { signal });
    renderOfferSet(entry, doc);
    if (doc.status === "COMPLETE") return;
    live.textContent = "collecting: offers appear as sites answer";
    try {
      for await (const e of events(`offersets/${uuid}/events`, { signal })) {
        if (e.event === "offer" && e.data) addOffer(entry, e.data);
        if (e.event === "offerset" && e.data) return renderOfferSet(entry, e.data);
      }
    } catch (error) {
      if (!missingEndpoint(error)) throw error;
    }
    // No stream here (or it ended early): hold GETs open with Prefer: wait until the OfferSet is complete.
    while (!signal.aborted) {
      doc = await call(`offersets/${uuid}`, { prefer: "wait=25", signal });
      renderOfferSet(entry, doc);
      if (doc.status === "COMPLETE") return;
    }
  } catch (error) { show(error); } finally { if (followed.offerset === entry) live.textContent = ""; }
}

function addOffer(entry, offer) {
  const doc = entry.doc || { meta: { uuid: entry.uuid }, status: "COLLECTING", offers: [] };
  const others = (doc.offers || []).filter((o) => o.meta?.uuid !== offer.meta?.uuid);
  renderOfferSet(entry, { ...doc, offers: [...others, offer] });
}

function renderOfferSet(entry, doc) {
  if (followed.offerset !== entry) return;
  const completed = entry.doc && entry.doc.status !== doc.status;
  entry.doc = doc;
  touch("offersets", entry.uuid, { status: doc.status, result: doc.result, offers: (doc.offers || []).length });
  if (completed) refreshLists();
  $("offerset-name").textContent = doc.meta?.name || doc.meta?.uuid || "";
  badge($("offerset-status"), doc.status);
  badge($("offerset-result"), doc.result);
  $("offerset-messages").replaceChildren(...(doc.meta?.messages || []).map((m) =>
    item(messageText(m), `level-${(m.level || "").toLowerCase()}`)));
  const offers = doc.offers || [];
  const chosen = followed.session?.uuid;
  draw($("timeline"), offers, { select: (o) => openSession(o.meta.uuid, o), chosen });
  $("offers").tBodies[0].replaceChildren(...offers.map((offer, i) => {
    const tr = document.createElement("tr");
    tr.dataset.uuid = offer.meta?.uuid;
    if (offer.meta?.uuid === chosen) tr.className = "chosen";
    const phase = document.createElement("span");
    badge(phase, offer.phase);
    const available = offer.schedule?.available;
    tr.append(cell(link(`#${i + 1}`, () => openSession(offer.meta.uuid, offer))), cell(offer.site?.name), cell(phase),
              cell(when(available?.start?.split("/")[0])), cell(available?.duration), cell(resources(offer)),
              cell(when(offer.expires)), cell(actions(offer)));
    return tr;
  }));
}

function badge(node, text) {
  node.textContent = text || "";
  node.className = `badge ${text ? text.toLowerCase() : "empty"}`;
  node.dataset.value = text || "";
}

function actions(session) {
  const box = document.createElement("span");
  box.className = "actions";
  for (const option of session.options || []) {
    if (option.path !== "phase") continue;
    for (const value of option.values) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = LABELS[value] || value;
      button.dataset.value = value;
      button.dataset.session = session.meta?.uuid;
      button.className = `small ${value.toLowerCase()}`;
      button.addEventListener("click", () => update(session, value, button));
      box.append(button);
    }
  }
  return box;
}

async function update(session, value, button) {
  clearProblem();
  button.disabled = true;
  try {
    const doc = await call(`sessions/${session.meta.uuid}`, {  // this origin (meta.url may name a public one)
      method: "POST", contentType: "application/json",
      body: JSON.stringify({ kind: "uri:enum-value-update", path: "phase", value }),
    });
    remember("sessions", { uuid: doc.meta.uuid, site: doc.site?.name, phase: doc.phase,
                           created: new Date().toISOString(), start: doc.schedule?.available?.start?.split("/")[0] });
    openSession(doc.meta.uuid, doc);
    const offerset = followed.offerset;
    if (offerset?.doc?.status === "COMPLETE") {  // the siblings were rejected: show it
      renderOfferSet(offerset, await call(`offersets/${offerset.uuid}`, { signal: offerset.stop.signal }));
    }
    refreshLists();
  } catch (error) { show(error); } finally { button.disabled = false; }
}

// --- A session ----------------------------------------------------------------------------------------------

async function openSession(uuid, doc) {
  const entry = follow("session", uuid);
  const signal = entry.stop.signal;
  const live = $("session-live");
  delete live.dataset.mode;
  if (doc) renderSession(entry, doc);
  let lastId = null, failures = 0;
  try {
    doc = await call(`sessions/${uuid}`, { signal });
    renderSession(entry, doc);
    if (FINAL.has(doc.phase)) return;
    for (;;) {
      try {
        live.textContent = "live";
        for await (const e of events(`sessions/${uuid}/events`, { lastId, signal })) {
          if (e.id) lastId = e.id;
          failures = 0;
          live.dataset.mode = "stream";
          if (e.event !== "phase" || !e.data) continue;
          renderSession(entry, e.data.session || await call(`sessions/${uuid}`, { signal }));
          if (FINAL.has(e.data.phase)) return;
        }
      } catch (error) {
        if (missingEndpoint(error) && lastId === null) break;  // this gateway has no session stream: poll
        if (error instanceof ApiError || signal.aborted) throw error;
      }
      failures += 1;  // the stream dropped: again from the last event, after a back-off
      live.textContent = "reconnecting…";
      await pause(Math.min(500 * 2 ** failures, 15000), signal);
    }
    live.textContent = "polling";
    live.dataset.mode = "polling";
    for (;;) {
      await pause(1000, signal);
      doc = await call(`sessions/${uuid}`, { signal });
      renderSession(entry, doc);
      if (FINAL.has(doc.phase)) return;
    }
  } catch (error) { show(error); } finally { if (followed.session === entry) live.textContent = ""; }
}

function renderSession(entry, doc) {
  if (followed.session !== entry) return;
  const moved = entry.doc && entry.doc.phase !== doc.phase;
  entry.doc = doc;
  touch("sessions", entry.uuid, { phase: doc.phase });
  if (moved) refreshLists();  // the lists show its phase too
  $("session-uuid").textContent = doc.meta?.uuid || entry.uuid;
  badge($("session-phase"), doc.phase);
  $("session-site").textContent = doc.site ? `${doc.site.name} (${doc.site.platform})` : "—";
  $("session-actions").replaceChildren(actions(doc));
  // Only live ones, as the CLI shows (an access ACTIVE, a connector AVAILABLE): others are not reachable yet or now.
  const urls = new Set([...(doc.executable?.access || []).filter((a) => a.status === "ACTIVE").flatMap((a) => a.locations || []),
                        ...(doc.connectors || []).filter((c) => c.status === "AVAILABLE").map((c) => c.location).filter(Boolean)]);
  $("session-access").replaceChildren(...(urls.size ? [...urls].map((url) => {
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = url;
    a.textContent = url;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    li.append(a);
    return li;
  }) : [item("none yet", "hint")]));
  $("session-history").replaceChildren(...(doc.history || []).map((h) => {
    const li = item(`${when(h.time)}  ${h.phase}`);
    li.dataset.phase = h.phase;
    if (h.messages?.length) {
      const said = document.createElement("ul");
      said.append(...h.messages.map((m) => item(messageText(m), "message")));
      li.append(said);
    }
    return li;
  }));
  const logs = Array.isArray(doc.logs) ? doc.logs.join("\n") : doc.logs;
  $("session-logs-block").hidden = !logs;
  $("session-logs").textContent = logs || "";
  const offerset = followed.offerset;  // the same offer on the timeline takes the new phase
  if (offerset?.doc?.offers?.some((o) => o.meta?.uuid === doc.meta?.uuid)) {
    renderOfferSet(offerset, { ...offerset.doc,
                               offers: offerset.doc.offers.map((o) => (o.meta?.uuid === doc.meta?.uuid ? doc : o)) });
  }
}

start();
