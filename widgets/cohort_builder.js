// CohortBuilder front end (anywidget ES module). No libraries: plain DOM, works offline.
// Python owns the logic: this file renders the synced traits and sends {type: "toggle" | "add_code" |
// "remove_code" | "save"} messages; the search box sets the `query` trait.

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v === true) node.setAttribute(k, "");
    else if (v !== false && v != null) node.setAttribute(k, v);
  }
  for (const c of children) if (c != null) node.append(c);
  return node;
}

function num(x) {
  return Number(x).toLocaleString("en-US");
}

function chips(model, codes, target) {
  const box = h("span", { class: "pmo-cb-chips" });
  for (const c of codes) {
    const title = c.description ? `${c.code}: ${c.description}` : c.code;
    box.append(h("span", { class: "pmo-cb-chip", title, "data-code": c.code },
      c.code,
      codes.length > 1 ? h("button", {
        class: "pmo-cb-chip-remove", "aria-label": `remove ${c.code}`, text: "×",
        onclick: () => model.send({ type: "remove_code", code: c.code, target }),
      }) : null));
  }
  return box;
}

function render({ model, el }) {
  const root = h("div", { class: "pmo-cb" });
  el.append(root);

  const count = h("span", { class: "pmo-cb-count", "data-testid": "cb-count" });
  const entryCount = h("span", { class: "pmo-cb-entry-count", "data-testid": "cb-entry-count" });
  const timing = h("span", { class: "pmo-cb-timing", "data-testid": "cb-timing" });
  const title = h("span", { class: "pmo-cb-title" });
  root.append(h("div", { class: "pmo-cb-header" }, title, h("span", {}, count, " persons selected of ", entryCount,
    " entering"), timing));

  // entry and code picker
  const entryBox = h("div", { class: "pmo-cb-entry", "data-testid": "cb-entry" });
  const targetSel = h("select", { "data-testid": "cb-target", "aria-label": "add codes to" });
  targetSel.addEventListener("change", () => { model.set("target", targetSel.value); model.save_changes(); });
  const search = h("input", { type: "search", placeholder: "search codes or descriptions…", "data-testid": "cb-search",
    "aria-label": "search codes" });
  let timer = null;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => { model.set("query", search.value); model.save_changes(); }, 150);
  });
  const results = h("ul", { class: "pmo-cb-results", "data-testid": "cb-results" });
  const picker = h("div", { class: "pmo-cb-picker" }, h("label", {}, "Add codes to ", targetSel), search, results);

  // rules and attrition
  const rulesList = h("ul", { class: "pmo-cb-rules", "data-testid": "cb-rules" });
  const attTable = h("table", { class: "pmo-cb-attrition", "data-testid": "cb-attrition" });

  // save
  const nameInput = h("input", { type: "text", "data-testid": "cb-save-name", "aria-label": "definition name" });
  nameInput.addEventListener("change", () => { model.set("save_name", nameInput.value); model.save_changes(); });
  const overwrite = h("input", { type: "checkbox", "data-testid": "cb-overwrite" });
  const saveBtn = h("button", { class: "pmo-cb-save", "data-testid": "cb-save", text: "Save",
    onclick: () => model.send({ type: "save", name: nameInput.value, overwrite: overwrite.checked }) });
  const status = h("div", { class: "pmo-cb-status", "data-testid": "cb-status" });
  const error = h("div", { class: "pmo-cb-error", "data-testid": "cb-error", role: "alert" });

  root.append(
    h("div", { class: "pmo-cb-body" },
      h("div", { class: "pmo-cb-left" },
        h("h4", { text: "Entry event" }), entryBox, picker,
        h("h4", { text: "Rules" }), rulesList),
      h("div", { class: "pmo-cb-right" }, h("h4", { text: "Attrition" }), attTable)),
    h("div", { class: "pmo-cb-savebar" }, h("label", {}, "Save as cohorts/", nameInput, ".yaml"),
      h("label", {}, overwrite, " overwrite"), saveBtn),
    status, error);

  function drawHeader() {
    title.textContent = model.get("name");
    count.textContent = num(model.get("n_selected"));
    entryCount.textContent = num(model.get("n_entry"));
    timing.textContent = `recount ${model.get("elapsed_ms").toFixed(0)} ms`;
  }

  function drawEntry() {
    const entry = model.get("entry");
    entryBox.replaceChildren(h("div", { class: "pmo-cb-summary", text: entry.summary || "" }),
      chips(model, entry.codes || [], "entry"));
  }

  function drawTargets() {
    const current = model.get("target");
    targetSel.replaceChildren(...model.get("targets").map((t) => h("option", { value: t, text: t, selected: t === current })));
    targetSel.value = current;
  }

  function drawResults() {
    const items = model.get("search_results");
    results.replaceChildren(...items.map((r) => h("li", {},
      h("button", {
        class: "pmo-cb-add", "data-code": r.code, title: `add ${r.code} to ${model.get("target")}`,
        onclick: () => model.send({ type: "add_code", code: r.code, vocabulary: r.vocabulary, target: model.get("target") }),
      }, h("code", { text: r.code })),
      h("span", { class: "pmo-cb-domain", "data-testid": "cb-hit-domain", text: ` ${r.domain || r.vocabulary}` }),
      h("span", { class: "pmo-cb-desc", text: ` ${r.description || ""}` }),
      h("span", { class: "pmo-cb-persons", text: r.persons ? ` · ${num(r.persons)} persons` : "" }))));
  }

  function drawRules() {
    rulesList.replaceChildren(...model.get("rules").map((r) => {
      const box = h("input", { type: "checkbox", "data-rule": r.name, checked: r.enabled, disabled: r.locked,
        "aria-label": `use rule ${r.name}` });
      box.addEventListener("change", () => model.send({ type: "toggle", rule: r.name, enabled: box.checked }));
      return h("li", { class: `pmo-cb-rule${r.enabled ? "" : " pmo-cb-off"}`, "data-rule-item": r.name },
        h("label", {}, box, h("code", { text: r.name })),
        r.note ? h("span", { class: "pmo-cb-note", text: ` (${r.note})` }) : null,
        h("div", { class: "pmo-cb-summary", text: r.summary }),
        r.codes ? chips(model, r.codes, r.name) : null);
    }));
  }

  function drawAttrition() {
    const rows = model.get("attrition");
    const max = Math.max(1, ...rows.map((r) => r.n_persons));
    attTable.replaceChildren(
      h("thead", {}, h("tr", {}, h("th", { text: "rule" }), h("th", { text: "persons" }), h("th", { text: "removed" }),
        h("th", {}))),
      h("tbody", {}, ...rows.map((r) => h("tr", { "data-rule": r.rule },
        h("td", { text: r.rule }), h("td", { class: "pmo-cb-n", text: num(r.n_persons) }),
        h("td", { class: "pmo-cb-n", text: r.n_removed ? `−${num(r.n_removed)}` : "" }),
        h("td", {}, h("div", { class: "pmo-cb-bar", style: `width:${(100 * r.n_persons) / max}%` }))))));
  }

  function drawStatus() {
    status.textContent = model.get("status");
    error.textContent = model.get("error");
    const saved = model.get("saved_path");
    if (nameInput !== document.activeElement) nameInput.value = model.get("save_name");
    saveBtn.title = saved ? `last saved: ${saved}` : "";
  }

  function drawAll() {
    drawHeader(); drawEntry(); drawTargets(); drawResults(); drawRules(); drawAttrition(); drawStatus();
  }
  drawAll();
  model.on("change:n_selected", drawHeader);
  model.on("change:n_entry", drawHeader);
  model.on("change:elapsed_ms", drawHeader);
  model.on("change:name", drawHeader);
  model.on("change:entry", drawEntry);
  model.on("change:targets", drawTargets);
  model.on("change:target", drawTargets);
  model.on("change:search_results", drawResults);
  model.on("change:rules", drawRules);
  model.on("change:attrition", drawAttrition);
  for (const k of ["status", "error", "saved_path", "save_name"]) model.on(`change:${k}`, drawStatus);
}

export default { render };
