// The mock PSP's admin panel: plain JavaScript, no build step. It talks to the JSON admin API under
// /admin/api with "Authorization: Bearer <key>", the key naming the dataset.
"use strict";

const $ = (id) => document.getElementById(id);

const ACTION_LABELS = {
  authorise: "Authorise", capture: "Capture", fail_capture: "Capture fails",
  succeed: "Succeed", fail: "Fail", cancel: "Cancel", expire: "Expire",
  refund: "Refund", fail_refund: "Refund fails", reverse_refund: "Reverse refund",
  dispute: "Dispute", win_dispute: "Win dispute", lose_dispute: "Lose dispute",
};
const GOOD_ACTIONS = new Set(["authorise", "capture", "succeed", "win_dispute", "reverse_refund"]);
const BAD_ACTIONS = new Set(["fail_capture", "fail", "cancel", "expire", "lose_dispute", "fail_refund"]);

let apiKey = localStorage.getItem("mockpsp.key") || "";
let refreshing = false;
let lastState = null;

// ---- HTTP -------------------------------------------------------------------------------------

async function api(method, path, body) {
  const opts = { method, headers: { Authorization: "Bearer " + apiKey, Accept: "application/json" } };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const res = await fetch("/admin/api/" + path, opts);
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { /* not JSON */ }
  if (!res.ok) {
    const detail = data && (data.Detail || data.detail);
    const err = new Error(detail || (res.status + " " + res.statusText));
    err.field = data && data.Field; // the form field the error is about, when it is about one
    err.status = res.status;
    throw err;
  }
  return data;
}

// ---- DOM helpers --------------------------------------------------------------------------------

// el builds an element; strings become text nodes, so user data is never parsed as HTML.
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

// What each table shows now, to redraw only the tables whose data changed: a redraw would drop the
// person's text selection (copying an id) and move what they are looking at.
let tableData = {};

// selectionIn reports whether the person has text selected inside node.
function selectionIn(node) {
  const sel = window.getSelection();
  return !!sel && !sel.isCollapsed && sel.rangeCount > 0 && node.contains(sel.getRangeAt(0).commonAncestorContainer);
}

// fillTable draws a table's rows from data (one row per item, by rowFn), unless the data is what the
// table already shows, or the person has text selected in it (the next refresh draws it then).
function fillTable(id, data, rowFn, emptyText) {
  const table = $(id);
  const key = JSON.stringify(data);
  if (tableData[id] === key || selectionIn(table)) return;
  tableData[id] = key;
  const cols = table.querySelectorAll("thead th").length;
  const rows = data.map(rowFn);
  table.querySelector("tbody").replaceChildren(...(rows.length ? rows : [el("tr", { class: "empty" }, el("td", { colSpan: cols }, emptyText))]));
}

let messageTimer = null;
function showMessage(text, kind) {
  const box = $("message");
  box.textContent = text;
  box.className = "message " + kind;
  box.dataset.kind = kind;
  box.hidden = false;
  clearTimeout(messageTimer);
  if (kind === "ok") messageTimer = setTimeout(() => { box.hidden = true; }, 5000);
}

// ---- Formatting ---------------------------------------------------------------------------------

// formatAmount renders minor units in the asset's precision: "10050", "USD/2" -> "100.50 USD".
function formatAmount(amount, asset) {
  const [code, p] = String(asset).split("/");
  const precision = p ? parseInt(p, 10) : 0;
  let s = String(amount);
  const negative = s.startsWith("-");
  if (negative) s = s.slice(1);
  if (precision > 0) {
    s = s.padStart(precision + 1, "0");
    s = s.slice(0, -precision) + "." + s.slice(-precision);
  }
  return (negative ? "−" : "") + s + " " + code;
}

function formatTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return d.toLocaleTimeString([], { hour12: false });
}

function timeCell(iso) {
  return el("td", { class: "time", title: iso || "" }, formatTime(iso));
}

function statusBadge(status) {
  return el("span", { class: "status status-" + status, "data-status": status }, status);
}

// actionButtons draws one button per lifecycle action, with the same label in every table.
function actionButtons(id, actions) {
  return el("td", { class: "actions-cell" }, el("div", { class: "actions" }, (actions || []).map((a) =>
    el("button", {
      type: "button",
      class: "act" + (GOOD_ACTIONS.has(a) ? " good" : BAD_ACTIONS.has(a) ? " bad" : ""),
      "data-action": a, "data-id": id,
    }, ACTION_LABELS[a] || a))));
}

function route(from, to) {
  return el("td", { class: "route" }, el("code", {}, from || "outside"), " → ", el("code", {}, to || "outside"));
}

