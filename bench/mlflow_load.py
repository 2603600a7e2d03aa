"""A classroom's load on an MLflow tracking server: the load only.

Driven by bench/mlflow_load.sh; runs in its own venv with the same
mlflow-skinny as the server's MLflow. Its figures, as JSON, go to
bench/report.py (`load`, `load-worse`), which makes every table.

    mlflow_load.py run --label ours-sqlite --url https://127.0.0.1:15001 \\
        --credentials DIR --out DIR/ours-sqlite.json

`run`: K client processes (processes, so the clients' GIL is not the limit)
wait at a barrier, then each does what the starter experiment does against
the server, with the MLflow client students use: set the experiment, start a
run, log the parameters, log a metric point by point (one call per point, as a
training loop does), log a small artifact, end the run. Every HTTP call is
timed. A short warm-up run comes first and is not measured.

The students' accounts are the lab's own: playbooks/mlflow_server.yml makes
them (the mlflow_server role, from the inventory's stand-in class).

With --abuser-threads N, one more account (the last) is an abusive
student: before the clients start it logs one metric with
--abuser-points points (a long history), then N threads fetch that history
over and over (a slow call each) until the clients are done, waiting out a
429's Retry-After as MLflow's client does. Its calls are counted apart
(abuser_requests, abuser_429); the figures are the K others'.

Bounds: loopback targets only (any other request is refused before it is
sent, MLflow's telemetry included); K, runs, points, the per-request timeout
and an overall deadline (after which the clients stop by themselves) are
capped.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import multiprocessing
import os
import ssl
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import quote, urlsplit
from urllib.request import Request, urlopen

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
LIMITS = {"clients": 64, "runs": 20, "points": 1000, "deadline": 600.0, "timeout": 120.0}
# What the starter experiment (files/course/project/src/models/train.py) logs.
PARAMS = {"C": 1.0, "max_iter": 200, "random_state": 42, "test_size": 0.2}


class DeadlineExceeded(Exception):
    """The overall deadline passed: the client stops."""


# ---------------------------------------------------------------- timing ---


class Recorder:
    """Times every HTTP request the MLflow client sends in this process."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, float]] = []  # (endpoint, status or 0, ms)
        self.errors: list[str] = []
        self.enabled = False

    def install(self) -> None:
        import requests

        original = requests.Session.send
        recorder = self

        def timed_send(session, request, **kwargs):
            if urlsplit(request.url).hostname not in LOOPBACK:
                raise requests.ConnectionError(f"refused (not loopback): {request.url}")
            start = time.perf_counter()
            try:
                response = original(session, request, **kwargs)
            except Exception as exc:
                recorder.add(request, 0, start, f"{type(exc).__name__}: {exc}")
                raise
            recorder.add(request, response.status_code, start, response)
            return response

        requests.Session.send = timed_send

    def add(self, request, status: int, start: float, detail) -> None:
        if not self.enabled:
            return
        elapsed = (time.perf_counter() - start) * 1000.0
        name = endpoint(request.method, request.path_url)
        self.calls.append((name, status, elapsed))
        if (status == 0 or status >= 400) and len(self.errors) < 5:
            text = detail if isinstance(detail, str) else detail.text
            self.errors.append(f"{name} -> {status or 'no answer'}: {text[:200]}")


def endpoint(method: str, path: str) -> str:
    """A short name for a request: 'runs/log-metric', 'artifacts PUT', ..."""
    path = path.split("?", 1)[0]
    if "/mlflow-artifacts/" in path:
        return f"artifacts {method}"
    for prefix in ("/ajax-api/", "/api/"):
        if path.startswith(prefix):
            parts = path[len(prefix) :].split("/")
            # 2.0/mlflow/runs/create -> runs/create
            return "/".join(parts[2:]) if len(parts) > 2 else "/".join(parts)
    return f"{method} {path}"


# ---------------------------------------------------------------- client ---


def one_run(mlflow, cfg, idx: int, number: int, points: int, artifact: Path, check) -> None:
    """The starter experiment's calls, one run."""
    check()
    mlflow.set_experiment(cfg.experiment)
    check()
    with mlflow.start_run(run_name=f"load-{cfg.label}-{idx:02d}-{number}"):
        check()
        mlflow.log_params(PARAMS)
        for step in range(points):
            check()
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        check()
        mlflow.log_artifact(str(artifact))
        check()
    # Leaving the block ends the run (runs/update).


