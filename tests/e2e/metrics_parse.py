#!/usr/bin/python3
"""Parse a Prometheus text page with the real client library's parser and check expectations.

usage: metrics_parse.py FILE EXPECTATION...

FILE is the page as scraped ("-" for stdin). Each EXPECTATION is one of
  NAME                       some sample of NAME exists
  NAME{k="v",...}==VALUE     the sample with exactly these labels has VALUE
  NAME{k="v",...}>=VALUE     ... at least VALUE
  NAME:TYPE                  (NAME without colons) the family that holds NAME has this TYPE (gauge, counter, ...)
Exits 0 when the page parses and every expectation holds; otherwise prints why and exits 1.
"""
import re
import sys

from prometheus_client.parser import text_string_to_metric_families


def main() -> int:
    path, expectations = sys.argv[1], sys.argv[2:]
    text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()
    if not text.endswith("\n"):
        print("page does not end with a newline")
        return 1

    samples = {}  # (name, frozenset(labels)) -> value
    types = {}  # sample name -> family type
    try:
        for fam in text_string_to_metric_families(text):
            if not fam.documentation:
                print(f"family {fam.name}: no HELP text")
                return 1
            for s in fam.samples:
                key = (s.name, frozenset(s.labels.items()))
                if key in samples:
                    print(f"duplicate series {s.name}{dict(s.labels)}")
                    return 1
                samples[key] = s.value
                types[s.name] = fam.type
    except Exception as e:  # the parser raises ValueError and friends on bad input
        print(f"prometheus_client parser refused the page: {type(e).__name__}: {e}")
        return 1
    if not samples:
        print("no samples")
        return 1

    bad = 0
    for exp in expectations:
        m = re.fullmatch(r'([a-zA-Z_][a-zA-Z0-9_]*)(?::([a-z]+))?(?:\{(.*)\})?(?:(==|>=)(-?[0-9.e+-]+))?', exp)
        if not m:
            print(f"bad expectation {exp!r}")
            return 2
        name, typ, labels, op, value = m.groups()
        if typ:
            if types.get(name) != typ:
                print(f"{name}: type {types.get(name)}, expected {typ}")
                bad += 1
            continue
        if labels is None and op is None:
            if not any(n == name for n, _ in samples):
                print(f"{name}: no sample")
                bad += 1
            continue
        want = frozenset(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"', labels or ""))
        got = samples.get((name, want))
        if got is None:
            have = [dict(l) for n, l in samples if n == name]
            print(f"{exp}: no such series; {name} has {have}")
            bad += 1
        elif op == "==" and got != float(value) or op == ">=" and got < float(value):
            print(f"{exp}: value is {got}")
            bad += 1
    print(f"{len(samples)} samples parsed; {len(expectations) - bad}/{len(expectations)} expectations hold")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