// ---- Rendering ----------------------------------------------------------------------------------

function render(state) {
  lastState = state;
  const t = state.totals;
  const count = (id, shown, total) => { $(id).textContent = shown < total ? `${shown} of ${total}` : String(total); };
  count("count-accounts", state.accounts.length, t.accounts);
  count("count-beneficiaries", state.beneficiaries.length, t.beneficiaries);
  count("count-bank-accounts", state.bankAccounts.length, t.bankAccounts);
  count("count-transactions", state.transactions.length, t.transactions);
  count("count-payouts", state.payouts.length, t.payouts);
  count("count-transfers", state.transfers.length, t.transfers);
  $("count-requests").textContent = String(state.requests.length);
  $("precision").textContent = "timestamps: " + state.timestampPrecision;

  fillTable("accounts-table", state.accounts, (a) => el("tr", { "data-id": a.id },
    el("td", {}, el("code", {}, a.id)),
    el("td", {}, a.accountName, el("span", { class: "muted" }, " · " + a.asset)),
    el("td", { class: "balances" }, a.balances.map((b) =>
      el("div", { class: Number(b.amount) < 0 ? "neg" : "" }, formatAmount(b.amount, b.currency)))),
    timeCell(a.createdAt),
  ), "No account yet: create one with New.");

  fillTable("beneficiaries-table", state.beneficiaries, (b) => el("tr", { "data-id": b.id },
    el("td", {}, el("code", {}, b.id)), el("td", {}, b.ownerName), timeCell(b.createdAt),
  ), "No beneficiary yet: payouts need one.");

  fillTable("bank-accounts-table", state.bankAccounts, (b) => el("tr", { "data-id": b.id },
    el("td", {}, el("code", {}, b.id)), el("td", {}, b.name),
    el("td", {}, el("code", {}, b.iban || b.accountNumber || "")), el("td", {}, b.country || ""),
  ), "No bank account yet.");

  fillTable("transactions-table", state.transactions, (tx) => el("tr", { "data-id": tx.id, "data-status": tx.status },
    el("td", {}, el("code", {}, tx.id)),
    el("td", {}, el("span", { class: "type type-" + tx.type }, tx.type)),
    el("td", {}, statusBadge(tx.status)),
    el("td", { class: "num" }, formatAmount(tx.amount, tx.currency)),
    route(tx.sourceAccountID, tx.destinationAccountID),
    timeCell(tx.updatedAt),
    actionButtons(tx.id, tx.actions),
  ), "No transaction yet: use Generate, or let Formance create payouts and transfers.");

  const orderRow = (o) => el("tr", { "data-id": o.id, "data-status": o.status },
    el("td", {}, el("code", {}, o.id)),
    el("td", { class: "num" }, formatAmount(o.amount, o.currency)),
    route(o.sourceAccountId, o.destinationAccountId),
    el("td", {}, statusBadge(o.status)),
    el("td", {}, el("span", { class: "origin origin-" + o.origin }, o.origin === "formance" ? "Formance" : "panel")),
    actionButtons(o.id, o.actions),
  );
  fillTable("payouts-table", state.payouts, orderRow, "No payout yet: Formance's payouts appear here.");
  fillTable("transfers-table", state.transfers, orderRow, "No transfer yet: Formance's transfers appear here.");

  const httpStatus = (status) => el("span", { class: "http http-" + String(status)[0] + "xx" }, String(status));
  fillTable("requests-table", state.requests, (r) => el("tr", {},
    timeCell(r.at),
    el("td", {}, r.method),
    el("td", {}, el("code", {}, r.path)),
    el("td", { class: "query" }, r.query),
    el("td", {}, httpStatus(r.status)),
    el("td", { class: "num" }, r.durationMs.toFixed(1)),
  ), "No request with this key yet. Install the connector (Install) and the polls show up here.");

  $("count-stray").textContent = String(state.strayRequests.length);
  fillTable("stray-table", state.strayRequests, (r) => el("tr", { "data-status": String(r.status) },
    timeCell(r.at),
    el("td", {}, el("code", {}, r.key || "(no key)")),
    el("td", {}, r.method),
    el("td", {}, el("code", {}, r.path)),
    el("td", {}, httpStatus(r.status)),
    el("td", { class: "reason" }, r.reason),
  ), "None: every request so far reached a dataset.");

  // Keep the Generate form's account choice while refreshing the list (redrawn only when it changed).
  const select = $("gen-account");
  const options = JSON.stringify(state.accounts.map((a) => [a.id, a.accountName]));
  if (select.dataset.options !== options) {
    select.dataset.options = options;
    const chosen = select.value;
    select.replaceChildren(el("option", { value: "" }, "Any account"),
      ...state.accounts.map((a) => el("option", { value: a.id }, `${a.id} · ${a.accountName}`)));
    select.value = state.accounts.some((a) => a.id === chosen) ? chosen : "";
  }

  renderLive();
}

