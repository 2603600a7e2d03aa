#!/usr/bin/env python3
"""Tables for the provisioning benchmarks (bench/provision_*.sh).

report.py table --csv F [--md F] [--title T] [--note TEXT]
    print the CSV as an aligned table; with --md also write it as Markdown.
report.py tasks --log LOG --top N --csv F --md F --roles-csv F --roles-md F --title T
    the profile_tasks recap of an ansible-playbook log: the N slowest tasks,
    and the time summed per role; "results" counts the ok/changed/failed
    lines each printed (one per host and loop item: about one module run
    each, except for controller-only actions such as assert or set_fact).
report.py recap --log LOG
    the PLAY RECAP of an ansible-playbook log, summed over the hosts:
    "hosts ok changed unreachable failed" on one line, for the shell.
report.py phases --log LOG --csv F
    the "PHASE <name> <seconds>" lines that bench/baseline_lab1.sh prints.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from pathlib import Path

# "role : Task name ------------------------------------------- 12.34s"
TASK_LINE = re.compile(r"^(?P<name>.+?) -* ?(?P<secs>\d+\.\d+)s$")
RECAP_LINE = re.compile(
    r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+"
    r"unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)"
)
TASK_HEADER = re.compile(r"^(?:TASK|RUNNING HANDLER) \[(?P<name>.+)\] \**$")
RESULT_LINE = re.compile(r"^(?:ok|changed|failed|fatal): \[")
PHASE_LINE = re.compile(r"^PHASE (?P<name>\S+) (?P<secs>\d+(?:\.\d+)?)$")


def read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="") as handle:
        return [row for row in csv.reader(handle) if row]


def write_csv(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def text_table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) if i < len(row) else 0 for row in rows) for i in range(len(rows[0]))]
    numeric = [
        all(is_number(row[i]) for row in rows[1:] if i < len(row) and row[i])
        for i in range(len(widths))
    ]
    lines = []
    for index, row in enumerate(rows):
        cells = []
        for i, width in enumerate(widths):
            cell = row[i] if i < len(row) else ""
            cells.append(cell.rjust(width) if numeric[i] and index else cell.ljust(width))
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def markdown_table(rows: list[list[str]]) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    numeric = [
        all(is_number(row[i]) for row in rows[1:] if i < len(row) and row[i])
        for i in range(len(rows[0]))
    ]
    rule = ["---:" if flag else "---" for flag in numeric]
    return "\n".join([line(rows[0]), line(rule)] + [line(row) for row in rows[1:]])


def emit(rows: list[list[str]], title: str, md: Path | None, note: str = "") -> None:
    print(f"\n{title}\n" if title else "")
    print(text_table(rows))
    if note:
        print(f"\n{note}")
    if md is not None:
        heading = f"### {title}\n\n" if title else ""
        footer = f"\n{note}\n" if note else ""
        md.write_text(heading + markdown_table(rows) + "\n" + footer)


def profile_tasks(log: Path) -> list[tuple[str, float]]:
    """The task timings of the last TASKS RECAP in the log."""
    lines = log.read_text(errors="replace").splitlines()
    starts = [i for i, text in enumerate(lines) if text.startswith("TASKS RECAP")]
    if not starts:
        return []
    tasks = []
    for text in lines[starts[-1] + 1 :]:
        match = TASK_LINE.match(text.strip())
        if match and not text.startswith("="):
            tasks.append((match["name"].strip(), float(match["secs"])))
    return tasks


def task_results(log: Path) -> dict[str, int]:
    """Per task name: the results it printed (ok, changed, failed; one per host and
    loop item). Each is one module run on a host, except for controller-only actions
    (assert, set_fact, debug, include_vars), which print results too."""
    counts: dict[str, int] = {}
    current = None
    for text in log.read_text(errors="replace").splitlines():
        header = TASK_HEADER.match(text)
        if header:
            current = header["name"]
            counts.setdefault(current, 0)
        elif current is not None and RESULT_LINE.match(text):
            counts[current] += 1
    return counts


def cmd_table(args: argparse.Namespace) -> int:
    emit(read_csv(args.csv), args.title, args.md, args.note)
    return 0


def cmd_tasks(args: argparse.Namespace) -> int:
    tasks = profile_tasks(args.log)
    if not tasks:
        print(f"no profile_tasks recap in {args.log}", file=sys.stderr)
        return 1
    total = sum(secs for _, secs in tasks)
    results = task_results(args.log)
    ranked = sorted(tasks, key=lambda item: item[1], reverse=True)
    rows = [["rank", "task (role : name)", "seconds", "share_of_all_tasks_pct", "results"]]
    for rank, (name, secs) in enumerate(ranked[: args.top], start=1):
        rows.append(
            [str(rank), name, f"{secs:.2f}", f"{100 * secs / total:.1f}", str(results.get(name, 0))]
        )
    rows.append(
        ["", f"all {len(tasks)} tasks", f"{total:.2f}", "100.0", str(sum(results.values()))]
    )
    write_csv(args.csv, rows)
    emit(rows, f"{args.title}: top {args.top} tasks (profile_tasks)", args.md)

    roles: dict[str, list[float]] = {}
    role_results: dict[str, int] = {}
    for name, secs in tasks:
        role = name.split(" : ", 1)[0] if " : " in name else "(play: facts, includes)"
        roles.setdefault(role, []).append(secs)
        role_results[role] = role_results.get(role, 0) + results.get(name, 0)
    role_rows = [["role", "tasks", "seconds", "share_of_all_tasks_pct", "results"]]
    for role, times in sorted(roles.items(), key=lambda item: sum(item[1]), reverse=True):
        share = f"{100 * sum(times) / total:.1f}"
        role_rows.append(
            [role, str(len(times)), f"{sum(times):.2f}", share, str(role_results[role])]
        )
    write_csv(args.roles_csv, role_rows)
    emit(role_rows, f"{args.title}: time per role", args.roles_md)
    return 0


def cmd_recap(args: argparse.Namespace) -> int:
    totals = {"hosts": 0, "ok": 0, "changed": 0, "unreachable": 0, "failed": 0}
    for text in args.log.read_text(errors="replace").splitlines():
        match = RECAP_LINE.match(text.strip())
        if match:
            totals["hosts"] += 1
            for key in ("ok", "changed", "unreachable", "failed"):
                totals[key] += int(match[key])
    print(" ".join(str(value) for value in totals.values()))
    return 0


def cmd_phases(args: argparse.Namespace) -> int:
    rows = [["phase", "seconds"]]
    for text in args.log.read_text(errors="replace").splitlines():
        match = PHASE_LINE.match(text.strip())
        if match:
            rows.append([match["name"], f"{float(match['secs']):.1f}"])
    write_csv(args.csv, rows)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    table = sub.add_parser("table")
    table.add_argument("--csv", type=Path, required=True)
    table.add_argument("--md", type=Path)
    table.add_argument("--title", default="")
    table.add_argument("--note", default="")
    table.set_defaults(func=cmd_table)

    tasks = sub.add_parser("tasks")
    tasks.add_argument("--log", type=Path, required=True)
    tasks.add_argument("--top", type=int, default=10)
    tasks.add_argument("--csv", type=Path, required=True)
    tasks.add_argument("--md", type=Path, required=True)
    tasks.add_argument("--roles-csv", type=Path, required=True)
    tasks.add_argument("--roles-md", type=Path, required=True)
    tasks.add_argument("--title", default="")
    tasks.set_defaults(func=cmd_tasks)

    recap = sub.add_parser("recap")
    recap.add_argument("--log", type=Path, required=True)
    recap.set_defaults(func=cmd_recap)

    phases = sub.add_parser("phases")
    phases.add_argument("--log", type=Path, required=True)
    phases.add_argument("--csv", type=Path, required=True)
    phases.set_defaults(func=cmd_phases)

    args = parser.parse_args()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
