#!/usr/bin/env python3
"""Summarise Autobahn|Testsuite reports and hold them against the committed verdicts.

    summarise.py [--update] [--cases PATTERNS] [--exclude PATTERNS]
                 --role NAME REPORT_DIR EXPECTED_JSON [--role ...]

For each role: a table per case group (1.*, 2.*, ...) counting the `behavior` verdicts, the
non-OK cases with what wstest saw, and every difference from EXPECTED_JSON (a case whose
`behavior` or `behaviorClose` changed, a selected case missing from the report, a case not in
the expected file). Last line: `autobahn: N passed, M failed` over all roles, where passed is
OK + NON-STRICT + INFORMATIONAL. Exit status 1 on any difference (or a missing report).

--update rewrites EXPECTED_JSON with the measured verdicts of the selected cases (the others
are kept), keeping a case's "reason" while its verdict stays the same.
"""

import argparse
import json
import os
import re
import sys

PASSED = ("OK", "NON-STRICT", "INFORMATIONAL")
COLUMNS = ("OK", "NON-STRICT", "INFORMATIONAL", "FAILED", "UNIMPLEMENTED")
AGENT = "tunws"


def case_key(case_id):
    return tuple(int(part) for part in case_id.split("."))


def pattern_matcher(patterns):
    """Case patterns as wstest reads them: '*' is a wildcard, matched from the start."""
    regexes = []
    for pat in filter(None, (p.strip() for p in patterns.split(","))):
        if "*" in pat:
            regexes.append(re.compile(pat.replace(".", r"\.").replace("*", ".*")))
        else:
            regexes.append(re.compile(re.escape(pat) + "$"))
    return lambda case_id: any(r.match(case_id) for r in regexes)


def load_report(report_dir):
    """{case: {behavior, behaviorClose, detail}} from wstest's index.json, or None if absent."""
    index = os.path.join(report_dir, "index.json")
    if not os.path.exists(index):
        return None
    with open(index) as f:
        agents = json.load(f)
    cases = {}
    for case_id, entry in agents.get(AGENT, {}).items():
        detail = {}
        path = os.path.join(report_dir, entry.get("reportfile", ""))
        if entry.get("reportfile") and os.path.exists(path):
            with open(path) as f:
                detail = json.load(f)
        cases[case_id] = {
            "behavior": entry.get("behavior", "?"),
            "behaviorClose": entry.get("behaviorClose", "?"),
            "description": detail.get("description", ""),
            "result": detail.get("result", ""),
            "resultClose": detail.get("resultClose", ""),
        }
    return cases


def load_expected(path):
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def write_expected(path, expected):
    # One case a line, in case order, so that a verdict change is a one-line diff.
    lines = []
    for case_id in sorted(expected, key=case_key):
        lines.append("  %s: %s" % (json.dumps(case_id), json.dumps(expected[case_id], sort_keys=True)))
    with open(path, "w") as f:
        f.write("{\n" + ",\n".join(lines) + "\n}\n")


