"""Log parsing shared by bench/failover.sh and bench/site-failover.sh."""
import datetime
import math
import re


def local_ts(s):
    """vaned's and `ip -ts`'s timestamps are local wall-clock time."""
    return datetime.datetime.fromisoformat(s).timestamp()


def route_gone_events(path, prefix="203.0.113.10", nexthop="192.0.2.11"):
    """Times of `ip -ts -o monitor route` events that leave `prefix` without `nexthop`, sorted."""
    out = []
    for line in open(path):
        m = re.match(r"\[([0-9T:.-]+)\]\s*(.*)", line)
        if not m or prefix not in m.group(2):
            continue
        body = m.group(2)
        if (nexthop in body) if body.startswith("Deleted") else (nexthop not in body):
            out.append(local_ts(m.group(1)))
    return sorted(out)


def log_times(path, pattern):
    """Times of vaned log lines whose message matches `pattern`, sorted; [] without the file."""
    try:
        lines = open(path).read().splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        m = re.match(r"(\S+) \S+ (.*)", line)
        if m and re.match(pattern, m.group(2)):
            out.append(local_ts(m.group(1)))
    return sorted(out)


def first_after(xs, t, limit=30.0):
    """The first of the sorted times `xs` in [t, t + limit], or None."""
    for x in xs:
        if t <= x <= t + limit:
            return x
    return None


def pct(xs, p):
    """Nearest-rank percentile; nan for no values."""
    xs = sorted(xs)
    return xs[max(0, math.ceil(p / 100 * len(xs)) - 1)] if xs else float("nan")
