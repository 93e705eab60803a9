#!/usr/bin/python3
"""monitoring/ against the daemon's source: the Grafana dashboard parses, and every PromQL
expression in it and in the alerting rules names only metrics vaned really exports (the names are
read from the reg.gauge/reg.counter calls in src/), so a renamed metric breaks this test instead
of silently emptying a panel or disarming an alert.

usage: check_monitoring.py SOURCE_DIR"""
import json
import pathlib
import re
import sys

FUNCTIONS = {
    "sum", "min", "max", "avg", "count", "count_values", "topk", "bottomk", "quantile", "stddev", "stdvar", "group",
    "rate", "irate", "increase", "delta", "idelta", "changes", "resets", "deriv", "time", "abs", "clamp_min",
    "clamp_max", "absent", "absent_over_time", "max_over_time", "min_over_time", "avg_over_time", "sum_over_time",
    "label_values", "and", "or", "unless", "bool", "offset", "vector", "scalar",
}
# Prometheus's own series for each target.
BUILTIN = {"up"}


def exported(src):
    names = set()
    for f in pathlib.Path(src, "src").rglob("*.cc"):
        names |= set(re.findall(r'reg\.(?:gauge|counter|histogram)\(\s*"([a-zA-Z_:][a-zA-Z0-9_:]*)"', f.read_text()))
    return names


def metrics_in(expr):
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)             # strings
    e = re.sub(r"\{[^}]*\}", "", e)                           # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)                          # ranges
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", e)
    e = re.sub(r"\$\w+", "", e)                               # dashboard variables
    e = re.sub(r"label_values\(([^,)]*),[^)]*\)", r"\1", e)   # Grafana: label_values(SERIES, LABEL)
    return {t for t in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", e) if t not in FUNCTIONS}


def main():
    src = sys.argv[1]
    known = exported(src)
    errors = []
    if len(known) < 20 or "vane_bgp_session_up" not in known:
        errors.append("found only %d metric names in src/: the pattern no longer matches the code" % len(known))
    known |= BUILTIN

    exprs = []  # (where, expr)
    dash = json.loads(pathlib.Path(src, "monitoring/vane.dashboard.json").read_text())
    ids = [p["id"] for p in dash["panels"]]
    if len(ids) != len(set(ids)):
        errors.append("dashboard: duplicate panel ids")
    for p in dash["panels"]:
        if not p.get("targets"):
            errors.append("dashboard panel %r has no query" % p["title"])
        for t in p.get("targets", []):
            exprs.append(("dashboard panel %r" % p["title"], t["expr"]))
    for v in dash["templating"]["list"]:
        if v["type"] == "query":
            exprs.append(("dashboard variable %s" % v["name"], v["query"]))

    try:
        import yaml
    except ImportError:
        print("SKIP: python3-yaml missing for /usr/bin/python3")
        return 77
    rules = yaml.safe_load(pathlib.Path(src, "monitoring/vane.rules.yml").read_text())
    for g in rules["groups"]:
        for r in g["rules"]:
            exprs.append(("alert %s" % r.get("alert", r.get("record")), str(r["expr"])))

    for where, e in exprs:
        used = metrics_in(e)
        if not used:
            errors.append("%s: no metric in %r" % (where, e))
        for m in sorted(used - known):
            errors.append("%s: %s is not a metric vaned exports" % (where, m))
    for e in errors:
        print("FAIL:", e)
    print("%d expressions checked against %d metric names" % (len(exprs), len(known)))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
