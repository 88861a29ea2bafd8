/* /explain: fetch the derivation tree of one triple and draw it. */
"use strict";
(async function (kg) {
  const box = document.getElementById("kg-explain");
  try {
    const tree = await kg.getJSON(box.dataset.src);
    box.replaceChildren(kg.explainTree(tree));
    box.dataset.ready = "1";
  } catch (err) {
    box.replaceChildren(kg.el("p", { class: "kg-error" }, "No explanation: " + err.message));
    box.dataset.ready = "error";
  }
})(window.kg);
