// QcExplorer front end (anywidget ES module). No libraries: plain DOM and SVG, so it works offline.
// Python owns the logic: this file only renders the synced traits and sends threshold changes, view changes,
// reviewer/note text and a {type: "save"} message back.

const SVG = "http://www.w3.org/2000/svg";
const REASON_LABELS = {
  low_call_rate: "low call rate",
  het_outlier: "het outlier",
  sex_mismatch: "sex mismatch",
  sex_ambiguous: "sex ambiguous",
  duplicate: "duplicate",
  pedigree_mismatch: "pedigree mismatch",
  ancestry_outlier: "ancestry outlier",
  metric_outlier: "metric outlier",
};

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c != null) node.append(c);
  return node;
}

function s(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

function fmt(x) {
  if (x == null || !Number.isFinite(x)) return "–";
  const a = Math.abs(x);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return x.toExponential(2);
  return String(Number(x.toPrecision(4)));
}

function drawHistogram(hist) {
  const W = 300, H = 130, L = 34, R = 8, T = 8, B = 22;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "pmo-qc-hist", role: "img" });
  svg.setAttribute("aria-label", hist.label);
  const edges = hist.edges;
  const nb = edges.length - 1;
  const lo0 = edges[0], hi0 = edges[nb];
  const span = hi0 - lo0 || 1;
  // Extend the axis to show threshold lines near the data, but never more than half the data range.
  let lo = lo0, hi = hi0;
  for (const line of hist.lines) {
    lo = Math.min(lo, Math.max(line.value, lo0 - span / 2));
    hi = Math.max(hi, Math.min(line.value, hi0 + span / 2));
  }
  const x = (v) => L + ((v - lo) / (hi - lo || 1)) * (W - L - R);
  const totals = hist.pass.map((p, i) => p + hist.other[i] + hist.hit[i]);
  const ymax = Math.max(1, ...totals);
  const y = (c) => H - B - (c / ymax) * (H - T - B);
  for (let i = 0; i < nb; i++) {
    let base = 0;
    for (const [series, cls] of [["pass", "pass"], ["other", "other"], ["hit", "hit"]]) {
      const c = hist[series][i];
      if (!c) continue;
      const x0 = x(edges[i]), x1 = x(edges[i + 1]);
      const rect = s("rect", {
        x: x0 + 0.5, width: Math.max(x1 - x0 - 1, 1), y: y(base + c), height: y(base) - y(base + c),
        class: `pmo-qc-bar pmo-qc-bar-${cls}`,
      });
      const t = s("title");
      t.textContent = `${fmt(edges[i])} – ${fmt(edges[i + 1])}: ${c} ${series === "pass" ? "passing" : series === "hit" ? "flagged by this metric" : "failing another check"}`;
      rect.append(t);
      svg.append(rect);
      base += c;
    }
  }
  svg.append(s("line", { x1: L, x2: W - R, y1: H - B, y2: H - B, class: "pmo-qc-axis" }));
  svg.append(s("line", { x1: L, x2: L, y1: T, y2: H - B, class: "pmo-qc-axis" }));
  const label = (text, attrs) => {
    const n = s("text", { class: "pmo-qc-tick", ...attrs });
    n.textContent = text;
    svg.append(n);
  };
  label(fmt(lo), { x: L, y: H - 6, "text-anchor": "start" });
  label(fmt(hi), { x: W - R, y: H - 6, "text-anchor": "end" });
  label(String(ymax), { x: L - 4, y: T + 8, "text-anchor": "end" });
  label("0", { x: L - 4, y: H - B, "text-anchor": "end" });
  for (const line of hist.lines) {
    const clipped = line.value < lo || line.value > hi;
    const xv = x(Math.min(Math.max(line.value, lo), hi));
    const ln = s("line", {
      x1: xv, x2: xv, y1: T, y2: H - B,
      class: `pmo-qc-threshold${clipped ? " pmo-qc-threshold-clipped" : ""}`,
      "data-value": line.value,
    });
    const t = s("title");
    t.textContent = `${line.label}: ${fmt(line.value)}${clipped ? " (off the axis)" : ""}`;
    ln.append(t);
    svg.append(ln);
  }
  return svg;
}