function renderLive() {
  const live = $("live");
  if (!apiKey) { live.textContent = ""; return; }
  const last = lastState && lastState.requests[0];
  if (!last) {
    const stray = lastState ? lastState.strayRequests.length : 0;
    live.textContent = "No request with this key yet" +
      (stray ? ` · ${stray} request${stray === 1 ? "" : "s"} reached no data (see below)` : "");
    live.className = "live idle";
    return;
  }
  const secs = Math.max(0, Math.round((Date.now() - new Date(last.at).getTime()) / 1000));
  live.textContent = `Last request ${secs}s ago · ${last.method} ${last.path}`;
  live.className = "live " + (secs < 120 ? "on" : "idle");
}

async function refresh() {
  if (!apiKey || refreshing) return;
  refreshing = true;
  try {
    render(await api("GET", "state"));
  } catch (e) {
    showMessage("Could not load the data: " + e.message, "error");
  } finally {
    refreshing = false;
  }
}

// ---- Key ----------------------------------------------------------------------------------------

// useKey switches the panel to a key's dataset, after the server has checked that the contract's
// routes accept the key (the same rule as the middleware's): a refused key is shown with its reason
// and not used.
async function useKey(key) {
  key = key.trim();
  if (!key) {
    apiKey = "";
    showWorkspace();
    return;
  }
  try {
    await api("POST", "keys/check", { key });
  } catch (e) {
    $("api-key").classList.add("invalid");
    showMessage("This key cannot be used: " + e.message, "error");
    if (key === apiKey) { // a stored key that is refused: forget it
      apiKey = "";
      localStorage.removeItem("mockpsp.key");
      showWorkspace();
    }
    return;
  }
  $("api-key").classList.remove("invalid");
  if ($("message").dataset.kind === "error") $("message").hidden = true;
  apiKey = key;
  tableData = {};
  $("api-key").value = apiKey;
  localStorage.setItem("mockpsp.key", apiKey);
  showWorkspace();
  refresh();
  updateInstall();
}

function showWorkspace() {
  $("welcome").hidden = !!apiKey;
  $("workspace").hidden = !apiKey;
}

$("key-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const key = $("api-key").value.trim();
  if (!key) { showMessage("Enter an API key: it names your dataset.", "error"); return; }
  useKey($("api-key").value);
});

// ---- Toolbar ------------------------------------------------------------------------------------

document.querySelectorAll(".toolbar [data-panel]").forEach((btn) => btn.addEventListener("click", () => {
  const panel = $(btn.dataset.panel);
  const open = panel.hidden;
  document.querySelectorAll(".panel").forEach((p) => { p.hidden = true; });
  document.querySelectorAll(".toolbar [data-panel]").forEach((b) => b.classList.remove("active"));
  panel.hidden = !open;
  btn.classList.toggle("active", open);
  if (open && panel.id === "panel-install") updateInstall();
}));
$("btn-refresh").addEventListener("click", refresh);

// Export downloads the whole dataset as JSON (accounts with balances, beneficiaries, bank accounts,
// transactions with their status history, payouts, transfers), to reconcile with what Formance shows.
$("btn-export").addEventListener("click", async () => {
  try {
    const data = await api("GET", "export");
    const link = $("export-link");
    if (link.href) URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(new Blob([JSON.stringify(data, null, 2)], { type: "application/json" }));
    link.download = "mockpsp-" + data.tenant + ".json";
    link.click();
    showMessage(`Exported ${data.accounts.length} accounts, ${data.beneficiaries.length} beneficiaries, ` +
      `${data.bankAccounts.length} bank accounts, ${data.transactions.length} transactions, ` +
      `${data.payouts.length} payouts and ${data.transfers.length} transfers to ${link.download}`, "ok");
  } catch (e) {
    showMessage("Export failed: " + e.message, "error");
  }
});

// ---- Forms --------------------------------------------------------------------------------------

// markField marks the one field of form an error is about (and unmarks the others).
function markField(form, field) {
  form.querySelectorAll("input, select").forEach((input) => {
    input.classList.toggle("invalid", !!field && input.name === field);
  });
}