def squash(text, limit=160):
    text = re.sub(r"<[^>]+>", "", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def print_table(role, cases):
    groups = {}
    for case_id, res in cases.items():
        counts = groups.setdefault(int(case_id.split(".")[0]), dict.fromkeys(COLUMNS, 0))
        counts[res["behavior"]] = counts.get(res["behavior"], 0) + 1
    print("%s role:" % role)
    print("  %-6s %5s %10s %13s %6s %13s" % (("group",) + COLUMNS))
    total = dict.fromkeys(COLUMNS, 0)
    for group in sorted(groups):
        counts = groups[group]
        print("  %-6s %5d %10d %13d %6d %13d" % ((str(group) + ".*",) + tuple(counts[c] for c in COLUMNS)))
        for c in COLUMNS:
            total[c] += counts[c]
    print("  %-6s %5d %10d %13d %6d %13d" % (("all",) + tuple(total[c] for c in COLUMNS)))


def check_role(role, report_dir, expected_path, selected, update):
    """Prints the role's summary; returns (passed, failed, differences)."""
    cases = load_report(report_dir)
    expected = load_expected(expected_path)
    if cases is None:
        print("%s role: no report in %s (wstest did not finish)" % (role, report_dir))
        cases = {}
    cases = {c: r for c, r in cases.items() if selected(c)}
    if cases:
        print_table(role, cases)

    for case_id in sorted(cases, key=case_key):
        res = cases[case_id]
        if res["behavior"] != "OK" or res["behaviorClose"] != "OK":
            print("  %-8s %s / close %s: %s" % (case_id, res["behavior"], res["behaviorClose"], squash(res["description"], 90)))
            print("  %8s %s" % ("", squash(res["result"] + " | " + res["resultClose"])))

    differences = []
    missing = []
    if not expected and cases and not update:
        differences.append("%s is missing or empty: %d cases unchecked" % (expected_path, len(cases)))
        cases_to_compare = []
    else:
        cases_to_compare = sorted(set(cases) | {c for c in expected if selected(c)}, key=case_key)
    for case_id in cases_to_compare:
        got = cases.get(case_id)
        want = expected.get(case_id)
        if got is None:
            missing.append(case_id)
        elif want is None:
            differences.append("%s: not in %s (got %s / close %s)" % (case_id, expected_path, got["behavior"], got["behaviorClose"]))
        elif (got["behavior"], got["behaviorClose"]) != (want["behavior"], want["behaviorClose"]):
            differences.append("%s: expected %s / close %s, got %s / close %s" % (
                case_id, want["behavior"], want["behaviorClose"], got["behavior"], got["behaviorClose"]))

    if missing:
        shown = ", ".join(missing[:8]) + (", ..." if len(missing) > 8 else "")
        differences.append("%d selected cases missing from the report: %s" % (len(missing), shown))

    passed = sum(1 for r in cases.values() if r["behavior"] in PASSED)
    failed = len(cases) - passed + len(missing)
    print("autobahn %s: %d passed, %d failed" % (role, passed, failed))

    if update:
        if cases:
            kept = {c: v for c, v in expected.items() if not selected(c)}
            for case_id, res in cases.items():
                verdict = {"behavior": res["behavior"], "behaviorClose": res["behaviorClose"]}
                old = expected.get(case_id, {})
                if "reason" in old and all(old.get(k) == v for k, v in verdict.items()):
                    verdict["reason"] = old["reason"]
                kept[case_id] = verdict
            write_expected(expected_path, kept)
            print("%s role: wrote %d verdicts to %s" % (role, len(kept), expected_path))
        else:
            print("%s role: nothing measured, %s left as it was" % (role, expected_path))
            differences.append("no report")
        return passed, failed, differences if not cases else []

    for d in differences:
        print("  DIFFERENCE %s" % d)
    for case_id, want in sorted(expected.items(), key=lambda kv: case_key(kv[0])):
        if selected(case_id) and (want["behavior"], want["behaviorClose"]) != ("OK", "OK") and not want.get("reason"):
            print("  note: %s is expected %s / close %s without a reason in %s" % (
                case_id, want["behavior"], want["behaviorClose"], expected_path))
    return passed, failed, differences


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--update", action="store_true")
    parser.add_argument("--cases", default="*")
    parser.add_argument("--exclude", default="")
    parser.add_argument("--role", nargs=3, action="append", required=True,
                        metavar=("NAME", "REPORT_DIR", "EXPECTED_JSON"))
    args = parser.parse_args()
    included = pattern_matcher(args.cases)
    excluded = pattern_matcher(args.exclude)

    def selected(case_id):
        return included(case_id) and not excluded(case_id)

    total_passed = total_failed = 0
    any_difference = False
    for name, report_dir, expected_path in args.role:
        passed, failed, differences = check_role(name, report_dir, expected_path, selected, args.update)
        total_passed += passed
        total_failed += failed
        any_difference |= bool(differences)
        print()
    print("autobahn: %d passed, %d failed" % (total_passed, total_failed))
    if any_difference:
        print("autobahn: verdicts differ from the expected files (scripts/autobahn.sh --update records new ones)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
