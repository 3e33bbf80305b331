// RiskThreshold front end (anywidget ES module). No libraries: plain DOM and SVG, so it works offline.
// Python computes every number; this file draws the synced traits and sends threshold changes back.

const SVG = "http://www.w3.org/2000/svg";

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

function pct(x) {
  return x == null ? "–" : `${(100 * x).toFixed(1)} %`;
}

function num(x, digits = 3) {
  return x == null ? "–" : Number(x).toFixed(digits);
}

function count(x) {
  return x == null ? "<min" : String(Math.round(x));
}

function drawCurve(curve, threshold) {
  const W = 320, H = 180, L = 40, R = 8, T = 10, B = 26;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, "data-testid": "rt-curve" });
  const xmax = curve.length ? curve[curve.length - 1].threshold : 0.5;
  const ys = curve.flatMap((p) => [p.model, p.all, 0]);
  const ymax = Math.max(0.005, ...ys);
  const ymin = Math.max(-ymax * 0.3, Math.min(...ys));
  const x = (v) => L + (v / xmax) * (W - L - R);
  const y = (v) => T + (1 - (v - ymin) / (ymax - ymin || 1)) * (H - T - B);
  const path = (key) => curve.map((p, i) => `${i ? "L" : "M"}${x(p.threshold).toFixed(1)},${y(p[key]).toFixed(1)}`).join("");
  svg.append(s("line", { x1: L, x2: W - R, y1: y(0), y2: y(0), class: "pmo-rt-none" }));
  svg.append(s("path", { d: path("all"), class: "pmo-rt-all" }));
  svg.append(s("path", { d: path("model"), class: "pmo-rt-model" }));
  svg.append(s("line", { x1: x(threshold), x2: x(threshold), y1: T, y2: H - B, class: "pmo-rt-mark" }));
  svg.append(s("line", { x1: L, x2: L, y1: T, y2: H - B, class: "pmo-rt-axis" }));
  const label = (text, attrs) => {
    const n = s("text", { class: "pmo-rt-tick", ...attrs });
    n.textContent = text;
    svg.append(n);
  };
  label("net benefit", { x: 2, y: T + 8 });
  label(num(ymax, 3), { x: 2, y: y(ymax) + 10 });
  label("0", { x: L - 10, y: y(0) + 3 });
  label("risk threshold", { x: W - R - 70, y: H - 4 });
  label("0", { x: L - 2, y: H - B + 12 });
  label(num(xmax, 2), { x: W - R - 20, y: H - B + 12 });
  return svg;
}

function drawHistogram(hist, threshold) {
  const W = 320, H = 140, L = 40, R = 8, T = 8, B = 24;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, "data-testid": "rt-histogram" });
  const edges = hist.edges || [];
  const nb = Math.max(edges.length - 1, 0);
  if (!nb) return svg;
  const share = (arr) => {
    const tot = arr.reduce((a, b) => a + b, 0) || 1;
    return arr.map((c) => c / tot);
  };
  const cases = share(hist.cases), controls = share(hist.controls);
  const ymax = Math.max(0.01, ...cases, ...controls);
  const x = (v) => L + ((v - edges[0]) / (edges[nb] - edges[0] || 1)) * (W - L - R);
  const y = (v) => H - B - (v / ymax) * (H - T - B);
  for (let i = 0; i < nb; i++) {
    const x0 = x(edges[i]), w = Math.max(x(edges[i + 1]) - x0 - 1, 1) / 2;
    svg.append(s("rect", { x: x0, width: w, y: y(controls[i]), height: y(0) - y(controls[i]), class: "pmo-rt-control" }));
    svg.append(s("rect", { x: x0 + w, width: w, y: y(cases[i]), height: y(0) - y(cases[i]), class: "pmo-rt-case" }));
  }
  if (threshold <= edges[nb]) svg.append(s("line", { x1: x(threshold), x2: x(threshold), y1: T, y2: H - B, class: "pmo-rt-mark" }));
  svg.append(s("line", { x1: L, x2: W - R, y1: H - B, y2: H - B, class: "pmo-rt-axis" }));
  const t = s("text", { class: "pmo-rt-tick", x: 2, y: T + 8 });
  t.textContent = "share (red: cases, blue: non-cases)";
  svg.append(t);
  const t2 = s("text", { class: "pmo-rt-tick", x: W - R - 60, y: H - 4 });
  t2.textContent = "predicted risk";
  svg.append(t2);
  return svg;
}

function render({ model, el }) {
  const root = h("div", { class: "pmo-rt" });
  el.append(root);
  const slider = h("input", { type: "range", min: "0.005", max: "0.5", step: "0.005", "data-testid": "rt-slider" });
  const box = h("input", { type: "number", min: "0.001", max: "0.999", step: "0.005", "data-testid": "rt-input" });
  const send = (value) => {
    const v = Number(value);
    if (Number.isFinite(v) && v > 0 && v < 1) {
      model.set("threshold", v);
      model.save_changes();
    }
  };
  slider.addEventListener("input", () => send(slider.value));
  box.addEventListener("change", () => send(box.value));
  const title = h("div", { style: "font-weight:600" });
  const table = h("table", { class: "pmo-rt-table" });
  const plots = h("div", { class: "pmo-rt-row" });

  function update() {
    const m = model.get("metrics") || {};
    const thr = model.get("threshold");
    title.textContent = model.get("title") || "Risk threshold";
    slider.value = String(thr);
    box.value = String(thr);
    const rows = [
      ["threshold", num(thr, 3), "rt-threshold"],
      ["sensitivity", pct(m.sensitivity), "rt-sensitivity"],
      ["specificity", pct(m.specificity), "rt-specificity"],
      ["PPV", pct(m.ppv), "rt-ppv"],
      ["NPV", pct(m.npv), "rt-npv"],
      ["net benefit", num(m.net_benefit, 4), "rt-net-benefit"],
      ["flagged per 1,000", m.flagged_per_1000 == null ? "–" : m.flagged_per_1000.toFixed(0), "rt-flagged"],
      ["TP / FP / FN / TN", `${count(m.tp)} / ${count(m.fp)} / ${count(m.fn)} / ${count(m.tn)}`, "rt-counts"],
    ];
    table.replaceChildren(...rows.map(([k, v, id]) => h("tr", {}, h("td", { text: k }), h("td", { class: "v", text: v, "data-testid": id }))));
    plots.replaceChildren(drawCurve(model.get("curve") || [], thr), drawHistogram(model.get("histogram") || {}, thr));
  }
  model.on("change:metrics", update);
  model.on("change:threshold", update);
  root.append(title, h("div", { class: "pmo-rt-controls" }, h("span", { text: "risk threshold" }), slider, box),
    h("div", { class: "pmo-rt-row" }, table, plots));
  update();
}

export default { render };
