"""Starts `mlflow server` for the role's unit, in two ways MLflow has no option for.

Run as a script with `mlflow server`'s arguments (ExecStart), it is that command
with two changes to the uvicorn command MLflow builds:

- uvicorn serves `create_app` below, MLflow's own app (the one MLflow chose, its
  factory called) behind a bounded thread pool;
- without job execution, uvicorn replaces this process (exec) instead of
  running beside it: the CLI would otherwise sit idle for the server's life
  holding about 250 MB. With job execution on, the CLI stays, as it supervises
  the job runner.

Why the bounded pool: MLflow's REST API is a Flask app that uvicorn runs in
anyio's default thread pool, up to 40 requests at once per worker. Under a
class's load most of them wait on sqlite's single writer, which polls with
sleeps, while the one holding the lock waits for the GIL behind the others:
a few requests wait for seconds. With a few threads per worker, requests wait
in the worker's queue in arrival order instead. Requests are read whole before
they get a thread and responses are buffered after, so a slow client never
holds one.

Settings (environment, set by the unit; the workers inherit them):
MLOPS_LAB_WORKER_THREADS, the requests each worker runs at once.
"""

import importlib
import os
import sys

THREADS_VARIABLE = "MLOPS_LAB_WORKER_THREADS"
# MLflow's app as MLflow names it for uvicorn, and whether it is a factory.
APP_VARIABLE = "MLOPS_LAB_MLFLOW_APP"
FACTORY_VARIABLE = "MLOPS_LAB_MLFLOW_APP_FACTORY"


class BoundedThreadPool:
    """An ASGI app that runs `app` with at most `threads` of anyio's worker threads."""

    def __init__(self, app, threads):
        self.app = app
        self.threads = threads

    async def __call__(self, scope, receive, send):
        import anyio.to_thread

        # The default limiter belongs to the running event loop: set on its first call.
        limiter = anyio.to_thread.current_default_thread_limiter()
        if limiter.total_tokens != self.threads:
            limiter.total_tokens = self.threads
        await self.app(scope, receive, send)


def create_app():
    """MLflow's app in the bounded pool (uvicorn --factory, in each worker)."""
    module, _, attribute = os.environ[APP_VARIABLE].partition(":")
    app = getattr(importlib.import_module(module), attribute)
    if os.environ.get(FACTORY_VARIABLE) == "1":
        app = app()
    return BoundedThreadPool(app, int(os.environ[THREADS_VARIABLE]))


def uvicorn_command(cmd):
    """MLflow's uvicorn command, serving create_app instead of MLflow's app; and the
    environment that tells create_app what MLflow's app is."""
    *options, app = cmd
    factory = "--factory" in options
    options = [option for option in options if option != "--factory"]
    here = os.path.dirname(os.path.abspath(__file__))
    module = os.path.splitext(os.path.basename(__file__))[0]
    env = {APP_VARIABLE: app, FACTORY_VARIABLE: "1" if factory else "0"}
    return [*options, "--app-dir", here, "--factory", f"{module}:create_app"], env


def main():
    import mlflow.server
    from mlflow.cli import cli

    run_beside = mlflow.server._exec_cmd
    supervise = os.environ.get("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "").lower() == "true"

    def exec_cmd(cmd, extra_env=None, **kwargs):
        if "uvicorn" not in cmd:
            return run_beside(cmd, extra_env=extra_env, **kwargs)
        cmd, app_env = uvicorn_command(cmd)
        env = {**(extra_env or {}), **app_env}
        if supervise:
            return run_beside(cmd, extra_env=env, **kwargs)
        os.execve(cmd[0], cmd, {**os.environ, **env})

    mlflow.server._exec_cmd = exec_cmd
    sys.argv[0] = "mlflow"
    cli(sys.argv[1:])


if __name__ == "__main__":
    main()
