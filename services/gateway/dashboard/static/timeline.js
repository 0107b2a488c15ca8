// An OfferSet's offers on one time axis, as SVG: a row per offer, grouped by site; each row's preparing,
// available and releasing blocks from the offer's schedule, its expiry marked, and now.

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 900, LABEL = 170, ROW = 22, HEADER = 20, AXIS = 26, PAD = 8;
const UNITS = { Y: 365 * 864e5, M: 30 * 864e5, W: 7 * 864e5, D: 864e5, H: 36e5, MIN: 6e4, S: 1e3 };
const STEPS = [6e4, 5 * 6e4, 15 * 6e4, 30 * 6e4, 36e5, 2 * 36e5, 6 * 36e5, 12 * 36e5, 864e5, 7 * 864e5];

/** Milliseconds of an ISO 8601 duration (PT1M, P1DT2H, …); null when it is none. */
export function duration(text) {
  const m = /^P(?:([\d.]+)Y)?(?:([\d.]+)M)?(?:([\d.]+)W)?(?:([\d.]+)D)?(?:T(?:([\d.]+)H)?(?:([\d.]+)M)?(?:([\d.]+)S)?)?$/
    .exec(text || "");
  if (!m || text === "P" || text === "PT") return null;
  const [y, mo, w, d, h, mi, s] = m.slice(1).map((v) => Number(v || 0));
  return y * UNITS.Y + mo * UNITS.M + w * UNITS.W + d * UNITS.D + h * UNITS.H + mi * UNITS.MIN + s * UNITS.S;
}

function instant(text) {
  const t = Date.parse(String(text || "").split("/")[0]);  // an interval's start ("start/PT1M")
  return Number.isNaN(t) ? null : t;
}

/** The blocks of one offer's schedule: [{part, start, end}] in ms. */
export function blocks(offer) {
  const found = [];
  for (const part of ["preparing", "available", "releasing"]) {
    const block = offer.schedule?.[part];
    const start = instant(block?.start), length = duration(block?.duration);
    if (start !== null) found.push({ part, start, end: start + (length ?? 0) });
  }
  return found;
}

function el(name, attrs = {}, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function clock(t, span) {
  const iso = new Date(t).toISOString();
  return span > 2 * 864e5 ? `${iso.slice(5, 10)} ${iso.slice(11, 16)}` : iso.slice(11, 16);
}

export function resources(offer) {
  const c = offer.compute || {};
  const amount = (r) => (r && typeof r === "object" ? r.min ?? r.max : r);
  const parts = [];
  if (amount(c.cores) !== undefined) parts.push(`${amount(c.cores)} cores`);
  if (amount(c.memory) !== undefined) parts.push(`${amount(c.memory)} GiB`);
  const gpus = (c.accelerators || []).reduce((n, a) => n + (amount(a.count) || 0), 0);
  if (gpus) parts.push(`${gpus} GPU`);
  return parts.join(", ");
}

/** Draw `offers` into `container`; `select(offer)` on a click on a row; `chosen` is the selected uuid. */
export function draw(container, offers, { select, chosen } = {}) {
  container.replaceChildren();
  if (!offers.length) return;
  const numbered = offers.map((offer, i) => ({ offer, n: i + 1, blocks: blocks(offer), expires: instant(offer.expires) }));
  const now = Date.now();
  const times = [now];
  for (const row of numbered) {
    for (const b of row.blocks) times.push(b.start, b.end);
    if (row.expires !== null) times.push(row.expires);
  }
  let t0 = Math.min(...times), t1 = Math.max(...times);
  const margin = Math.max((t1 - t0) * 0.02, 3e4);
  t0 -= margin; t1 += margin;
  const x = (t) => LABEL + ((t - t0) / (t1 - t0)) * (WIDTH - LABEL - PAD);

  const sites = new Map();
  for (const row of numbered) {
    const site = row.offer.site?.name || "(no site)";
    if (!sites.has(site)) sites.set(site, []);
    sites.get(site).push(row);
  }
  const height = AXIS + [...sites.values()].reduce((h, rows) => h + HEADER + rows.length * ROW, 0) + PAD;
  const svg = el("svg", { viewBox: `0 0 ${WIDTH} ${height}`, width: "100%", role: "img",
                          "aria-label": "offers on a timeline" });

  // The axis: ticks at a step giving about eight labels, in UTC like the API.
  const step = STEPS.find((s) => (t1 - t0) / s <= 8) || STEPS[STEPS.length - 1];
  const axis = el("g", { class: "axis" });
  for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
    axis.append(el("line", { x1: x(t), x2: x(t), y1: AXIS - 6, y2: height - PAD, class: "grid" }),
                el("text", { x: x(t), y: AXIS - 10, "text-anchor": "middle" }, clock(t, t1 - t0)));
  }
  axis.append(el("text", { x: 4, y: AXIS - 10, class: "utc" }, "UTC"));
  svg.append(axis);

  let y = AXIS;
  for (const [site, rows] of sites) {
    const platform = rows[0].offer.site?.platform;
    svg.append(el("text", { x: 4, y: y + HEADER - 6, class: "site" }, platform ? `${site} (${platform})` : site));
    y += HEADER;
    for (const row of rows) {
      const uuid = row.offer.meta?.uuid;
      const g = el("g", { class: `offer phase-${(row.offer.phase || "").toLowerCase()}${uuid === chosen ? " chosen" : ""}`,
                          "data-uuid": uuid, tabindex: 0 });
      g.append(el("title", {}, `#${row.n} ${site}: ${row.offer.phase}, ${resources(row.offer)}`),
               el("rect", { x: 0, y, width: WIDTH, height: ROW, class: "row" }),
               el("text", { x: 14, y: y + ROW - 7, class: "label" }, `#${row.n} ${resources(row.offer)}`));
      for (const b of row.blocks) {
        g.append(el("rect", { x: x(b.start), y: y + 4, width: Math.max(x(b.end) - x(b.start), 2), height: ROW - 8,
                              class: `block ${b.part}` }, undefined));
        g.lastChild.append(el("title", {}, `${b.part} ${new Date(b.start).toISOString()} → ${new Date(b.end).toISOString()}`));
      }
      if (row.expires !== null) {
        const ex = x(row.expires);
        const mark = el("path", { d: `M${ex} ${y + 2} l4 -0 l-4 6 l-4 -6 z M${ex} ${y + 2} v${ROW - 4}`, class: "expiry" });
        mark.append(el("title", {}, `offer expires ${new Date(row.expires).toISOString()}`));
        g.append(mark);
      }
      if (select) {
        g.addEventListener("click", () => select(row.offer));
        g.addEventListener("keydown", (e) => { if (e.key === "Enter") select(row.offer); });
      }
      svg.append(g);
      y += ROW;
    }
  }
  svg.append(el("line", { x1: x(now), x2: x(now), y1: AXIS - 6, y2: height - PAD, class: "now" }));
  const legend = document.createElement("p");
  legend.className = "legend";
  legend.innerHTML = '<span class="key preparing"></span>preparing <span class="key available"></span>available ' +
                     '<span class="key releasing"></span>releasing <span class="key expiry"></span>offer expires ' +
                     '<span class="key now"></span>now';
  container.append(svg, legend);
}
