/* Helpers shared by kgraph's picture pages: DOM building without innerHTML, links. */
"use strict";
window.kg = window.kg || {};
(function (kg) {
  const root = document.querySelector("meta[name=kg-root]");
  kg.root = root ? root.content : "";
  /** An element with attributes and children (strings become text nodes, never HTML). */
  kg.el = function (tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") e.className = v; else e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  };
  const KGR = "https://w3id.org/kgraph/resource/";
  const KGO = "https://w3id.org/kgraph/ontology#";
  const DOC = KGR + "document/";
  /** This server's page for one of our IRIs, else the IRI itself (http/https), else null. */
  kg.href = function (iri) {
    if (!iri) return null;
    if (iri.startsWith(KGR)) {
      return kg.root + "/resource/" + iri.slice(KGR.length).split("/").map(encodeURIComponent).join("/");
    }
    if (iri.startsWith(KGO)) return kg.root + "/ontology#" + iri.slice(KGO.length);
    return /^https?:\/\//.test(iri) ? iri : null;
  };
  /** The article page at a quote's offsets. */
  kg.quoteHref = function (q) {
    if (!q || q.start === undefined || !q.source || !q.source.startsWith(DOC)) return null;
    return kg.root + "/article/" + encodeURIComponent(q.source.slice(DOC.length)) + "#q-" + q.start + "-" + q.end;
  };
  /** A link (or plain text when there is nowhere to go). */
  kg.link = function (text, iri, attrs) {
    const h = kg.href(iri);
    return h ? kg.el("a", Object.assign({ href: h, title: iri }, attrs || {}), text) : kg.el("span", { title: iri || "" }, text);
  };
  kg.getJSON = async function (url, options) {
    const resp = await fetch(url, Object.assign({ headers: { Accept: "application/json" } }, options || {}));
    const text = await resp.text();
    let body;
    try { body = JSON.parse(text); } catch (e) { body = { error: text }; }
    if (!resp.ok) throw new Error((body && body.error) || ("HTTP " + resp.status));
    return body;
  };
})(window.kg);