function render({ model, el }) {
  const root = h("div", { class: "pmo-qc" });
  el.append(root);

  // --- header: counts
  const count = h("span", { class: "pmo-qc-count", "data-testid": "qc-flagged-count" });
  const total = h("span", { class: "pmo-qc-total" });
  const viewCount = h("span", { class: "pmo-qc-viewcount", "data-testid": "qc-flagged-view" });
  const change = h("span", { class: "pmo-qc-change", "data-testid": "qc-change" });
  const reasons = h("div", { class: "pmo-qc-reasons" });
  root.append(
    h("div", { class: "pmo-qc-header" },
      h("span", { class: "pmo-qc-title", text: "WGS QC explorer" }),
      h("span", { class: "pmo-qc-summary" }, "Flagged: ", count, " of ", total, " samples", viewCount, change)),
    reasons,
    h("div", { class: "pmo-qc-legend" },
      h("span", { class: "pmo-qc-swatch pmo-qc-swatch-pass" }), "passes ",
      h("span", { class: "pmo-qc-swatch pmo-qc-swatch-other" }), "fails another check ",
      h("span", { class: "pmo-qc-swatch pmo-qc-swatch-hit" }), "flagged by this metric ",
      h("span", { class: "pmo-qc-swatch pmo-qc-swatch-line" }), "threshold / bound"),
  );

  // --- controls
  const controls = h("div", { class: "pmo-qc-controls" });
  const inputs = {};
  let timer = null;
  const commit = (name, value) => {
    if (!Number.isFinite(value)) return;
    clearTimeout(timer);
    model.set("thresholds", { ...model.get("thresholds"), [name]: value });
    model.save_changes();
  };
  for (const spec of model.get("controls")) {
    const range = h("input", {
      type: "range", min: spec.min, max: spec.max, step: spec.step, "data-threshold": spec.name,
      "aria-label": spec.label,
    });
    const num = h("input", {
      type: "number", min: spec.min, max: spec.max, step: spec.step, "data-threshold": spec.name,
      "aria-label": `${spec.label} (value)`, class: "pmo-qc-number",
    });
    range.addEventListener("input", () => {
      num.value = range.value;
      clearTimeout(timer);
      timer = setTimeout(() => commit(spec.name, Number(range.value)), 150);
    });
    range.addEventListener("change", () => commit(spec.name, Number(range.value)));
    num.addEventListener("change", () => commit(spec.name, Number(num.value)));
    inputs[spec.name] = { range, num };
    controls.append(h("label", { class: "pmo-qc-control" }, h("span", { text: spec.label }), range, num));
  }

  // --- view selector
  const viewBy = h("select", { class: "pmo-qc-viewby", "data-testid": "qc-view-by", "aria-label": "View by" });
  const viewValue = h("select", { class: "pmo-qc-viewvalue", "data-testid": "qc-view-value", "aria-label": "Stratum" });
  viewBy.addEventListener("change", () => {
    model.set("view_by", viewBy.value);
    const values = model.get("strata_options")[viewBy.value] || [];
    model.set("view_value", values.length ? String(values[0]) : "");
    model.save_changes();
  });
  viewValue.addEventListener("change", () => {
    model.set("view_value", viewValue.value);
    model.save_changes();
  });
  const viewRow = h("div", { class: "pmo-qc-view" }, h("span", { text: "Show: " }), viewBy, viewValue);

  root.append(h("div", { class: "pmo-qc-body" }, h("div", { class: "pmo-qc-left" }, controls, viewRow),
    h("div", { class: "pmo-qc-hists" })));
  const hists = root.querySelector(".pmo-qc-hists");

  // --- table of flagged samples
  const tbody = h("tbody");
  const tableNote = h("div", { class: "pmo-qc-tablenote" });
  root.append(h("details", { class: "pmo-qc-flagged", open: "" },
    h("summary", { text: "Flagged samples in view" }),
    tableNote,
    h("div", { class: "pmo-qc-tablewrap" },
      h("table", { class: "pmo-qc-table", "data-testid": "qc-flagged-table" },
        h("thead", {}, h("tr", {}, h("th", { text: "sample" }), h("th", { text: "stratum" }),
          h("th", { text: "verdict" }), h("th", { text: "reasons" }), h("th", { text: "why (metric, value, bound, stratum, rule)" }))),
        tbody))));

  // --- review and save
  const reviewer = h("input", { type: "text", placeholder: "reviewer", "data-testid": "qc-reviewer", "aria-label": "Reviewer" });
  const note = h("textarea", { rows: "2", placeholder: "note: why these thresholds", "data-testid": "qc-note", "aria-label": "Note" });
  const save = h("button", { type: "button", class: "pmo-qc-save", "data-testid": "qc-save", text: "Save thresholds" });
  const status = h("div", { class: "pmo-qc-status", "data-testid": "qc-status", role: "status" });
  reviewer.addEventListener("input", () => { model.set("reviewer", reviewer.value); model.save_changes(); });
  note.addEventListener("input", () => { model.set("note", note.value); model.save_changes(); });
  save.addEventListener("click", () => {
    model.set("reviewer", reviewer.value);
    model.set("note", note.value);
    model.save_changes();
    // state updates are held back while the kernel is busy, custom messages are not: the save message
    // carries what the page shows, so it cannot overtake the note or a threshold still in flight
    model.send({ type: "save", reviewer: reviewer.value, note: note.value, thresholds: model.get("thresholds") });
  });
  root.append(h("div", { class: "pmo-qc-review" }, reviewer, note, save), status);

  // --- sync from the model
  const syncThresholds = () => {
    const th = model.get("thresholds");
    for (const [name, { range, num }] of Object.entries(inputs)) {
      if (th[name] == null) continue;
      range.value = th[name];
      num.value = th[name]; // also after a refused value: the kernel sends the previous one back
    }
  };
  const syncView = () => {
    const options = model.get("strata_options");
    const by = model.get("view_by");
    viewBy.replaceChildren(h("option", { value: "", text: "all samples" }),
      ...Object.keys(options).map((c) => h("option", { value: c, text: c })));
    viewBy.value = by;
    viewValue.replaceChildren(...(options[by] || []).map((v) => h("option", { value: String(v), text: String(v) })));
    viewValue.value = model.get("view_value");
    viewValue.hidden = !by;
    viewRow.hidden = Object.keys(options).length === 0;
  };
  const syncCounts = () => {
    count.textContent = String(model.get("n_flagged"));
    total.textContent = String(model.get("n_samples"));
    viewCount.textContent = (model.get("view_by") ? ` (${model.get("n_flagged_view")} in view)` : "")
      + (model.get("n_review") ? ` · ${model.get("n_review")} to review` : "");
    const nf = model.get("n_newly_flagged"), np = model.get("n_newly_passing");
    change.textContent = nf || np ? ` · vs. run: +${nf} newly flagged, ${np} newly passing` : "";
    const rc = model.get("reason_counts");
    reasons.replaceChildren(...Object.entries(rc).map(([r, c]) =>
      h("span", { class: `pmo-qc-chip pmo-qc-chip-${r}`, text: `${REASON_LABELS[r] || r}: ${c}` })));
  };
  const syncHists = () => {
    hists.replaceChildren(...model.get("histograms").map((hist) =>
      h("figure", { class: "pmo-qc-figure", "data-metric": hist.key },
        h("figcaption", { text: `${hist.label} (n=${hist.n})` }), drawHistogram(hist))));
  };
  const syncTable = () => {
    const rows = model.get("flagged");
    tbody.replaceChildren(...rows.map((r) => h("tr", { class: r.new ? "pmo-qc-new" : "" },
      h("td", { text: r.sample_id }), h("td", { text: r.stratum }),
      h("td", { class: `pmo-qc-verdict-${r.verdict || "fail"}`, text: r.verdict || "fail" }),
      h("td", {}, ...r.reasons.map((x) => h("span", { class: `pmo-qc-chip pmo-qc-chip-${x}`, text: REASON_LABELS[x] || x }))),
      h("td", { class: "pmo-qc-why", "data-testid": "qc-why" }, ...(r.explanation || []).map((x) => h("div", { text: x }))))));
    const shown = model.get("view_by") ? model.get("n_flagged_view") : model.get("n_flagged");
    tableNote.textContent = rows.length < shown ? `first ${rows.length} of ${shown} shown` : "";
  };
  const syncReview = () => {
    if (document.activeElement !== reviewer) reviewer.value = model.get("reviewer");
    if (document.activeElement !== note) note.value = model.get("note");
    save.disabled = !model.get("can_save");
    save.title = model.get("can_save") ? "" : "no project given: nothing to save to";
    status.textContent = model.get("status");
  };
  const handlers = [
    ["change:thresholds", syncThresholds],
    ["change:strata_options", syncView], ["change:view_by", syncView], ["change:view_value", syncView],
    ["change:n_flagged", syncCounts], ["change:n_flagged_view", syncCounts], ["change:n_review", syncCounts], ["change:reason_counts", syncCounts],
    ["change:n_newly_flagged", syncCounts], ["change:n_newly_passing", syncCounts], ["change:view_by", syncCounts],
    ["change:histograms", syncHists],
    ["change:flagged", syncTable],
    ["change:reviewer", syncReview], ["change:note", syncReview], ["change:status", syncReview],
    ["change:can_save", syncReview],
  ];
  for (const [ev, fn] of handlers) model.on(ev, fn);
  syncThresholds(); syncView(); syncCounts(); syncHists(); syncTable(); syncReview();
  return () => {
    clearTimeout(timer);
    for (const [ev, fn] of handlers) model.off(ev, fn);
  };
}

export default { render };