// submitForm posts a form's fields (or what build returns) and reports the outcome; a successful
// create clears the form (back to its defaults), so the next one starts afresh.
function submitForm(formId, path, build, describe) {
  $(formId).addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const result = await api("POST", path, build(form));
      form.reset();
      markField(form, null);
      showMessage(describe(result), "ok");
      await refresh();
    } catch (e) {
      markField(form, e.field);
      showMessage(e.message, "error");
    } finally {
      button.disabled = false;
    }
  });
}

const fields = (form, names) => Object.fromEntries(names.map((n) => [n, form.elements[n].value.trim()]));

submitForm("new-account", "accounts", (f) => fields(f, ["name", "asset", "openingBalance"]),
  (a) => `Created account ${a.id} (${a.accountName})`);
submitForm("new-beneficiary", "beneficiaries", (f) => fields(f, ["ownerName"]),
  (b) => `Created beneficiary ${b.id} (${b.ownerName})`);
submitForm("new-bank-account", "bank-accounts", (f) => {
  const v = fields(f, ["name", "iban", "accountNumber", "swiftBicCode", "country"]);
  v.iban = v.iban.replace(/[\s-]/g, ""); // IBANs are often pasted in groups of four
  for (const k of Object.keys(v)) if (v[k] === "" && k !== "name") delete v[k];
  return v;
}, (b) => `Created bank account ${b.id} (${b.name})`);
submitForm("generate", "generate", (f) => {
  // The count goes as typed: the server refuses "abc" as "abc".
  const v = fields(f, ["count", "type", "accountId", "amount", "asset", "status"]);
  v.allowNegative = f.elements.allowNegative.checked;
  return v;
}, (txs) => `Generated ${txs.length} transaction${txs.length === 1 ? "" : "s"}`);

// ---- Row actions --------------------------------------------------------------------------------

document.addEventListener("click", async (ev) => {
  const btn = ev.target.closest("button[data-action]");
  if (!btn) return;
  btn.disabled = true;
  try {
    const tx = await api("POST", `transactions/${encodeURIComponent(btn.dataset.id)}/actions`, { action: btn.dataset.action });
    showMessage(`${tx.id} is now ${tx.status}`, "ok");
    await refresh();
  } catch (e) {
    showMessage(e.message, "error");
    btn.disabled = false;
  }
});

// ---- Install ------------------------------------------------------------------------------------

let installTimer = null;
let installError = false; // the message banner shows an error of the Install form
async function updateInstall() {
  if (!apiKey) return;
  if (!$("install-endpoint").value) $("install-endpoint").value = window.location.origin;
  const form = $("install");
  const q = new URLSearchParams(fields(form, ["stack", "name", "endpoint", "pollingPeriod"]));
  try {
    const v = await api("GET", "install?" + q.toString());
    $("install-config").textContent = v.configJSON;
    $("install-fctl").textContent = v.fctl;
    $("install-curl").textContent = v.curl;
    $("docker-endpoint").textContent = v.dockerEndpoint;
    // A period below a default stack's minimum (20m) comes with a note saying so.
    $("install-note").textContent = v.note || "";
    $("install-note").hidden = !v.note;
    markField(form, null);
    if (installError) $("message").hidden = true;
    installError = false;
  } catch (e) {
    // Never show a config built from other values than the ones in the form.
    const fix = "Fix the marked field: " + e.message;
    for (const id of ["install-config", "install-fctl", "install-curl"]) $(id).textContent = fix;
    $("install-note").hidden = true;
    markField(form, e.field);
    installError = true;
    showMessage(e.message, "error");
  }
}
$("use-docker").addEventListener("click", () => {
  $("install-endpoint").value = $("docker-endpoint").textContent;
  updateInstall();
});
$("install").addEventListener("input", () => {
  clearTimeout(installTimer);
  installTimer = setTimeout(updateInstall, 300);
});
$("install").addEventListener("submit", (ev) => { ev.preventDefault(); updateInstall(); });

document.querySelectorAll("button.copy").forEach((btn) => btn.addEventListener("click", async () => {
  const text = $(btn.dataset.copy).textContent;
  try {
    await navigator.clipboard.writeText(text);
    showMessage("Copied to the clipboard", "ok");
  } catch (e) {
    const range = document.createRange(); // clipboard API unavailable (plain http): select instead
    range.selectNodeContents($(btn.dataset.copy));
    getSelection().removeAllRanges();
    getSelection().addRange(range);
    showMessage("Selected: press Ctrl+C (or ⌘C) to copy", "ok");
  }
}));

// ---- Start --------------------------------------------------------------------------------------

setInterval(() => { if ($("auto-refresh").checked) refresh(); }, 2000);
setInterval(renderLive, 1000);
useKey(apiKey);
