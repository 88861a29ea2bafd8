/* /article/DOC: highlight the quote named in the URL fragment, show the facts behind a passage. */
"use strict";
(function (kg) {
  const el = kg.el;
  const quotes = JSON.parse(document.getElementById("kg-quotes").textContent);
  const side = document.getElementById("kg-article-facts");
  function ref(r) { return r.href ? el("a", { href: r.href, title: r.iri || "" }, r.text) : el("span", { class: "kg-literal" }, r.text); }
  function show(keys) {
    const blocks = [];
    for (const key of keys) {
      const q = quotes[key];
      if (!q) continue;
      blocks.push(el("section", { class: "kg-quote-facts", "data-q": key },
        el("blockquote", { class: "kg-quote" }, "\u201c" + q.exact + "\u201d ", el("a", { href: "#q-" + key, class: "kg-small" }, "[" + key + ")")),
        q.facts.length ? el("ul", {}, q.facts.map((f) => el("li", {}, ref(f.s), " ", el("i", {}, f.p.text), " ", ref(f.o),
          f.derived ? el("div", { class: "kg-small kg-muted" }, "derived: " + f.derived) : null))) : null,
        q.mentions.length ? el("p", { class: "kg-small" }, "mentions: ", q.mentions.map((m, i) => [i ? ", " : "", ref(m)])) : null));
    }
    side.replaceChildren(...blocks);
    document.getElementById("kg-article-hint").hidden = blocks.length > 0;
  }
  function mark(key) {
    for (const s of document.querySelectorAll(".kg-target")) s.classList.remove("kg-target");
    if (!key) return;
    const spans = [...document.querySelectorAll(".kg-q")].filter((s) => s.dataset.q.split(" ").includes(key));
    for (const s of spans) s.classList.add("kg-target");
    if (spans.length) spans[0].scrollIntoView({ block: "center" });
    show([key]);
  }
  function fromHash() {
    const m = /^#q-(\d+-\d+)$/.exec(window.location.hash);
    mark(m ? m[1] : null);
  }
  document.getElementById("kg-article-text")?.addEventListener("click", (ev) => {
    const span = ev.target.closest(".kg-q");
    if (!span) return;
    const keys = span.dataset.q.split(" ");
    // the innermost (shortest) quote first
    keys.sort((a, b) => (quotes[a].end - quotes[a].start) - (quotes[b].end - quotes[b].start));
    for (const s of document.querySelectorAll(".kg-target")) s.classList.remove("kg-target");
    for (const s of document.querySelectorAll(".kg-q")) if (s.dataset.q.split(" ").includes(keys[0])) s.classList.add("kg-target");
    show(keys);
  });
  window.addEventListener("hashchange", fromHash);
  fromHash();
  document.body.dataset.ready = "1";
})(window.kg);
