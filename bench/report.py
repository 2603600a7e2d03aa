#!/usr/bin/env python3
"""Every table of the benchmarks (bench/*.sh), and the figures of Ansible's runs.

The Ansible figures come from the JSON report of a run (the ansible.posix.json
stdout callback, which bench_playbook in bench/lib.sh writes to the log).

report.py table --csv F [--md F] [--title T] [--note TEXT]
    print the CSV as an aligned table; with --md also write it as Markdown.
report.py tasks --log LOG --top N --csv F --md F --roles-csv F --roles-md F --title T
    the N slowest tasks of a run (first start to last end over its hosts),
    and the time summed per role; "results" counts the results each task had
    (ok, changed or failed; one per host and loop item: about one module run
    each, except for controller-only actions such as assert or set_fact).
report.py recap --log LOG
    the run's recap, summed over the hosts: "hosts ok changed unreachable
    failed calls" on one line, for the shell; "calls" counts the module runs
    that reached a managed host (see host_calls).
report.py failures --log LOG
    what stopped each host that failed or was unreachable, for the shell.
report.py phases --log LOG --csv F
    the "PHASE <name> <seconds>" lines that bench/baseline_lab1.sh prints.
report.py load --results DIR [--rss DIR] [--baseline bare] [--target ours-sqlite]
              [--order A,B] [--notes F] [--csv F --md F]
    the MLflow load benchmark: the JSON of each `bench/mlflow_load.py run`
    in DIR, with the peak server RSS (kB, a file per label) from --rss.
report.py load-worse --results DIR OURS BASELINE
    "yes" when OURS had errors or a higher p95 than BASELINE, else "no".
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from datetime import datetime
from pathlib import Path

# Not a role's task: facts, includes and the tasks of the playbooks themselves.
NO_ROLE = "(play: facts, includes)"


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


def numeric_columns(rows: list[list[str]]) -> list[bool]:
    """Columns of numbers, where a cell may also be empty or "-" (none)."""
    return [
        all(is_number(row[i]) for row in rows[1:] if i < len(row) and row[i] not in ("", "-"))
        for i in range(len(rows[0]))
    ]


def text_table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) if i < len(row) else 0 for row in rows) for i in range(len(rows[0]))]
    numeric = numeric_columns(rows)
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

    rule = ["---:" if flag else "---" for flag in numeric_columns(rows)]
    return "\n".join([line(rows[0]), line(rule)] + [line(row) for row in rows[1:]])


def emit(rows: list[list[str]], title: str, md: Path | None, note: str = "") -> str:
    """Prints the table; writes it to `md` when given. Returns its Markdown."""
    print(f"\n{title}\n" if title else "")
    print(text_table(rows))
    if note:
        print(f"\n{note}")
    heading = f"### {title}\n\n" if title else ""
    footer = f"\n{note}\n" if note else ""
    text = heading + markdown_table(rows) + "\n" + footer
    if md is not None:
        md.write_text(text)
    return text


# ------------------------------------------------------ ansible's report ---


def ansible_report(log: Path) -> dict | None:
    """The JSON report of an ansible-playbook run, or None when it wrote none
    (a run stopped before its end, or one that never reached a play)."""
    text = log.read_text(errors="replace") if log.exists() else ""
    start = text.find("{")
    if start < 0:
        return None
    try:
        report, _ = json.JSONDecoder().raw_decode(text, start)
    except ValueError:
        return None
    return report if isinstance(report, dict) and "stats" in report else None


def require_report(log: Path) -> dict:
    report = ansible_report(log)
    if report is None:
        sys.exit(f"no JSON report of ansible-playbook in {log} (see {log.with_suffix('.log')})")
    return report


def results_of(result: dict) -> int:
    """The results a host's task result stands for: one, or one per loop item;
    skipped ones are none."""
    if "results" in result:
        return sum(1 for item in result["results"] if not item.get("skipped"))
    return 0 if result.get("skipped") else 1


# Actions that run on the controller alone: no round trip to the host.
CONTROLLER_ACTIONS = {
    "add_host",
    "assert",
    "debug",
    "fail",
    "group_by",
    "import_role",
    "import_tasks",
    "include_role",
    "include_tasks",
    "include_vars",
    "meta",
    "pause",
    "set_fact",
    "set_stats",
    "validate_argument_spec",
}


def on_controller(result: dict) -> bool:
    action = result.get("action", "").removeprefix("ansible.builtin.")
    delegated = result.get("_ansible_delegated_vars", {}).get("ansible_host")
    return action in CONTROLLER_ACTIONS or delegated in ("localhost", "127.0.0.1")


def host_calls(report: dict) -> int:
    """Module runs that reached a managed host: the results (one per loop item)
    neither skipped nor of a controller-only or delegated-to-localhost task.
    An action plugin such as copy or template counts once, although it makes
    several round trips."""
    return sum(
        results_of(result)
        for play in report["plays"]
        for entry in play["tasks"]
        for result in entry["hosts"].values()
        if not on_controller(result)
    )


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.rstrip("Z"))


def task_timings(report: dict) -> list[tuple[str, float, int]]:
    """(name, seconds, results) per task, in the order they started. A task is
    one entry per task with the linear strategy, one per host with others: its
    time runs from the first start to the last end."""
    tasks: dict[str, dict] = {}
    for play in report["plays"]:
        for entry in play["tasks"]:
            task = entry["task"]
            seen = tasks.setdefault(task["id"], {"name": task["name"], "times": [], "results": 0})
            seen["times"].append(parse_time(task["duration"]["start"]))
            if "end" in task["duration"]:
                seen["times"].append(parse_time(task["duration"]["end"]))
            seen["results"] += sum(results_of(result) for result in entry["hosts"].values())
    return [
        (seen["name"], (max(seen["times"]) - min(seen["times"])).total_seconds(), seen["results"])
        for seen in tasks.values()
    ]


def cmd_tasks(args: argparse.Namespace) -> int:
    tasks = task_timings(require_report(args.log))
    if not tasks:
        print(f"no tasks in {args.log}", file=sys.stderr)
        return 1
    total = sum(secs for _, secs, _ in tasks) or 1.0
    all_results = sum(results for _, _, results in tasks)
    ranked = sorted(tasks, key=lambda item: item[1], reverse=True)
    rows = [["rank", "task (role : name)", "seconds", "share_of_all_tasks_pct", "results"]]
    for rank, (name, secs, results) in enumerate(ranked[: args.top], start=1):
        rows.append([str(rank), name, f"{secs:.2f}", f"{100 * secs / total:.1f}", str(results)])
    rows.append(["", f"all {len(tasks)} tasks", f"{total:.2f}", "100.0", str(all_results)])
    write_csv(args.csv, rows)
    emit(rows, f"{args.title}: top {args.top} tasks", args.md)

    roles: dict[str, list[tuple[float, int]]] = {}
    for name, secs, results in tasks:
        role = name.split(" : ", 1)[0] if " : " in name else NO_ROLE
        roles.setdefault(role, []).append((secs, results))
    role_rows = [["role", "tasks", "seconds", "share_of_all_tasks_pct", "results"]]
    for role, times in sorted(roles.items(), key=lambda item: -sum(s for s, _ in item[1])):
        secs = sum(s for s, _ in times)
        role_rows.append(
            [
                role,
                str(len(times)),
                f"{secs:.2f}",
                f"{100 * secs / total:.1f}",
                str(sum(r for _, r in times)),
            ]
        )
    write_csv(args.roles_csv, role_rows)
    emit(role_rows, f"{args.title}: time per role", args.roles_md)
    return 0


def cmd_recap(args: argparse.Namespace) -> int:
    report = ansible_report(args.log)
    if report is None:
        print(f"no JSON report of ansible-playbook in {args.log}", file=sys.stderr)
        stats = {}
    else:
        stats = report["stats"]
    totals = [
        len(stats),
        *(sum(host[key] for host in stats.values()) for key in ("ok", "changed", "unreachable")),
        sum(host["failures"] for host in stats.values()),
        host_calls(report) if report else 0,
    ]
    print(" ".join(str(value) for value in totals))
    return 0


def cmd_failures(args: argparse.Namespace) -> int:
    report = ansible_report(args.log)
    if report is None:
        print(f"no JSON report of ansible-playbook in {args.log}")
        return 0
    stopped = {
        host for host, stats in report["stats"].items() if stats["failures"] or stats["unreachable"]
    }
    last: dict[str, tuple[str, dict]] = {}
    for play in report["plays"]:
        for entry in play["tasks"]:
            for host, result in entry["hosts"].items():
                if host in stopped and (result.get("failed") or result.get("unreachable")):
                    last[host] = (entry["task"]["name"], result)
    for host in sorted(stopped):
        name, result = last.get(host, ("(no failed task in the report)", {}))
        items = [item for item in result.get("results", []) if item.get("failed")] or [result]
        for item in items[:3]:
            detail = " ".join(
                str(item[key]).strip()[-600:] for key in ("msg", "stderr") if item.get(key)
            )
            print(f"{host}: {name}: {detail}")
    return 0


def cmd_phases(args: argparse.Namespace) -> int:
    rows = [["phase", "seconds"]]
    for text in args.log.read_text(errors="replace").splitlines():
        words = text.split()
        if len(words) == 3 and words[0] == "PHASE" and is_number(words[2]):
            rows.append([words[1], f"{float(words[2]):.1f}"])
    write_csv(args.csv, rows)
    return 0


def cmd_table(args: argparse.Namespace) -> int:
    emit(read_csv(args.csv), args.title, args.md, args.note)
    return 0


# ------------------------------------------------------------ MLflow load ---

# (key in bench/mlflow_load.py's summary, column, format)
LOAD_COLUMNS = [
    ("server", "server", "{}"),
    ("clients", "clients", "{}"),
    ("runs_completed", "runs done", "{}"),
    ("runs_cut", "cut", "{}"),
    ("requests", "requests", "{}"),
    ("errors", "errors", "{}"),
    ("req_per_s", "req/s", "{:.1f}"),
    ("runs_per_s", "runs/s", "{:.3f}"),
    ("p50_ms", "p50 ms", "{:.1f}"),
    ("p95_ms", "p95 ms", "{:.1f}"),
    ("wall_s", "wall s", "{:.1f}"),
]
GIB_KB = 1024 * 1024


def load_results(results: Path, order: list[str]) -> list[dict]:
    found = {}
    for path in sorted(results.glob("*.json")):
        summary = json.loads(path.read_text())
        found[summary["server"]] = summary
    names = [n for n in order if n in found] + sorted(set(found) - set(order))
    return [found[n] for n in names]


def peak_memory_kb(rss: Path | None, label: str, field: int) -> int | None:
    """A peak of the sampler's file: field 0 the summed RSS, 1 the summed PSS
    (shared pages divided among the processes that share them)."""
    path = rss / label if rss else None
    fields = path.read_text().split() if path is not None and path.exists() else []
    return int(fields[field]) if len(fields) > field else None


def p95_ratio(summary: dict, baseline: dict | None) -> float | None:
    if baseline is None or not baseline["p95_ms"]:
        return None
    return summary["p95_ms"] / baseline["p95_ms"]


def cmd_load(args: argparse.Namespace) -> int:
    summaries = load_results(args.results, args.order.split(",") if args.order else [])
    if not summaries:
        sys.exit(f"no results in {args.results}")
    baseline = next((s for s in summaries if s["server"] == args.baseline), None)
    rss = {s["server"]: peak_memory_kb(args.rss, s["server"], 0) for s in summaries}
    pss = {s["server"]: peak_memory_kb(args.rss, s["server"], 1) for s in summaries}
    with_rss = any(value is not None for value in rss.values())
    with_pss = any(value is not None for value in pss.values())
    # Results of runs before the load average was recorded have none.
    with_load = any("load_avg_1m" in s for s in summaries)

    with_passes = any(s.get("passes", 1) > 1 for s in summaries)
    header = [title for _, title, _ in LOAD_COLUMNS]
    header += ["passes"] if with_passes else []
    header += ["server RSS MiB"] if with_rss else []
    header += ["server PSS MiB"] if with_pss else []
    header += ["machine load 1m"] if with_load else []
    header += [f"p95 / {args.baseline}"] if baseline else []
    rows = [header]
    for s in summaries:
        row = [fmt.format(s[key]) for key, _, fmt in LOAD_COLUMNS]
        if with_passes:
            row.append(str(s.get("passes", 1)))
        if with_rss:
            row.append(f"{rss[s['server']] / 1024:.0f}" if rss[s["server"]] is not None else "-")
        if with_pss:
            row.append(f"{pss[s['server']] / 1024:.0f}" if pss[s["server"]] is not None else "-")
        if with_load:
            row.append(f"{s['load_avg_1m']:.1f}" if "load_avg_1m" in s else "-")
        if baseline:
            ratio = p95_ratio(s, baseline)
            row.append(f"{ratio:.2f}" if ratio is not None else "-")
        rows.append(row)
    first = summaries[0]
    load_line = (
        f"Load: {first['clients']} concurrent client processes x {first['runs_per_client']}"
        f" run(s), {first['metric_points']} metric points per run (one call each), deadline"
        f" {first['deadline_s']:.0f} s per server (runs not finished by then: cut); latencies"
        " over every HTTP request"
        + (
            "; passes: rows loaded that many times, in turn with the other multi-pass rows,"
            " their requests pooled (runs, requests and wall time summed)"
            if with_passes
            else ""
        )
        + (
            "; server RSS: peak of the server unit's processes, summed, sampled every second"
            " (PSS: the same with each shared page divided among its processes)"
            if with_rss
            else ""
        )
        + (
            "; machine load 1m: this machine's load average as the row's load ended"
            " (the clients and the server included)"
            if with_load
            else ""
        )
        + "."
    )
    md = ["# MLflow server under a classroom load", ""]
    md.append(emit(rows, "Load per server", None, load_line))

    target = next((s for s in summaries if s["server"] == args.target), None)
    if target is not None and baseline is not None:
        md.append(emit(targets(summaries, target, baseline, rss), "Targets", None))

    calls = [["call", "server", "requests", "errors", "p50 ms", "p95 ms"]]
    for name in sorted({n for s in summaries for n in s["endpoints"]}):
        for s in summaries:
            e = s["endpoints"].get(name)
            if e:
                calls.append(
                    [
                        name,
                        s["server"],
                        str(e["requests"]),
                        str(e["errors"]),
                        f"{e['p50_ms']:.1f}",
                        f"{e['p95_ms']:.1f}",
                    ]
                )
    md.append(emit(calls, "Per call", None))

    samples = [
        f"{s['server']}: {sample[:160]}"
        for s in summaries
        for sample in (s["error_samples"] + s["failure_samples"])[:3]
    ]
    if samples:
        print("\nErrors (samples):\n" + "\n".join(samples))
        md.append("### Errors (samples)\n\n" + "\n".join(f"- {x}" for x in samples) + "\n")
    md.append(
        "### What each server is\n\n"
        + "\n".join(f"- **{s['server']}**: {s['description']}" for s in summaries)
        + "\n"
    )
    if args.notes and args.notes.exists():
        md.append(args.notes.read_text().rstrip() + "\n")

    if args.csv:
        keys = [key for key, _, _ in LOAD_COLUMNS]
        extra = ["runs_failed", "clients_lost", "metric_points", "deadline_s"]
        out = [
            keys
            + extra
            + ["server_rss_kb", "server_pss_kb", "load_avg_1m", f"p95_vs_{args.baseline}"]
            + ["description"]
        ]
        for s in summaries:
            ratio = p95_ratio(s, baseline)
            out.append(
                [str(s[k]) for k in keys + extra]
                + [str(rss[s["server"]] or ""), str(pss[s["server"]] or "")]
                + [str(s.get("load_avg_1m", ""))]
                + [f"{ratio:.3f}" if ratio is not None else ""]
                + [s["description"]]
            )
        write_csv(args.csv, out)
    if args.md:
        args.md.write_text("\n".join(md))
    if args.csv or args.md:
        print(f"\nwrote {' and '.join(str(p) for p in (args.csv, args.md) if p)}")
    return 0


def targets(
    summaries: list[dict], target: dict, baseline: dict, rss: dict[str, int | None]
) -> list[list[str]]:
    """The load targets, for the servers as the lab deploys them (every row but
    the baseline and the levers, TARGET-*): no errors; TARGET's p95 no worse
    than the baseline's (ideally half); each server's memory within 1 GiB."""
    name, base = target["server"], baseline["server"]
    lab = [s for s in summaries if s is not baseline and not s["server"].startswith(f"{name}-")]
    labels = ", ".join(s["server"] for s in lab)
    ratio = p95_ratio(target, baseline) or 0.0
    errors = [f"{s['server']} {s['errors']}" for s in lab]
    rows = [
        ["target", "measured", "met"],
        [
            f"0 errors ({labels})",
            ", ".join(errors),
            "no" if any(s["errors"] for s in lab) else "yes",
        ],
        [
            f"p95 {name} <= {base}",
            f"{target['p95_ms']:.0f} vs {baseline['p95_ms']:.0f} ms ({ratio:.2f}x)",
            "yes" if ratio <= 1 and not target["errors"] else "no",
        ],
        [
            f"p95 {name} <= half of {base} (ideal)",
            f"{ratio:.2f}x",
            "yes" if ratio <= 0.5 and not target["errors"] else "no",
        ],
    ]
    measured = {s["server"]: rss[s["server"]] for s in lab if rss[s["server"]] is not None}
    if measured:
        rows.append(
            [
                f"server RSS <= 1 GiB ({', '.join(measured)})",
                ", ".join(f"{label} {kb / 1024:.0f} MiB" for label, kb in measured.items()),
                "yes" if max(measured.values()) <= GIB_KB else "no",
            ]
        )
    return rows


def cmd_load_worse(args: argparse.Namespace) -> int:
    found = {s["server"]: s for s in load_results(args.results, [])}
    ours, base = found[args.ours], found[args.baseline]
    print("yes" if ours["errors"] or ours["p95_ms"] > base["p95_ms"] else "no")
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

    for name, func in (("recap", cmd_recap), ("failures", cmd_failures)):
        command = sub.add_parser(name)
        command.add_argument("--log", type=Path, required=True)
        command.set_defaults(func=func)

    phases = sub.add_parser("phases")
    phases.add_argument("--log", type=Path, required=True)
    phases.add_argument("--csv", type=Path, required=True)
    phases.set_defaults(func=cmd_phases)

    load = sub.add_parser("load")
    load.add_argument("--results", type=Path, required=True)
    load.add_argument("--rss", type=Path, help="DIR with the peak server RSS (kB) per label")
    load.add_argument("--baseline", default="bare")
    load.add_argument("--target", default="ours-sqlite", help="the row the targets are for")
    load.add_argument("--order", default="")
    load.add_argument("--notes", type=Path, help="Markdown appended to the report")
    load.add_argument("--csv", type=Path)
    load.add_argument("--md", type=Path)
    load.set_defaults(func=cmd_load)

    worse = sub.add_parser("load-worse")
    worse.add_argument("--results", type=Path, required=True)
    worse.add_argument("ours")
    worse.add_argument("baseline")
    worse.set_defaults(func=cmd_load_worse)

    args = parser.parse_args()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