def client(cfg, idx: int, user: tuple[str, str] | None, phase: str, barrier, outdir: str) -> None:
    """One student: `runs` runs, then its figures as JSON in outdir."""
    import mlflow

    if user:
        os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"] = user
    workdir = Path(tempfile.mkdtemp(prefix=f"mlflow-load-{idx:02d}-"))
    artifact = workdir / "metrics_summary.txt"
    artifact.write_text("accuracy 0.97\n" * 64)  # about 1 KB
    mlflow.set_tracking_uri(cfg.url)
    recorder = RECORDER
    runs = cfg.runs if phase == "measure" else 1
    points = cfg.points if phase == "measure" else cfg.warmup_points
    result = {"idx": idx, "completed": 0, "failed": 0, "cut": 0, "failures": []}
    try:
        barrier.wait(timeout=120)
    except threading.BrokenBarrierError:
        result["failures"].append("the clients did not all start")
        runs = 0
    start = time.time()
    deadline = start + cfg.deadline

    def check() -> None:
        if time.time() > deadline:
            raise DeadlineExceeded

    recorder.enabled = True
    for number in range(runs):
        try:
            one_run(mlflow, cfg, idx, number, points, artifact, check)
            result["completed"] += 1
        except DeadlineExceeded:
            result["cut"] += 1
            break
        except Exception as exc:  # a failed run is a figure, not a crash
            result["failed"] += 1
            if len(result["failures"]) < 3:
                result["failures"].append(f"{type(exc).__name__}: {str(exc)[:300]}")
            # A student's run that failed leaves no active run behind.
            while mlflow.active_run():
                mlflow.tracking.fluent._active_run_stack.get().pop()
    recorder.enabled = False
    result.update(start=start, end=time.time(), calls=recorder.calls, errors=recorder.errors)
    Path(outdir, f"{phase}-{idx:02d}.json").write_text(json.dumps(result))


RECORDER = Recorder()


def abuser_prepare(cfg, account: tuple[str, str]) -> str:
    """A run of the abuser's with a metric of --abuser-points points; its id."""
    experiment = ensure_experiment(cfg.url, account, cfg.experiment)
    _, created = api(cfg.url, account, f"{V2}/runs/create", {"experiment_id": experiment})
    run_id = created["run"]["info"]["run_id"]
    for start in range(0, cfg.abuser_points, 1000):
        metrics = [
            {"key": "history", "value": step, "timestamp": step, "step": step}
            for step in range(start, min(start + 1000, cfg.abuser_points))
        ]
        api(cfg.url, account, f"{V2}/runs/log-batch", {"run_id": run_id, "metrics": metrics})
    return run_id


