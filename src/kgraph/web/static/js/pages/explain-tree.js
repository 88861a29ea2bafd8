/* Renders a derivation tree (kgraph.reasoning.explain JSON) as nested, foldable lists. */
"use strict";
(function (kg) {
  const el = kg.el;
  function termText(t, label) {
    if (!t) return "?";
    if (t.type === "uri") return label || shortIri(t.value);
    if (t.type === "bnode") return "_:" + t.value;
    return "\u201c" + t.value + "\u201d";
  }
  const PREFIXES = [
    ["kgr:", "https://w3id.org/kgraph/resource/"], ["kgo:", "https://w3id.org/kgraph/ontology#"],
    ["rdf:", "http://www.w3.org/1999/02/22-rdf-syntax-ns#"], ["rdfs:", "http://www.w3.org/2000/01/rdf-schema#"],
    ["owl:", "http://www.w3.org/2002/07/owl#"], ["prov:", "http://www.w3.org/ns/prov#"],
    ["skos:", "http://www.w3.org/2004/02/skos/core#"], ["wd:", "http://www.wikidata.org/entity/"],
    ["dcterms:", "http://purl.org/dc/terms/"]];
  function shortIri(iri) {
    for (const [p, ns] of PREFIXES) if (iri.startsWith(ns)) return p + iri.slice(ns.length);
    return iri;
  }
  function termNode(t, label) {
    const text = termText(t, label);
    return t && t.type === "uri" ? kg.link(text, t.value) : el("span", { class: "kg-literal" }, text);
  }
  function tripleLine(node) {
    const labels = node.labels || {};
    return el("span", { class: "kg-triple" },
      termNode(node.s, labels.s), " ", termNode(node.p), " ", termNode(node.o, labels.o));
  }
  const KIND_TEXT = { inferred: "inferred", asserted: "stated in a source", axiom: "ontology axiom",
    hypothetical: "scenario (hypothetical)", unknown: "not in the knowledge base" };
  function quotesList(quotes) {
    return el("ul", { class: "kg-tree-quotes" }, (quotes || []).map((q) => {
      const h = kg.quoteHref(q);
      return el("li", {}, el("q", {}, q.exact || ""), " ",
        h ? el("a", { href: h, class: "kg-in-text" }, "in the text [" + q.start + "\u2013" + q.end + ")") : null);
    }));
  }
  function render(node, open) {
    const kind = node.kind || "asserted";
    const head = el("span", { class: "kg-tree-head" }, tripleLine(node), " ",
      el("span", { class: "kg-badge kg-kind-" + kind }, KIND_TEXT[kind] || kind));
    const body = [];
    if (node.rule) {
      body.push(el("div", { class: "kg-tree-rule" }, "by rule ", el("b", {}, node.rule.name), ": ",
        node.rule.summary || "", " ", el("code", { class: "kg-small" }, node.rule.file || "")));
    }
    if (node.see_above) body.push(el("div", { class: "kg-muted kg-small" }, "(explained above)"));
    if (node.truncated) body.push(el("div", { class: "kg-muted kg-small" }, "\u2026 (depth limit)"));
    for (const f of node.facts || []) {
      if (f.derivation) body.push(el("div", { class: "kg-small kg-muted" }, "derived: " + f.derivation));
      if ((f.quotes || []).length) body.push(quotesList(f.quotes));
      else if (f.derived_from) body.push(el("div", { class: "kg-small kg-muted" }, "from ", f.derived_from.map((d) => kg.link(shortIri(d), d))));
    }
    if ((node.mentions || []).length) body.push(el("div", { class: "kg-small" }, "mentioned as:"), quotesList(node.mentions));
    const kids = (node.premises || []).map((p) => render(p, false));
    if (kids.length) body.push(el("ul", { class: "kg-tree" }, kids.map((k) => el("li", {}, k))));
    for (const alt of node.also_inferred || []) {
      body.push(el("div", { class: "kg-small" }, "also inferred by another rule:"),
        el("ul", { class: "kg-tree" }, el("li", {}, render(alt, false))));
    }
    if (!body.length) return el("div", { class: "kg-tree-leaf kg-tree-" + kind }, head);
    return el("details", { class: "kg-tree-node kg-tree-" + kind, open: open || kind === "inferred" ? true : null },
      el("summary", {}, head), el("div", { class: "kg-tree-body" }, body));
  }
  kg.explainTree = function (tree) { return el("div", { class: "kg-explanation" }, render(tree, true)); };
})(window.kg);
