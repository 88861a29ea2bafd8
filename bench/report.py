"""The benchmark's outputs: ``latest.md`` (tables), ``latest.json`` (everything), ``latest.png``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CLASSES = ("cheap", "light", "engine-bound", "repeated")


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:,.3g}" if abs(v) < 100 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _table(head: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(_fmt(x) for x in r) + " |" for r in rows]
    return out + [""]


def markdown(res: dict[str, Any]) -> str:
    """The results as Markdown: machine, targets, ratios, throughput/latency, loads, extras."""
    m, p, d = res["machine"], res["params"], res["data"]
    lines = [f"# kgraph benchmark ({d['triples']:,} triples, seed {p['seed']})", "",
             f"`python -m bench run --triples {p['triples']} --duration {p['duration_s']:g} "
             f"--connections {','.join(map(str, p['connections']))} "
             f"--contestants {','.join(p['contestants'])}`"
             + (f", {res['elapsed_s']:.0f} s in all" if "elapsed_s" in res else ""), "",
             "## Machine", ""]
    lines += _table(["what", "value"], [[k, v] for k, v in m.items()])
    if res.get("targets"):
        lines += ["## Targets (issue 9; kgraph embedded against Oxigraph server, same run)", ""]
        lines += _table(["target", "wanted", "measured", "verdict"],
                        [[t["target"], t["wanted"], t["measured"], t["verdict"]]
                         for t in res["targets"]])
    cons = res.get("contestants", {})
    rat = res.get("ratios", {})
    if rat:
        conns = [str(c) for c in p["connections"]]
        lines += ["## Throughput ratio to Oxigraph server (p99 ratio in brackets)", ""]
        head = ["contestant", "class", *[f"{c} conn" for c in conns]]
        rows = []
        for key, by_cls in rat.items():
            for cls in CLASSES:
                if cls in by_cls:
                    label = cons[key]["label"] if key in cons else "Virtuoso 7 direct (reference)"
                    rows.append([f"({key}) {label}", cls, *[
                        f"{_fmt(by_cls[cls][c]['throughput'])}x ({_fmt(by_cls[cls][c]['p99'])}x)"
                        if c in by_cls[cls] else "–" for c in conns]])
        lines += _table(head, rows)
    if cons:
        lines += ["## Throughput and latency", "",
                  "Answers with a 2xx status per second, p50 and p99 latency in ms (of every "
                  "response); errors = connect/read/write errors, timeouts and HTTP status "
                  ">= 400 counted by wrk.", ""]
        rows = []
        for key, c in cons.items():
            if "not_run" in c:
                rows.append([f"({key}) {c['label']}", "not run: " + c["not_run"][:160],
                             "", "", "", "", ""])
                continue
            for cls in CLASSES:
                for r in c["classes"].get(cls, []):
                    rows.append([f"({key}) {c['label']}", cls, r["connections"],
                                 r.get("ok_rps", r["rps"]), r["p50_ms"], r["p99_ms"],
                                 r["errors"]])
            for cls in CLASSES:
                for r in c.get("engine_direct", {}).get(cls, []):
                    rows.append(["(e0) Virtuoso 7 direct (reference)", cls, r["connections"],
                                 r.get("ok_rps", r["rps"]), r["p50_ms"], r["p99_ms"],
                                 r["errors"]])
        lines += _table(["contestant", "class", "conns", "answers/s (2xx)", "p50 ms", "p99 ms",
                         "errors"], rows)
        kinds = {k: c["error_kinds"] for k, c in cons.items() if c.get("error_kinds")}
        for k, kd in kinds.items():
            lines += [f"({k}) failed queries by exception: "
                      + ", ".join(f"{n} x{v}" for n, v in sorted(kd.items())), ""]
        lines += ["## Memory and answers", ""]
        lines += _table(["contestant", "peak RSS (MB, process tree)", "start-up s",
                         "answers agree with Oxigraph server"],
                        [[f"({k}) {c['label']}", c.get("peak_rss_mb"), c.get("start_s"),
                          ("yes" if c.get("answers_agree") else
                           f"no: {json.dumps(c.get('answer_mismatch'))[:200]}")
                          if "answers_agree" in c else "–"]
                         for k, c in cons.items() if "not_run" not in c])
    load = res.get("load", {})
    if load:
        lines += ["## Load", ""]
        lines += _table(["loader", "seconds", "triples/s", "peak RSS MB", "note"],
                        [[k, v.get("seconds"), v.get("triples_per_s"), v.get("peak_rss_mb"),
                          v.get("note", v.get("error", ""))]
                         for k, v in load.items() if isinstance(v, dict)])
        if "kgraph_over_oxigraph" in load:
            lines += [f"kgraph load / oxigraph load speed: **{load['kgraph_over_oxigraph']}x**", ""]
    if res.get("engine_ms"):
        lines += ["## Queries and their class (median in the embedded engine, JSON written)", ""]
        lines += _table(["query", "median ms", "max ms", "class"],
                        [[n, t["median_ms"], t["max_ms"], t["class"]]
                         for n, t in res["engine_ms"].items()])
    streams = [(k, c["stream"]) for k, c in cons.items() if "stream" in c]
    if streams:
        lines += ["## Large SELECT (TSV), streamed", ""]
        lines += _table(["contestant", "rows", "first byte s", "total s", "RSS before MB",
                         "RSS peak MB"],
                        [[f"({k}) {cons[k]['label']}", s["rows"], s["ttfb_s"], s["total_s"],
                          s["rss_before_mb"], s["rss_peak_mb"]] for k, s in streams])
    if res.get("reasoning"):
        lines += ["## Reasoning (materialize on an in-memory store)", ""]
        lines += _table(["triples", "engine", "seconds", "inferred", "peak RSS MB"],
                        [[r["triples"], r["engine"], r.get("seconds", r.get("error")),
                          r.get("inferred"), r.get("peak_rss_mb")] for r in res["reasoning"]])
    return "\n".join(lines)


def plot(res: dict[str, Any], path: Path) -> None:
    """Throughput ratio per contestant and class (largest connection count) and load rates."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rat = res.get("ratios", {})
    conns = str(max(res["params"]["connections"]))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    keys = list(rat)
    width = 0.8 / max(1, len(keys))
    for i, key in enumerate(keys):
        vals = [rat[key].get(cls, {}).get(conns, {}).get("throughput") or 0 for cls in CLASSES]
        xs = [j + i * width for j in range(len(CLASSES))]
        label = res["contestants"][key]["label"] if key in res["contestants"] else "Virtuoso direct"
        ax1.bar(xs, vals, width, label=f"({key}) {label}")
    ax1.axhline(1.0, color="k", lw=0.8, ls="--")
    ax1.set_xticks([j + width * (len(keys) - 1) / 2 for j in range(len(CLASSES))], CLASSES)
    ax1.set_ylabel(f"throughput / Oxigraph server ({conns} connections)")
    ax1.set_yscale("log")
    if keys:
        ax1.legend(fontsize=7)
    ax1.set_title(f"{res['data']['triples']:,} triples, random parameters")
    load = {k: v["triples_per_s"] for k, v in res.get("load", {}).items()
            if isinstance(v, dict) and "triples_per_s" in v}
    ax2.bar(list(load), list(load.values()), color="tab:gray")
    ax2.set_ylabel("load rate (triples/s)")
    ax2.set_title("load")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_outputs(res: dict[str, Any], out: Path, stem: str = "latest") -> list[Path]:
    """``STEM.json``, ``STEM.md`` and ``STEM.png`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.json", out / f"{stem}.md"]
    paths[0].write_text(json.dumps(res, indent=2) + "\n")
    paths[1].write_text(markdown(res) + "\n")
    if res.get("ratios") or res.get("load"):
        paths.append(out / f"{stem}.png")
        plot(res, paths[-1])
    return paths
