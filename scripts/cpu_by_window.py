"""Attributes `perf script -F pid,time,ip,sym,dso` samples of the client process to the
contender of `benches/mtls_cost.rs --cpu --windows` that was running at each sample's time,
and prints samples per request per contender (user and kernel), then the symbols whose share
differs most between keyswap and reqwest. Used by scripts/bench-cpu-profile.sh.

    python3 scripts/cpu_by_window.py WINDOWS SAMPLES REQUESTS_PER_WINDOW
"""

import bisect
import collections
import re
import sys

SAMPLE = re.compile(r"^\s*(\d+)\s+([\d.]+):\s+[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$")


def windows(path):
    spans = []
    with open(path) as f:
        for line in f:
            if line.startswith("window "):
                _, who, start, end = line.split()
                spans.append((float(start), float(end), who))
    return sorted(spans)


def attribute(spans, path):
    """Samples per contender and (user|kernel, symbol); keyswap's own symbols are one group."""
    starts = [s[0] for s in spans]
    per = collections.defaultdict(collections.Counter)
    client = None
    with open(path) as f:
        for line in f:
            m = SAMPLE.match(line)
            if not m:
                continue
            pid, t, sym, dso = int(m[1]), float(m[2]), m[3], m[4]
            client = pid if client is None else client  # the bench's process samples first
            if pid != client:
                continue  # the server, a process of its own
            i = bisect.bisect_right(starts, t) - 1
            if i < 0 or t > spans[i][1]:
                continue  # between windows: set-up, printing
            space = "kernel" if "kernel" in dso else "user"
            per[spans[i][2]][(space, "keyswap::*" if "keyswap" in sym else sym)] += 1
    return per


def main():
    spans = windows(sys.argv[1])
    per = attribute(spans, sys.argv[2])
    requests = int(sys.argv[3])
    count = collections.Counter(who for _, _, who in spans)
    print("\nperf samples (10 kHz CPU clock) per 1,000 requests, client process")
    print(f"{'contender':<15}{'user':>8}{'kernel':>8}{'total':>8}  ratio to reqwest")
    total = {}
    for who in ("reqwest", "keyswap", "keyswap-fixed"):
        n = count[who] * requests / 1000
        user = sum(v for (s, _), v in per[who].items() if s == "user") / n
        kernel = sum(v for (s, _), v in per[who].items() if s == "kernel") / n
        total[who] = user + kernel
        print(f"{who:<15}{user:8.1f}{kernel:8.1f}{user + kernel:8.1f}  {total[who] / total['reqwest']:.3f}")
    a, b = per["keyswap"], per["reqwest"]
    na, nb = count["keyswap"] * requests / 1000, count["reqwest"] * requests / 1000
    diff = sorted(((a[k] / na - b[k] / nb, k) for k in set(a) | set(b)), reverse=True)
    print("\nper 1,000 requests, keyswap minus reqwest (samples): most in keyswap")
    for d, (space, sym) in diff[:15]:
        print(f"{d:+8.1f}  {space:<6} {sym[:100]}")
    print("most in reqwest")
    for d, (space, sym) in diff[::-1][:10]:
        print(f"{d:+8.1f}  {space:<6} {sym[:100]}")


if __name__ == "__main__":
    main()
