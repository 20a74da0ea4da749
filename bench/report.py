#!/usr/bin/env python3
"""Prints bench/results.json as the Markdown tables used in Docs/benchmarks.md."""
import json
import os
import sys

path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "results.json")
with open(path) as handle:
    results = json.load(handle)


def fmt(value, digits=0):
    return "-" if value is None else f"{value:,.{digits}f}"


def table(rows):
    print("| scenario | rps | p50 ms | p99 ms | errors | baseline | baseline rps | ratio | / simple-update | cores used |")
    print("|---|---:|---:|---:|---:|---|---:|---:|---:|---|")
    for r in rows:
        cores = ", ".join(f"{k} {v}" for k, v in sorted(r.get("cpu_cores", {}).items(), key=lambda kv: -kv[1]))
        print(f"| {r['name']} | {fmt(r['rps'])} | {fmt(r['p50_ms'], 2)} | {fmt(r['p99_ms'], 2)} | {r['errors']} | "
              f"{r['baseline'] or '-'} | {fmt(r['baseline_rps'])} | {fmt(r['ratio'], 2)} | {fmt(r.get('ratio_simple_update'), 2)} | {cores} |")


print(f"### {results['instances']} instances\n")
table(results["scenarios"])
print("\n### Baselines\n")
print("| baseline | rps | p50 ms | p99 ms |")
print("|---|---:|---:|---:|")
for name, b in results["baselines"].items():
    print(f"| {name} | {fmt(b['rps'])} | {fmt(b['p50_ms'], 2)} | {fmt(b['p99_ms'], 2)} |")
print("\n### Scaling (rps)\n")
counts = sorted(results["scaling"], key=int)
names = [r["name"] for r in results["scaling"][counts[0]]]
print("| scenario | " + " | ".join(f"{n} instance(s)" for n in counts) + " |")
print("|---|" + "---:|" * len(counts))
for name in names:
    cells = []
    for n in counts:
        row = next((r for r in results["scaling"][n] if r["name"] == name), None)
        cells.append(fmt(row["rps"]) + (f" ({fmt(row['ratio'], 2)})" if row and row["ratio"] is not None and name != "hot_seat_1000" else "") if row else "-")
    print(f"| {name} | " + " | ".join(cells) + " |")
c = results["correctness"]
print(f"\nCorrectness after the run: double_sold = {c['double_sold']}, money_conserved = {str(c['money_conserved']).lower()}.")
