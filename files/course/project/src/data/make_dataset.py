"""Export the datasets that ship with scikit-learn to CSV files in data/raw/.

Nothing is downloaded: iris, wine, breast cancer and diabetes are bundled
with scikit-learn. Run it from the project root:

    uv run python -m src.data.make_dataset
"""

import argparse
from pathlib import Path

from sklearn import datasets

LOADERS = {
    "iris": datasets.load_iris,
    "wine": datasets.load_wine,
    "breast_cancer": datasets.load_breast_cancer,
    "diabetes": datasets.load_diabetes,
}


def export(output_dir: Path, names: list[str]) -> list[Path]:
    """Write each named dataset to <output_dir>/<name>.csv, features plus a target column."""
    output_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        frame = LOADERS[name](as_frame=True).frame
        path = output_dir / f"{name}.csv"
        frame.to_csv(path, index=False)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=Path("data/raw"))
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"datasets to export (default: {', '.join(LOADERS)})",
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(LOADERS))
    if unknown:
        parser.error(f"unknown dataset(s): {', '.join(unknown)}")
    for path in export(args.output_dir, args.names or list(LOADERS)):
        print(path)


if __name__ == "__main__":
    main()