def abuser(cfg, account: tuple[str, str], run_id: str, stop, outdir: str) -> None:
    """N threads fetching the long history until stop is set (or the deadline)."""
    token = base64.b64encode(f"{account[0]}:{account[1]}".encode()).decode()
    context = ssl.create_default_context(cafile=os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH"))
    path = f"{V2}/metrics/get-history?run_id={run_id}&metric_key=history&max_results=100000"
    counts = {"requests": 0, "429": 0, "errors": 0}
    lock = threading.Lock()
    deadline = time.time() + cfg.deadline + cfg.timeout

    def fetch() -> None:
        while not stop.is_set() and time.time() < deadline:
            request = Request(cfg.url + path, headers={"Authorization": f"Basic {token}"})
            status, wait = 0, 0.0
            try:
                with urlopen(request, timeout=cfg.timeout, context=context) as response:
                    response.read()
                    status = response.status
            except HTTPError as exc:
                status, wait = exc.code, float(exc.headers.get("Retry-After") or 0)
            except OSError:
                status = 0
            with lock:
                counts["requests"] += 1
                counts["429"] += status == 429
                counts["errors"] += status != 200 and status != 429
            if wait:
                stop.wait(min(wait, 5.0))

    threads = [threading.Thread(target=fetch) for _ in range(cfg.abuser_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    Path(outdir, "abuser.json").write_text(json.dumps(counts))


def students(credentials: str | None) -> list[tuple[str, str]]:
    """(user, password) of each student account, from DIR/students/<user>."""
    if not credentials:
        return []
    folder = Path(credentials, "students")
    pairs = [(p.name, p.read_text().split()[0]) for p in sorted(folder.iterdir())]
    if not pairs:
        sys.exit(f"no student credentials in {folder}")
    return pairs


def phase(
    cfg, name: str, clients: int, accounts: list[tuple[str, str]], abusing=None
) -> list[dict]:
    """Forks `clients` processes (and, given (account, run id), the abuser's
    beside them), waits for them (bounded), returns their results (the
    abuser's counts in the first one's "abuser")."""
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(clients)
    with tempfile.TemporaryDirectory(prefix=f"mlflow-load-{name}-") as outdir:
        stop = ctx.Event()
        noisy = None
        if abusing:
            noisy = ctx.Process(target=abuser, args=(cfg, *abusing, stop, outdir))
            noisy.start()
        procs = []
        for idx in range(clients):
            user = accounts[idx % len(accounts)] if accounts else None
            proc = ctx.Process(target=client, args=(cfg, idx, user, name, barrier, outdir))
            proc.start()
            procs.append(proc)
        # Start-up (the barrier), the deadline, one request's timeout, margin.
        stop_at = time.monotonic() + 120 + cfg.deadline + cfg.timeout + 15
        for proc in procs:
            proc.join(max(0.0, stop_at - time.monotonic()))
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
        if noisy:
            stop.set()
            noisy.join(cfg.timeout + 15)
            if noisy.is_alive():
                noisy.terminate()
                noisy.join(5)
        results = []
        for idx in range(clients):
            path = Path(outdir, f"{name}-{idx:02d}.json")
            if path.exists():
                results.append(json.loads(path.read_text()))
            else:
                results.append({"idx": idx, "lost": True})
        noise = Path(outdir, "abuser.json")
        if noisy and noise.exists() and results:
            results[0]["abuser"] = json.loads(noise.read_text())
        return results


def percentile(values: list[float], pct: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarise(cfg, results: list[dict], before: dict | None = None) -> dict:
    """The figures of this pass's results, pooled with those of the passes
    before (a summary with raw_calls) when given."""
    before = before or {}
    done = [r for r in results if not r.get("lost")]
    calls = [tuple(c) for c in before.get("raw_calls", [])] + [c for r in done for c in r["calls"]]
    latencies = [c[2] for c in calls]
    errors = sum(1 for c in calls if c[1] == 0 or c[1] >= 400)
    wall = (max(r["end"] for r in done) - min(r["start"] for r in done)) if done else float("nan")
    wall += before.get("wall_s", 0.0)
    per_endpoint = {}
    for name in sorted({c[0] for c in calls}):
        these = [c for c in calls if c[0] == name]
        ms = [c[2] for c in these]
        per_endpoint[name] = {
            "requests": len(these),
            "errors": sum(1 for c in these if c[1] == 0 or c[1] >= 400),
            "p50_ms": round(percentile(ms, 50), 1),
            "p95_ms": round(percentile(ms, 95), 1),
        }
    runs = sum(r["completed"] for r in done) + before.get("runs_completed", 0)

    def samples(key: str, field: str) -> list[str]:
        return (before.get(key, []) + [x for r in done for x in r[field]])[:5]

    return {
        "server": cfg.label,
        "description": cfg.description,
        "clients": cfg.clients,
        "runs_per_client": cfg.runs,
        "metric_points": cfg.points,
        "passes": before.get("passes", 0) + 1,
        "runs_completed": runs,
        "runs_failed": sum(r["failed"] for r in done) + before.get("runs_failed", 0),
        "runs_cut": sum(r["cut"] for r in done) + before.get("runs_cut", 0),
        "clients_lost": len(results) - len(done) + before.get("clients_lost", 0),
        "abuser_threads": cfg.abuser_threads,
        "abuser_requests": sum(r.get("abuser", {}).get("requests", 0) for r in done)
        + before.get("abuser_requests", 0),
        "abuser_429": sum(r.get("abuser", {}).get("429", 0) for r in done)
        + before.get("abuser_429", 0),
        "requests": len(calls),
        "errors": errors,
        "req_per_s": round(len(calls) / wall, 1) if wall > 0 else 0.0,
        "runs_per_s": round(runs / wall, 3) if wall > 0 else 0.0,
        "p50_ms": round(percentile(latencies, 50), 1),
        "p95_ms": round(percentile(latencies, 95), 1),
        "wall_s": round(wall, 1),
        # What else ran: other jobs on this machine's cores slow every row.
        "load_avg_1m": round(os.getloadavg()[0], 1),
        "deadline_s": cfg.deadline,
        "endpoints": per_endpoint,
        "error_samples": samples("error_samples", "errors"),
        "failure_samples": samples("failure_samples", "failures"),
        # Every request's (call, status, ms), for the next pass to pool with.
        "raw_calls": calls,
    }


def check_url(url: str) -> None:
    host = urlsplit(url).hostname
    if host not in LOOPBACK:
        sys.exit(f"--url: only loopback targets are allowed, got {host!r}")


def cmd_run(cfg) -> None:
    check_url(cfg.url)
    for key, cap in LIMITS.items():
        value = getattr(cfg, key)
        if not 0 < value <= cap:
            sys.exit(f"--{key}: must be between 1 and {cap}, got {value}")
    if not (0 <= cfg.abuser_threads <= 32 and 0 < cfg.abuser_points <= 200_000):
        sys.exit("--abuser-threads: 0 to 32; --abuser-points: 1 to 200000")
    # Every failure shows as one; the client would otherwise retry for minutes.
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(int(cfg.timeout))
    # No telemetry (it would leave the machine), no run links on stdout.
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    os.environ["DO_NOT_TRACK"] = "true"
    os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    import mlflow  # noqa: F401  (imported once here, inherited by every fork)

    RECORDER.install()
    accounts = students(cfg.credentials)
    abusing = None
    if cfg.abuser_threads:
        if len(accounts) < 2:
            sys.exit("--abuser-threads: needs --credentials with two accounts or more")
        # The last account is the abuser's; the clients share the others.
        accounts, account = accounts[:-1], accounts[-1]
        abusing = (account, abuser_prepare(cfg, account))
    # The class experiment exists before the clients start (the accounts step
    # makes it on ours; here for the bare server), so no two clients race to
    # create it.
    ensure_experiment(cfg.url, accounts[0] if accounts else None, cfg.experiment)
    # A few clients at once, so that every server worker has served requests.
    started = time.monotonic()
    warm = phase(cfg, "warmup", min(cfg.warmup_clients, cfg.clients), accounts)
    warm_failed = [f for r in warm for f in r.get("failures", [])]
    if warm_failed or any(r.get("lost") or r["completed"] == 0 for r in warm):
        sys.exit(f"{cfg.label}: the warm-up run failed: {warm_failed[:3]}")
    print(f"{cfg.label}: warm-up {time.monotonic() - started:.0f} s (not measured)")
    out = Path(cfg.out)
    before = json.loads(out.read_text()) if cfg.pool and out.exists() else None
    summary = summarise(cfg, phase(cfg, "measure", cfg.clients, accounts, abusing), before)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary) + "\n")
    pooled = f" (pass {summary['passes']}, pooled)" if summary["passes"] > 1 else ""
    if cfg.abuser_threads:
        pooled += (
            f", beside an abuser's {summary['abuser_requests']} calls"
            f" ({summary['abuser_429']} answered 429)"
        )
    print(
        f"{cfg.label}{pooled}: {summary['runs_completed']} runs done, {summary['runs_cut']} cut,"
        f" {summary['requests']} requests, {summary['errors']} errors,"
        f" p50 {summary['p50_ms']:.1f} ms, p95 {summary['p95_ms']:.1f} ms,"
        f" {summary['wall_s']:.1f} s"
    )
    for sample in (summary["error_samples"] + summary["failure_samples"])[:3]:
        print(f"  {sample[:160]}")


# -------------------------------------------------------------- accounts ---


def api(
    url: str, auth: tuple[str, str] | None, path: str, body: dict | None = None
) -> tuple[int, dict]:
    """One REST call, as `auth` (user, password) when given: (status, JSON body)."""
    headers = {"Content-Type": "application/json"}
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    request = Request(
        url + path,
        data=json.dumps(body).encode() if body is not None else None,
        headers=headers,
        method="POST" if body is not None else "GET",
    )
    # The lab CA, as the students' MLflow client trusts it (.env).
    context = ssl.create_default_context(cafile=os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH"))
    try:
        with urlopen(request, timeout=60, context=context) as response:
            return response.status, json.loads(response.read() or b"{}")
    except HTTPError as exc:
        if exc.code == 404:
            return 404, {}
        sys.exit(f"{request.method} {path}: HTTP {exc.code}: {exc.read()[:300]!r}")


V2 = "/api/2.0/mlflow"


def ensure_experiment(url: str, auth: tuple[str, str] | None, name: str) -> str:
    """The id of the experiment `name`, created when it is missing."""
    status, found = api(url, auth, f"{V2}/experiments/get-by-name?experiment_name={quote(name)}")
    if status == 404:
        _, created = api(url, auth, f"{V2}/experiments/create", {"name": name})
        return created["experiment_id"]
    return found["experiment"]["experiment_id"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="load one server")
    run.add_argument("--label", required=True)
    run.add_argument("--url", required=True, help="loopback only")
    run.add_argument("--description", default="")
    run.add_argument("--credentials", help="DIR with students/<user> password files")
    run.add_argument("--experiment", default="iris-classification")
    run.add_argument("--clients", type=int, default=20)
    run.add_argument("--runs", type=int, default=1, help="runs per client")
    run.add_argument("--points", type=int, default=100, help="metric points per run")
    run.add_argument("--deadline", type=float, default=60.0, help="seconds, then clients stop")
    run.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    run.add_argument("--warmup-clients", type=int, default=4)
    run.add_argument("--warmup-points", type=int, default=2)
    run.add_argument("--abuser-threads", type=int, default=0, help="slow calls at once")
    run.add_argument("--abuser-points", type=int, default=50_000, help="its history's points")
    run.add_argument("--out", required=True)
    run.add_argument(
        "--pool",
        action="store_true",
        help="pool with the passes already in --out (a summary this command wrote)",
    )

    cfg = parser.parse_args(argv)
    cmd_run(cfg)


if __name__ == "__main__":
    main()
