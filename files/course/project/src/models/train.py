"""The first MLflow experiment: train an iris classifier and track it.

Parameters, metrics and the fitted model are logged to the tracking server
named in .env (read through src.utils.config). Run it from the project root:

    uv run python -m src.models.train --c 0.5 --max-iter 300
"""

import argparse
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.models import infer_signature
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score
from sklearn.model_selection import train_test_split

from src.utils.config import Config

RAW_IRIS = Path("data/raw/iris.csv")


def load_data() -> tuple[pd.DataFrame, pd.Series]:
    """The iris data from data/raw/ when it is there, else scikit-learn's bundled copy."""
    frame = (
        pd.read_csv(RAW_IRIS) if RAW_IRIS.exists() else load_iris(as_frame=True).frame
    )
    return frame.drop(columns="target"), frame["target"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Train an iris classifier, tracked by MLflow."
    )
    parser.add_argument(
        "--c", type=float, default=1.0, help="inverse regularisation strength"
    )
    parser.add_argument("--max-iter", type=int, default=200)
    parser.add_argument("--test-size", type=float, default=0.2)
    parser.add_argument("--random-state", type=int, default=42)
    parser.add_argument("--run-name", default=None)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> str:
    args = parse_args(argv)
    mlflow.set_tracking_uri(Config.MLFLOW_TRACKING_URI)
    mlflow.set_experiment(Config.MLFLOW_EXPERIMENT_NAME)

    features, target = load_data()
    x_train, x_test, y_train, y_test = train_test_split(
        features,
        target,
        test_size=args.test_size,
        random_state=args.random_state,
        stratify=target,
    )
    params = {
        "C": args.c,
        "max_iter": args.max_iter,
        "random_state": args.random_state,
    }

    with mlflow.start_run(run_name=args.run_name) as run:
        mlflow.log_params({**params, "test_size": args.test_size})
        model = LogisticRegression(**params).fit(x_train, y_train)

        predictions = model.predict(x_test)
        metrics = {
            "accuracy": accuracy_score(y_test, predictions),
            "precision_macro": precision_score(y_test, predictions, average="macro"),
            "recall_macro": recall_score(y_test, predictions, average="macro"),
            "f1_macro": f1_score(y_test, predictions, average="macro"),
        }
        mlflow.log_metrics(metrics)

        mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(x_test, predictions),
            input_example=x_test.head(3),
        )
        print(f"run {run.info.run_id}: accuracy {metrics['accuracy']:.3f}")
        return run.info.run_id


if __name__ == "__main__":
    main()
