/* /scenario: post one hypothetical event to /reason/scenario and show what it triggers, and why. */
"use strict";
(function (kg) {
  const el = kg.el;
  const form = document.getElementById("kg-scenario-form");
  const out = document.getElementById("kg-sc-result");
  const status = document.getElementById("kg-sc-status");
  const prefixes = JSON.parse(form.dataset.prefixes);
  function expand(curie) {
    const i = curie.indexOf(":");
    return i > 0 && prefixes[curie.slice(0, i)] ? prefixes[curie.slice(0, i)] + curie.slice(i + 1) : curie;
  }
  function ref(r) { return r ? kg.link(r.label || r.iri, r.iri) : el("span", { class: "kg-muted" }, "\u2014"); }
  function row(name, value) { return el("tr", {}, el("th", { scope: "row" }, name), el("td", {}, value)); }
  function summary(s) {
    if (!s || typeof s !== "object") return null;
    const rules = s.rules || [];
    const quotes = s.quotes || [];
    return el("p", { class: "kg-small kg-muted kg-sc-summary-line" },
      rules.length ? "Rules used: " + rules.join(", ") + ". " : "",
      quotes.length ? "It rests on " + quotes.length + " quote" + (quotes.length === 1 ? "" : "s") + " of the article, first " : "",
      quotes.length ? el("a", { href: kg.quoteHref(quotes[0]) || "#" }, "\u201c" + quotes[0].exact + "\u201d") : null);
  }
  function obligationCard(o) {
    const contested = (o.contested_by || []).map((c) => el("li", {}, ref(c),
      c.claimant ? [" \u2014 claimed by ", c.claimant.map((x, i) => [i ? ", " : "", ref(x)])] : null,
      c.reported_by ? [", reported by ", c.reported_by.map((x, i) => [i ? ", " : "", ref(x)])] : null));
    return el("section", { class: "kg-panel kg-obligation", "data-obligation": o.obligation.iri },
      el("h3", {}, ref(o.obligation), " ", el("span", { class: "kg-badge kg-status-" + o.status }, o.status)),
      el("table", { class: "kg-axioms" },
        row("obligor", ref(o.obligor)), row("beneficiary", ref(o.beneficiary)), row("action", ref(o.action)),
        row("modality", ref(o.modality)), row("source", [ref(o.source_provision), " of ", ref(o.treaty)]),
        row("statuses", (o.statuses || []).join(", "))),
      contested.length ? [el("h4", {}, "Contested by"), el("ul", {}, contested)] : null,
      summary(o.explanation_summary),
      o.explanation ? [el("h4", {}, "Why it is triggered"), kg.explainTree(o.explanation)] : null,
      (o.contest_explanations || []).length ? [el("h4", {}, "Why it is contested"), o.contest_explanations.map((t) => kg.explainTree(t))] : null);
  }
  function render(result) {
    const parts = [];
    for (const w of result.warnings || []) parts.push(el("p", { class: "kg-error kg-warning" }, w));
    const obligations = result.triggered_obligations || [];
    parts.push(el("h2", { id: "kg-sc-summary" }, obligations.length
      ? obligations.length + (obligations.length === 1 ? " obligation triggered" : " obligations triggered")
      : "No obligation is triggered by this event"));
    for (const ev of result.events || []) {
      parts.push(el("p", { class: "kg-small" }, "Event: ", (ev.type || []).join(", "), " by ", ref(ev.attacker), " on ", ref(ev.target), ", ", ev.date || ""));
    }
    parts.push(...obligations.map(obligationCard));
    parts.push(el("p", { class: "kg-small kg-muted" }, "Stored data changed: " + (result.stored_data_changed ? "yes" : "no")));
    out.replaceChildren(...parts);
  }
  async function run(ev) {
    if (ev) ev.preventDefault();
    const f = new FormData(form);
    const event = { type: f.get("type"), attacker: expand(f.get("attacker")), target: expand(f.get("target")), date: f.get("date") };
    status.textContent = "reasoning\u2026";
    out.dataset.ready = "";
    try {
      const result = await kg.getJSON(form.dataset.endpoint, {
        method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ events: [event] }),
      });
      render(result);
      status.textContent = "";
      out.dataset.ready = "1";
    } catch (err) {
      out.replaceChildren(el("p", { class: "kg-error" }, err.message));
      status.textContent = "";
      out.dataset.ready = "error";
    }
  }
  form.addEventListener("submit", run);
  if (document.getElementById("kg-sc-run").dataset.autorun) run();
})(window.kg);
