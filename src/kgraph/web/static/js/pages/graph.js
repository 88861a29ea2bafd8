/* /graph: the knowledge graph in vis-network; filter by kind, click a node to open it. */
"use strict";
(async function (kg) {
  const box = document.getElementById("kg-graph");
  const status = document.getElementById("kg-graph-status");
  const COLORS = { state: "#2f5fb3", person: "#c2571a", treaty: "#2e8b57", obligation: "#8e44ad",
    claim: "#b03a48", event: "#b8860b", organization: "#4a7f8c", document: "#6b6b6b", other: "#9aa3b0" };
  const SHAPES = { state: "dot", person: "dot", treaty: "box", obligation: "diamond", claim: "triangle",
    event: "star", organization: "square", document: "box", other: "dot" };
  let data;
  try {
    data = await kg.getJSON(box.dataset.src);
  } catch (err) {
    status.textContent = "could not load the graph: " + err.message;
    return;
  }
  const counts = {};
  for (const n of data.nodes) counts[n.kind] = (counts[n.kind] || 0) + 1;
  for (const span of document.querySelectorAll(".kg-count")) span.textContent = "(" + (counts[span.dataset.kind] || 0) + ")";
  // claims are long sentences: their words are in the tooltip, not on the canvas
  const FONT = { state: 26, person: 18, treaty: 20, obligation: 18, organization: 15, event: 15, document: 15, other: 13 };
  const nodes = new vis.DataSet(data.nodes.map((n) => ({
    id: n.id, label: n.kind === "claim" ? undefined : (n.label.length > 40 ? n.label.slice(0, 38) + "\u2026" : n.label),
    title: n.label + "\n" + n.curie + " (" + n.kind + ")", kind: n.kind, href: n.href,
    shape: SHAPES[n.kind] || "dot", color: COLORS[n.kind] || COLORS.other,
    font: SHAPES[n.kind] === "box" ? { color: "#ffffff", size: FONT[n.kind] || 13 }
      : { color: "#1d2430", size: FONT[n.kind] || 13, strokeWidth: 3, strokeColor: "#ffffff" },
    size: n.kind === "state" ? 24 : n.kind === "claim" ? 9 : 13,
  })));
  const edges = new vis.DataSet(data.edges.map((e, i) => ({
    id: i, from: e.from, to: e.to, title: e.label + " (" + e.property + ")" + (e.inferred ? ", inferred" : ""),
    inferred: e.inferred, dashes: e.inferred, arrows: "to",
    color: { color: e.inferred ? "#c9a36a" : "#9aa3b0" }, font: { size: 9, color: "#5b6575", strokeWidth: 2 },
  })));
  const shown = () => new Set([...document.querySelectorAll("#kg-graph-filters input[name=kind]:checked")].map((i) => i.value));
  let kinds = shown();
  let inferred = document.getElementById("kg-show-inferred").checked;
  const nodeView = new vis.DataView(nodes, { filter: (n) => kinds.has(n.kind) });
  const edgeView = new vis.DataView(edges, { filter: (e) => inferred || !e.inferred });
  const network = new vis.Network(box, { nodes: nodeView, edges: edgeView }, {
    physics: { solver: "forceAtlas2Based", stabilization: { iterations: 200, updateInterval: 50 },
      forceAtlas2Based: { gravitationalConstant: -120, springLength: 140, avoidOverlap: 0.5 } },
    nodes: { scaling: { label: { drawThreshold: 3 } } },
    layout: { randomSeed: 7 }, // the same picture on every load
    interaction: { hover: true, tooltipDelay: 150 },
    edges: { smooth: { type: "continuous" } },
  });
  function refresh() {
    kinds = shown();
    inferred = document.getElementById("kg-show-inferred").checked;
    nodeView.refresh();
    edgeView.refresh();
    status.textContent = nodeView.length + " nodes, " + edgeView.get().filter((e) => kinds.has(nodes.get(e.from).kind) && kinds.has(nodes.get(e.to).kind)).length + " links";
  }
  document.getElementById("kg-graph-filters").addEventListener("change", refresh);
  document.getElementById("kg-graph-search").addEventListener("change", (ev) => {
    const q = ev.target.value.trim().toLowerCase();
    if (!q) return;
    const hit = nodeView.get().find((n) => n.title.toLowerCase().includes(q));
    if (hit) { network.selectNodes([hit.id]); network.focus(hit.id, { scale: 1.3, animation: true }); }
  });
  network.on("click", (params) => {
    if (params.nodes.length === 1) {
      const n = nodes.get(params.nodes[0]);
      if (n && n.href) window.location.href = n.href;
    }
  });
  network.once("stabilizationIterationsDone", () => {
    network.setOptions({ physics: false }); // laid out: keep still, so nodes stay where they are clicked
    box.dataset.ready = "1";
  });
  network.once("afterDrawing", () => { box.dataset.drawn = "1"; });
  refresh();
  window.kgNetwork = network; // for the browser tests and the console
})(window.kg);
