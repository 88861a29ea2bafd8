// kgraph's query editor: Yasqe (editing, completion) and Yasr (results) from the vendored
// packages, with a graph view (vis-network) for CONSTRUCT/DESCRIBE answers, a timeline view
// (vis-timeline) for answers that hold dates, the `#defaultView:` comment of the Wikidata
// Query Service, and download links that ask the endpoint itself for every format it offers.
// Nothing here talks to any host but this server: Yasqe's own prefix (prefix.cc) and
// class/property (LOV) completers are replaced by ones that read kgraph's JSON helpers.
(function () {
  "use strict";

  const cfg = JSON.parse(document.getElementById("kg-config").textContent);
  const XSD = "http://www.w3.org/2001/XMLSchema#";
  const DATE_TYPES = new Set(["date", "dateTime", "dateTimeStamp", "gYear", "gYearMonth"]
    .map((t) => XSD + t));
  const LABELS = new Set([
    "http://www.w3.org/2000/01/rdf-schema#label",
    "http://www.w3.org/2004/02/skos/core#prefLabel",
  ]);
  const GRAPH_MEDIA = new Set(cfg.formats.graph.map((f) => f.media_type));
  const EXTENSIONS = {
    "application/sparql-results+json": "srj", "application/sparql-results+xml": "srx",
    "text/csv": "csv", "text/tab-separated-values": "tsv", "text/turtle": "ttl",
    "application/n-triples": "nt", "application/rdf+xml": "rdf", "application/ld+json": "jsonld",
  };
  const VIEWS = { table: "table", graph: "graph", timeline: "timeline" };
  const MAX_NODES = 1500;
  const MAX_ITEMS = 2000;

  const $ = (id) => document.getElementById(id);
  const status = $("kg-status");
  const asserted = $("kg-asserted");

  function getJson(url) {
    return fetch(url, { headers: { Accept: "application/json" } }).then((r) => {
      if (!r.ok) throw new Error(`${url}: ${r.status}`);
      return r.json();
    });
  }

  // -- prefixes: kgraph's own, for completion and for showing IRIs short ------------------
  const prefixMap = Object.assign({}, cfg.prefixMap);
  function shortIri(iri, extra) {
    let best = null;
    for (const map of [extra || {}, prefixMap]) {
      for (const [p, ns] of Object.entries(map)) {
        if (ns && iri.startsWith(ns) && (!best || ns.length > best[1].length)) best = [p, ns];
      }
      if (best) break;
    }
    return best ? `${best[0]}:${iri.slice(best[1].length)}` : `<${iri}>`;
  }
  // kgraph's IRIs (https://w3id.org/kgraph/...) are served by this server under the same path.
  function localUrl(iri) {
    if (!iri.startsWith(cfg.resourceBase)) return null;
    return `${window.location.origin}${cfg.root}/${iri.slice(cfg.resourceBase.length)}`;
  }

  // -- completion: no completer may call outside --------------------------------------------
  const builtIn = Object.assign({}, Yasqe.Autocompleters);
  for (const name of ["prefixes", "property", "class"]) delete Yasqe.Autocompleters[name];
  Yasqe.defaults.autocompleters = [];
  Yasqe.defaults.prefixCcApi = null;
  const noStorage = () => undefined; // the store changes: never keep a list in localStorage
  const storeTerms = (kind) => () =>
    getJson(`${cfg.completions}?kind=${kind}`).then((d) => d.terms).catch((e) => {
      console.warn(e);
      return [];
    });
  Yasqe.registerAutocompleter({
    ...builtIn.prefixes,
    name: "kgPrefixes",
    persistenceId: noStorage,
    get: () => getJson(cfg.prefixes).then((d) =>
      Object.entries(d.prefixes).map(([p, ns]) => `${p}: <${ns}>`).sort()),
  }, false);
  Yasqe.registerAutocompleter({
    ...builtIn.property, name: "kgProperties", bulk: true, autoShow: true,
    persistenceId: noStorage, get: storeTerms("property"),
  }, false);
  Yasqe.registerAutocompleter({
    ...builtIn.class, name: "kgClasses", bulk: true, autoShow: true,
    persistenceId: noStorage, get: storeTerms("class"),
  }, false);

  // -- the editor -------------------------------------------------------------------------
  const tokenField = $("kg-token");
  if (tokenField) {
    tokenField.value = sessionStorage.getItem("kgraph_update_token") || "";
    tokenField.addEventListener("change", () =>
      sessionStorage.setItem("kgraph_update_token", tokenField.value.trim()));
  }
  const textarea = $("kg-query");
  const form = $("kg-form");
  const yasqe = new Yasqe($("kg-yasqe"), {
    value: textarea.value,
    persistenceId: cfg.initialQuery ? null : () => "kgraph_editor_query",
    autocompleters: ["variables", "kgPrefixes", "kgProperties", "kgClasses"],
    showQueryButton: true,
    resizeable: true,
    editorHeight: "320px",
    requestConfig: {
      endpoint: cfg.endpoint,
      method: "POST",
      acceptHeaderSelect: "application/sparql-results+json",
      acceptHeaderGraph: "text/turtle",
      acceptHeaderUpdate: "text/plain,*/*;q=0.9",
      args: () => (asserted.checked && yasqe.getQueryMode() === "query"
        ? [{ name: "inference", value: "false" }] : []),
      // updates need the server's token; it is sent with updates only, and kept for this
      // tab alone (sessionStorage)
      headers: () => {
        const token = tokenField ? tokenField.value.trim() : "";
        return token && yasqe.getQueryMode() === "update" ? { Authorization: `Bearer ${token}` } : {};
      },
    },
  });
  if (cfg.initialQuery) yasqe.setValue(cfg.initialQuery);
  textarea.hidden = true;
  $("kg-format-label").hidden = true;
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    yasqe.query().catch(() => {});
  });

  // -- the #defaultView: comment, read from the editor's own tokens ------------------------
  function requestedView() {
    const doc = yasqe.getDoc();
    for (let line = 0; line < doc.lineCount(); line++) {
      for (const token of yasqe.getLineTokens(line)) {
        if (token.type !== "comment") continue;
        const m = /#\s*defaultView\s*:\s*([A-Za-z]+)/.exec(token.string);
        if (m) return { name: m[1], view: VIEWS[m[1].toLowerCase()] || null };
      }
    }
    return null;
  }

  // -- results ----------------------------------------------------------------------------
  const SVG = "http://www.w3.org/2000/svg";
  const ICONS = {
    graph: "M6 6 L18 9 M6 6 L9 18 M18 9 L9 18 M3 6a3 3 0 1 0 6 0a3 3 0 1 0 -6 0 " +
      "M15 9a3 3 0 1 0 6 0a3 3 0 1 0 -6 0 M6 18a3 3 0 1 0 6 0a3 3 0 1 0 -6 0",
    timeline: "M2 12 H22 M5 8 V16 M12 6 V18 M19 9 V15",
  };
  function icon(name) {
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("class", "kg-view-icon");
    svg.setAttribute("aria-hidden", "true");
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", ICONS[name]);
    svg.append(path);
    return svg;
  }

  function termLabel(term, extra) {
    if (term.termType === "Literal") return term.value;
    if (term.termType === "BlankNode") return `_:${term.value}`;
    return shortIri(term.value, extra);
  }

  class GraphView {
    constructor(yasr) {
      this.yasr = yasr;
      this.priority = 5;
      this.label = "Graph";
    }
    // A graph answer (CONSTRUCT, DESCRIBE) as its triples; solutions (as the Wikidata Query
    // Service's graph view) as each row's first IRI linked to the row's other values.
    isGraph() {
      return this.yasr.results.getType() === "ttl";
    }
    canHandleResults() {
      const r = this.yasr.results;
      if (!r || r.getError()) return false;
      if (this.isGraph()) return r.getStatements().length > 0;
      return (r.getBindings() || []).some((b) => Object.values(b).some((v) => v.type === "uri"));
    }
    getIcon() {
      return icon("graph");
    }
    rowsAsStatements() {
      const term = (v) => (v.type === "uri" ? { termType: "NamedNode", value: v.value }
        : v.type === "bnode" ? { termType: "BlankNode", value: v.value }
          : { termType: "Literal", value: v.value, language: v["xml:lang"] || "" });
      const vars = this.yasr.results.getVariables();
      const out = [];
      for (const b of this.yasr.results.getBindings()) {
        const hub = vars.find((v) => b[v] && b[v].type === "uri");
        if (!hub) continue;
        for (const v of vars) {
          if (v === hub || !b[v]) continue;
          out.push({ subject: term(b[hub]), predicate: { termType: "Variable", value: v, isVar: true },
            object: term(b[v]) });
        }
      }
      return out;
    }
    draw() {
      const statements = this.isGraph() ? this.yasr.results.getStatements() : this.rowsAsStatements();
      const edgeLabel = (p) => (p.isVar ? `?${p.value}` : shortIri(p.value, extra));
      const extra = yasqe.getPrefixesFromQuery();
      const nodes = new Map();
      const edges = [];
      let truncated = false;
      const node = (term) => {
        const id = `${term.termType}:${term.value}`;
        if (!nodes.has(id)) {
          if (nodes.size >= MAX_NODES) {
            truncated = true;
            return null;
          }
          const isIri = term.termType === "NamedNode";
          nodes.set(id, {
            id, label: termLabel(term, extra), title: isIri ? term.value : undefined,
            iri: isIri ? term.value : undefined, shape: "dot", size: 12,
            color: isIri && term.value.startsWith(cfg.resourceBase) ? "#2f5fb3" : "#7b8aa6",
          });
        }
        return nodes.get(id);
      };
      let literals = 0;
      for (const st of statements) {
        const s = node(st.subject);
        if (!s) continue;
        if (st.object.termType === "Literal") {
          if (!st.predicate.isVar && LABELS.has(st.predicate.value) && !s.named) {
            s.label = st.object.value;
            s.named = !st.object.language || st.object.language.startsWith("en");
            continue;
          }
          if (nodes.size >= MAX_NODES) {
            truncated = true;
            continue;
          }
          const id = `lit:${literals++}`;
          const text = st.object.value.length > 40 ? `${st.object.value.slice(0, 39)}…` : st.object.value;
          nodes.set(id, { id, label: text, title: st.object.value, shape: "box",
            color: { background: "#f5f7fa", border: "#d9dee7" }, font: { size: 11 } });
          edges.push({ from: s.id, to: id, label: edgeLabel(st.predicate) });
        } else {
          const o = node(st.object);
          if (o) edges.push({ from: s.id, to: o.id, label: edgeLabel(st.predicate) });
        }
      }
      const box = document.createElement("div");
      box.className = "kg-visual kg-graph-view";
      this.yasr.resultsEl.appendChild(box);
      if (truncated) {
        const note = document.createElement("p");
        note.className = "kg-muted";
        note.textContent = `Showing the first ${MAX_NODES} nodes.`;
        this.yasr.resultsEl.insertBefore(note, box);
      }
      const data = { nodes: [...nodes.values()], edges };
      this.network = new vis.Network(box, data, {
        edges: { arrows: "to", font: { size: 10, align: "middle" }, color: "#9aa5b8",
          smooth: { type: "continuous" } },
        physics: { stabilization: { iterations: 150 }, barnesHut: { springLength: 140 } },
        interaction: { hover: true, tooltipDelay: 150 },
      });
      this.network.on("doubleClick", (ev) => {
        const picked = ev.nodes.length && nodes.get(ev.nodes[0]);
        if (picked && picked.iri) window.open(localUrl(picked.iri) || picked.iri, "_blank", "noopener");
      });
      box.dataset.nodes = String(data.nodes.length);
      box.dataset.edges = String(edges.length);
    }
    destroy() {
      if (this.network) this.network.destroy();
      this.network = null;
    }
  }

  // xsd:date, dateTime, gYear and gYearMonth as a JS Date (null if it is none of them).
  function dateOf(value) {
    if (!value || !DATE_TYPES.has(value.datatype)) return null;
    const v = value.value.trim();
    let iso = v;
    if (value.datatype === XSD + "gYear") iso = `${v.slice(0, 4)}-01-01`;
    else if (value.datatype === XSD + "gYearMonth") iso = `${v.slice(0, 7)}-01`;
    else if (value.datatype === XSD + "date") iso = v.slice(0, 10);
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? null : d;
  }

  function bindingLabel(value, extra) {
    if (!value) return "";
    if (value.type === "uri") return shortIri(value.value, extra);
    if (value.type === "bnode") return `_:${value.value}`;
    return value.value;
  }

  class TimelineView {
    constructor(yasr) {
      this.yasr = yasr;
      this.priority = 4;
      this.label = "Timeline";
    }
    dateVars() {
      const r = this.yasr.results;
      if (!r || r.getError()) return [];
      const bindings = r.getBindings() || [];
      return (r.getVariables() || []).filter((v) => bindings.some((b) => dateOf(b[v])));
    }
    canHandleResults() {
      return this.dateVars().length > 0;
    }
    getIcon() {
      return icon("timeline");
    }
    draw() {
      const r = this.yasr.results;
      const extra = yasqe.getPrefixesFromQuery();
      const dates = this.dateVars();
      const vars = r.getVariables();
      const others = vars.filter((v) => !dates.includes(v));
      const items = [];
      for (const b of r.getBindings()) {
        if (items.length >= MAX_ITEMS) break;
        const present = dates.map((v) => dateOf(b[v])).filter(Boolean);
        if (!present.length) continue;
        const literal = others.find((v) => b[v] && b[v].type !== "uri" && b[v].type !== "bnode");
        const named = literal || others.find((v) => b[v]);
        const text = named ? bindingLabel(b[named], extra) : present[0].toISOString().slice(0, 10);
        // vis-timeline takes strings as HTML: values go in as text nodes, never markup
        const content = document.createElement("span");
        content.textContent = text;
        const title = document.createElement("div");
        title.style.whiteSpace = "pre-line";
        title.textContent = vars.filter((v) => b[v])
          .map((v) => `${v}: ${bindingLabel(b[v], extra)}`).join("\n");
        const item = { id: items.length, content, start: present[0], title };
        if (present.length > 1 && present[1] > present[0]) {
          item.end = present[1];
          item.type = "range";
        } else {
          item.type = "point";
        }
        items.push(item);
      }
      const box = document.createElement("div");
      box.className = "kg-visual kg-timeline-view";
      this.yasr.resultsEl.appendChild(box);
      // open on the span of the dates, with a margin (a single date: a year either side),
      // wider on the right where the labels of the last points run
      const times = items.flatMap((i) => [i.start.getTime(), (i.end || i.start).getTime()]);
      const first = Math.min(...times);
      const last = Math.max(...times);
      const margin = last > first ? (last - first) * 0.05 : 365 * 86400000;
      this.timeline = new vis.Timeline(box, items, { stack: true, zoomKey: "ctrlKey",
        tooltip: { followMouse: true }, height: "100%", orientation: { axis: "top", item: "top" },
        showCurrentTime: false,
        start: new Date(first - margin), end: new Date(last + 6 * margin) });
      box.dataset.items = String(items.length);
    }
    destroy() {
      if (this.timeline) this.timeline.destroy();
      this.timeline = null;
    }
  }

  Yasr.registerPlugin("graph", GraphView);
  Yasr.registerPlugin("timeline", TimelineView);
  const yasr = new Yasr($("kg-yasr"), {
    persistenceId: null,
    prefixes: () => Object.assign({}, prefixMap, yasqe.getPrefixesFromQuery()),
    pluginOrder: ["table", "graph", "timeline", "response"],
    defaultPlugin: "table",
  });
  // kgraph's IRIs in the table open this server's own page for them.
  yasr.on("drawn", () => {
    document.body.dataset.view = yasr.drawnPlugin || "";
    for (const a of yasr.resultsEl.querySelectorAll("a[href]")) {
      const local = localUrl(a.getAttribute("href"));
      if (local) a.setAttribute("href", local);
    }
  });

  // -- downloads: the same query, from the endpoint, in each format it offers --------------
  const downloads = $("kg-downloads");
  function showDownloads(query, mediaType) {
    downloads.replaceChildren();
    const formats = GRAPH_MEDIA.has(mediaType) ? cfg.formats.graph : cfg.formats.solutions;
    const label = document.createElement("span");
    label.textContent = "Download:";
    downloads.append(label);
    for (const f of formats) {
      const params = new URLSearchParams({ query, format: f.name });
      if (asserted.checked) params.set("inference", "false");
      const a = document.createElement("a");
      a.href = `${cfg.endpoint}?${params}`;
      a.download = `query-result.${EXTENSIONS[f.media_type] || "txt"}`;
      a.textContent = f.name.toUpperCase();
      a.title = f.media_type;
      a.dataset.mediaType = f.media_type;
      downloads.append(a);
    }
    downloads.hidden = false;
  }

  let running = null;
  yasqe.on("query", () => {
    running = yasqe.getValue();
    status.textContent = "Running…";
    downloads.hidden = true;
  });
  // Yasqe runs this listener inside its query's try block, and would report anything it
  // throws as a failed query: a fault here is re-thrown outside, as the page's own error.
  yasqe.on("queryResponse", (_yasqe, response, duration) => {
    try {
      showResponse(response, duration);
    } catch (err) {
      status.textContent = "The results could not be shown.";
      setTimeout(() => {
        throw err;
      });
    }
  });
  function showResponse(response, duration) {
    const query = running || yasqe.getValue();
    const failed = response instanceof Error || !response || !response.ok;
    const mediaType = failed ? "" :
      (response.headers.get("Content-Type") || "").split(";")[0].trim().toLowerCase();
    const wanted = requestedView();
    let view = GRAPH_MEDIA.has(mediaType) ? "graph" : "table";
    let note = "";
    if (wanted && wanted.view) view = wanted.view;
    else if (wanted) note = ` (#defaultView:${wanted.name} is not a view here: Table, Graph or Timeline)`;
    if (!failed && yasqe.getQueryMode() === "update") {
      // an update answers 204 and no body: there is nothing for Yasr to show
      yasr.results = undefined;
      const done = document.createElement("p");
      done.className = "kg-update-done";
      done.textContent = `Update applied (HTTP ${response.status}) in ${duration} ms.`;
      yasr.resultsEl.replaceChildren(done);
      document.body.dataset.view = "update";
      status.textContent = "Update applied.";
      downloads.hidden = true;
      return;
    }
    yasr.selectedPlugin = view;
    yasr.setResponse(response, duration);
    status.textContent = failed ? "The query failed." :
      `Done in ${duration} ms${note}.`;
    if (!failed && yasqe.getQueryMode() === "query") showDownloads(query, mediaType);
  }

  // -- the examples: one click loads one into the editor ------------------------------------
  const examples = new Map(cfg.examples.map((e) => [e.name, e.query]));
  for (const button of document.querySelectorAll(".kg-example")) {
    button.addEventListener("click", () => {
      yasqe.setValue(examples.get(button.dataset.name) || "");
      yasqe.focus();
      status.textContent = `Loaded the example ${button.dataset.name}: Ctrl-Enter runs it.`;
    });
  }

  window.kgraphEditor = { yasqe, yasr };
  document.body.dataset.editorReady = "true";
})();
