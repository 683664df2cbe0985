"""Similarity across a cohort: the inverted index against a plain all-pairs comparison, same run.

    .venv/bin/python bench/similarity.py [--students 600] [--planted 12] [--seed 7] [--json OUT]

The cohort is made here, from rubrics/cw2: every student's notebook is the skeleton's given code
with each task cell (the cells where skeleton and solution differ) written anew: about as many lines
as the solution's cell, a quarter of them the solution's own lines (students converge on the same
idioms), the rest random Python of the same kinds (assignments, calls, loops, conditions), then names
renamed. ``--planted`` pairs are copies: a student's notebook with every name renamed, comments and
blank lines added, indentation and spacing changed, cells reordered and a few lines inserted.

Measured: fingerprinting every notebook, then every pair ranked twice on the same fingerprints: by
the inverted index (``rank_pairs``) and by intersecting all n(n-1)/2 pairs (``rank_all_pairs``). The
script fails if the two rankings differ or if the planted pairs are not the top of the list.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import time
from pathlib import Path

import nbformat

from grader.similarity.fingerprints import fingerprint
from grader.similarity.ranking import rank_all_pairs, rank_pairs

REPO = Path(__file__).resolve().parent.parent
CW2 = REPO / "rubrics" / "cw2"
KEYWORDS = {
    "False", "None", "True", "and", "as", "def", "for", "if", "in", "is", "not", "or", "return", "with",
    "class", "else", "elif", "while", "import", "from", "lambda", "self", "super", "print", "range", "len",
}  # fmt: skip
NAMES = "x y z h out loss acc batch imgs feats grads logits probs mean std scale step idx total".split()
CALLS = "torch.randn torch.cat torch.sum F.relu nn.Linear np.mean len range model.forward opt.step plt.plot".split()
OPS = ["+", "-", "*", "/", "//", "**", "@"]


def _expr(rng: random.Random, depth: int = 0) -> str:
    roll = rng.random()
    if depth > 2 or roll < 0.3:
        return rng.choice([rng.choice(NAMES), str(rng.randint(0, 64)), f"{rng.random():.2f}", "'s'", "self.w"])
    if roll < 0.55:
        args = ", ".join(_expr(rng, depth + 1) for _ in range(rng.randint(0, 3)))
        kw = f", dim={rng.randint(0, 2)}" if rng.random() < 0.3 else ""
        return f"{rng.choice(CALLS)}({args}{kw})"
    if roll < 0.7:
        return f"{rng.choice(NAMES)}[{_expr(rng, depth + 1)}:{rng.randint(1, 9)}]"
    if roll < 0.8:
        return "[" + ", ".join(_expr(rng, depth + 1) for _ in range(rng.randint(1, 3))) + "]"
    return f"({_expr(rng, depth + 1)} {rng.choice(OPS)} {_expr(rng, depth + 1)})"


def _statements(rng: random.Random, count: int, indent: str = "") -> list[str]:
    lines: list[str] = []
    while len(lines) < count:
        roll = rng.random()
        if roll < 0.4:
            lines.append(f"{indent}{rng.choice(NAMES)} = {_expr(rng)}")
        elif roll < 0.55:
            lines.append(f"{indent}{rng.choice(NAMES)} {rng.choice(['+=', '-=', '*='])} {_expr(rng)}")
        elif roll < 0.7:
            lines.append(f"{indent}{rng.choice(CALLS)}({_expr(rng)})")
        elif roll < 0.8 and len(indent) < 8:
            lines.append(f"{indent}for {rng.choice(NAMES)} in range({_expr(rng)}):")
            lines += _statements(rng, rng.randint(1, 3), indent + "    ")
        elif roll < 0.9 and len(indent) < 8:
            lines.append(f"{indent}if {_expr(rng)} {rng.choice(['<', '>', '==', 'is not'])} {_expr(rng)}:")
            lines += _statements(rng, rng.randint(1, 3), indent + "    ")
        else:
            lines.append(f"{indent}with torch.no_grad():")
            lines += _statements(rng, rng.randint(1, 2), indent + "    ")
    return lines


def _rename(source: str, rng: random.Random) -> str:
    suffix = rng.choice(["_v2", "_mine", "X", "_", "Tmp", "_z"])
    return re.sub(r"\b[A-Za-z_]\w*\b", lambda m: m[0] if m[0] in KEYWORDS else m[0] + suffix, source)


def _task_cell(solution: str, rng: random.Random) -> str:
    """A student's own answer: the solution's shape, a quarter of its lines, the rest their own."""
    out: list[str] = []
    for line in solution.splitlines():
        indent = line[: len(line) - len(line.lstrip())]
        if not line.strip() or line.rstrip().endswith((":", ",", "(", "[")) or rng.random() < 0.25:
            out.append(line)  # block headers and continued lines stay: the cell must still tokenize
        else:
            out += _statements(rng, 1, indent)
    return "\n".join(out)


def _reformat(source: str, rng: random.Random) -> str:
    out = []
    for line in source.splitlines():
        body = line.lstrip(" ")
        indent = " " * ((len(line) - len(body)) // 2)  # four spaces -> two
        body = body.replace(", ", ",") if rng.random() < 0.5 else body.replace(",", ", ")
        out.append(indent + body + ("  # changed this" if rng.random() < 0.3 and not body.endswith(",") else ""))
        if rng.random() < 0.15:
            out.append("")
        if rng.random() < 0.05 and body and not body.endswith((":", ",", "(", "[")):
            out.append(indent + "debug_value = 0")
    return "\n".join(out)


def cohort(students: int, planted: int, seed: int) -> tuple[dict[str, list[str]], list[str], set[tuple[str, str]]]:
    """Notebooks (code cells) by key, the skeleton's code cells, and the planted pairs."""
    rng = random.Random(seed)
    skeleton = [c for c in nbformat.read(CW2 / "skeleton.ipynb", 4).cells if c.cell_type == "code"]
    solution = {c.id: c.source for c in nbformat.read(CW2 / "solution.ipynb", 4).cells if c.cell_type == "code"}
    tasks = {c.id for c in skeleton if solution[c.id] != c.source}
    notebooks: dict[str, list[str]] = {}
    for n in range(students - planted):
        notebooks[f"s{n:04d}"] = [
            _rename(_task_cell(solution[c.id], rng), rng) if c.id in tasks else c.source for c in skeleton
        ]
    pairs = set()
    for n, original in enumerate(rng.sample(sorted(notebooks), planted)):
        cells = [
            _rename(_reformat(s, rng), rng) if c.id in tasks else s
            for c, s in zip(skeleton, notebooks[original], strict=True)
        ]
        order = [i for i, c in enumerate(skeleton) if c.id in tasks]
        shuffled = rng.sample(order, len(order))
        moved = list(cells)
        for to, frm in zip(order, shuffled, strict=True):
            moved[to] = cells[frm]
        copy = f"c{n:04d}"
        notebooks[copy] = moved
        pairs.add(tuple(sorted((original, copy))))
    return notebooks, [c.source for c in skeleton], pairs  # type: ignore[return-value]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=600)
    parser.add_argument("--planted", type=int, default=12)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=3, help="timings are the median of this many")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    notebooks, skeleton_cells, planted = cohort(args.students, args.planted, args.seed)
    lines = statistics.median(sum(s.count("\n") + 1 for s in cells) for cells in notebooks.values())
    started, cpu = time.perf_counter(), time.process_time()
    docs = {key: fingerprint(cells) for key, cells in notebooks.items()}
    fingerprint_s, fingerprint_cpu = time.perf_counter() - started, time.process_time() - cpu
    hashes = {key: d.hashes for key, d in docs.items()}
    skeleton = fingerprint(skeleton_cells).hashes

    # Wall and CPU time both: on a shared machine the CPU seconds are the steadier measure.
    index_s, baseline_s, index_cpu, baseline_cpu = [], [], [], []
    for _ in range(args.runs):
        started, cpu = time.perf_counter(), time.process_time()
        ranked = rank_pairs(hashes, skeleton=skeleton)
        index_s.append(time.perf_counter() - started)
        index_cpu.append(time.process_time() - cpu)
        started, cpu = time.perf_counter(), time.process_time()
        baseline = rank_all_pairs(hashes, skeleton=skeleton)
        baseline_s.append(time.perf_counter() - started)
        baseline_cpu.append(time.process_time() - cpu)

    top = {(p.a, p.b) for p in ranked[: len(planted)]}
    result = {
        "notebooks": len(notebooks),
        "pairs": len(notebooks) * (len(notebooks) - 1) // 2,
        "median_code_lines": lines,
        "fingerprint_s": round(fingerprint_s, 3),
        "fingerprint_cpu_s": round(fingerprint_cpu, 3),
        "index_s": round(statistics.median(index_s), 4),
        "all_pairs_s": round(statistics.median(baseline_s), 4),
        "speedup": round(statistics.median(baseline_s) / statistics.median(index_s), 1),
        "index_cpu_s": round(statistics.median(index_cpu), 4),
        "all_pairs_cpu_s": round(statistics.median(baseline_cpu), 4),
        "speedup_cpu": round(statistics.median(baseline_cpu) / statistics.median(index_cpu), 1),
        "pairs_listed": len(ranked),
        "same_ranking": ranked == baseline,
        "planted": len(planted),
        "planted_on_top": len(top & planted),
        "lowest_planted_score": round(min(p.score for p in ranked if (p.a, p.b) in planted), 3),
        "best_other_score": round(max((p.score for p in ranked if (p.a, p.b) not in planted), default=0.0), 3),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    ok = result["same_ranking"] and result["planted_on_top"] == len(planted)
    print("ok" if ok else "FAILED: the rankings differ or a planted pair is not on top", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
