/* /timeline: dated statements of the knowledge base in vis-timeline, grouped by kind. */
"use strict";
(async function (kg) {
  const box = document.getElementById("kg-timeline");
  const status = document.getElementById("kg-timeline-status");
  let data;
  try {
    data = await kg.getJSON(box.dataset.src);
  } catch (err) {
    status.textContent = "could not load the timeline: " + err.message;
    return;
  }
  const items = new vis.DataSet(data.items.map((i) => ({
    // a year or a month is drawn at its start, its label saying so (a range's box would
    // be too narrow for its label at the scale of decades)
    id: i.id, group: i.group, start: i.start, href: i.href, type: "point",
    content: i.content + (i.precision === "gYear" || i.precision === "gYearMonth" ? " (" + i.date + ")" : ""),
    title: i.content + " \u2014 " + i.property + ": " + i.date, className: "kg-tl-" + i.group,
  })));
  const groups = new vis.DataSet(data.groups);
  const shown = () => new Set([...document.querySelectorAll("#kg-timeline-filters input[name=kind]:checked")].map((i) => i.value));
  let kinds = shown();
  const view = new vis.DataView(items, { filter: (i) => kinds.has(i.group) });
  const timeline = new vis.Timeline(box, view, groups, {
    stack: true, showCurrentTime: false, zoomMin: 1000 * 60 * 60 * 24 * 7, orientation: "top", maxHeight: "75vh",
    tooltip: { followMouse: true },
  });
  function refresh() {
    // a group must exist while items of it are shown: show groups first, hide them last
    kinds = shown();
    groups.update(groups.get().filter((g) => kinds.has(g.id)).map((g) => ({ id: g.id, visible: true })));
    view.refresh();
    groups.update(groups.get().filter((g) => !kinds.has(g.id)).map((g) => ({ id: g.id, visible: false })));
    status.textContent = view.length + " dated statements";
    const shownItems = view.get();
    if (shownItems.length) {
      // fit, with room on the right for the labels of the latest items
      const times = shownItems.map((i) => Date.parse(i.start));
      const lo = Math.min(...times), hi = Math.max(...times);
      const span = Math.max(hi - lo, 1000 * 60 * 60 * 24 * 60);
      timeline.setWindow(lo - span * 0.03, hi + span * 0.5, { animation: false });
    }
  }
  document.getElementById("kg-timeline-filters").addEventListener("change", refresh);
  timeline.on("select", (props) => {
    if (props.items.length === 1) {
      const it = items.get(props.items[0]);
      if (it && it.href) window.location.href = it.href;
    }
  });
  refresh();
  box.dataset.ready = "1";
  window.kgTimeline = timeline;
})(window.kg);
