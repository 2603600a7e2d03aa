"""Starts `mlflow server` for the role's unit, in two ways MLflow has no option for.

Run as a script with `mlflow server`'s arguments (ExecStart), it is that command
with two changes to the uvicorn command MLflow builds:

- uvicorn serves `create_app` below: MLflow's own app (the one MLflow chose, its
  factory called) with anyio's default thread limiter set to a few threads;
- without job execution, uvicorn replaces this process (exec) instead of
  running beside it: the CLI would otherwise sit idle for the server's life
  holding about 250 MB. With job execution on, the CLI stays, as it supervises
  the job runner.

Why: MLflow's REST API and the web UI's calls are a Flask app that uvicorn runs
on anyio's default thread limiter, up to 40 requests at once per worker (the
sync FastAPI routes too). Under a class's load the writes among them wait on
sqlite's single writer, which polls with sleeps, while the one holding the lock
waits for the GIL behind the others: a few requests wait for seconds. With a
few threads per worker, requests wait in the worker's queue in arrival order
instead. A request's body is read whole before it gets a thread, and the
response goes to an unbounded buffer on the event loop, so a slow client holds
memory, not a thread. MLflow's async artifact routes use asyncio's own
executor, which this does not bound.

Settings (environment, set by the unit; the workers inherit them):
MLOPS_LAB_WORKER_THREADS, the threads of anyio's default limiter per worker.
"""

import importlib
import os
import sys

THREADS_VARIABLE = "MLOPS_LAB_WORKER_THREADS"
# MLflow's app as MLflow names it for uvicorn, and whether it is a factory.
APP_VARIABLE = "MLOPS_LAB_MLFLOW_APP"
FACTORY_VARIABLE = "MLOPS_LAB_MLFLOW_APP_FACTORY"


class ThreadLimit:
    """An ASGI app that runs `app` with anyio's default thread limiter set to `threads`."""

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
    """MLflow's app under the thread limit (uvicorn --factory, in each worker)."""
    module, _, attribute = os.environ[APP_VARIABLE].partition(":")
    app = getattr(importlib.import_module(module), attribute)
    if os.environ.get(FACTORY_VARIABLE) == "1":
        app = app()
    return ThreadLimit(app, int(os.environ[THREADS_VARIABLE]))


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
    from mlflow.environment_variables import MLFLOW_SERVER_ENABLE_JOB_EXECUTION

    run_beside = mlflow.server._exec_cmd
    # Read as MLflow reads it (unset means on).
    supervise = MLFLOW_SERVER_ENABLE_JOB_EXECUTION.get()

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
