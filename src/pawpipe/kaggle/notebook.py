"""Pawpularity code-competition notebook: offline inference from a pawpipe dataset.

Kaggle runs this with the internet off. It finds its two inputs under /kaggle/input, whichever way
Kaggle mounts them (/kaggle/input/<slug>/ or /kaggle/input/competitions/<slug>/ and
/kaggle/input/datasets/<owner>/<slug>/): the pawpipe dataset (the folder with the pawpipe wheel) and
the competition's folder (with its test table). It installs the wheel shipped in the dataset (no
index, no dependencies: the Kaggle image has torch, timm, pandas and Pillow), reads the package's
manifest, then predicts the test images with every fold's Swin + MLP head, SVR and blend weight, on
every visible GPU.
Locally: python predict.py --input <folder standing for /kaggle/input>, or --package and --data.
"""

import argparse
import glob
import os
import subprocess
import sys
import tempfile

WHEEL = "pawpipe-*.whl"  # what marks the package folder, before pawpipe can be imported to read its manifest
MANY = 1000  # a folder with this many files holds images: its subfolders are not searched


def find_inputs(root, competition=None, marker=None):
    """(competition folders, package folders) anywhere under root: a package holds the pawpipe wheel; the
    competition's folder holds `marker` (the test table the package names, e.g. test.csv)."""
    data, packages = [], []
    for here, dirs, files in os.walk(root, followlinks=True):
        if glob.glob(os.path.join(glob.escape(here), WHEEL)):
            packages.append(here)
        if marker and marker in files:
            data.append(here)
        dirs[:] = [] if len(files) >= MANY else sorted(d for d in dirs if not d.startswith("."))
    if competition and len(data) > 1:
        data = [d for d in data if os.path.basename(d) == competition] or data
    return data, packages


def describe(root, depth=3):
    """What is under root, a few levels deep: printed when an input is missing."""
    lines = []
    for here, dirs, files in os.walk(root, followlinks=True):
        level = os.path.relpath(here, root).count(os.sep) + (here != root)
        lines.append(f"  {here}/ ({len(files)} files)")
        dirs[:] = sorted(dirs) if level < depth and len(files) < MANY else []
    return "\n".join(lines[:40]) or f"  {root} does not exist"


def choose(found, what, fix, root):
    if len(found) == 1:
        return found[0]
    if not found:
        sys.exit(f"no {what} under {root}; {fix}. Found:\n{describe(root)}")
    sys.exit(f"{len(found)} {what}s under {root}: {', '.join(found)}; keep one in the notebook's inputs")


def locate_package(args):
    package = args.package or choose(
        find_inputs(args.input)[1], "pawpipe dataset (a folder with the pawpipe wheel)",
        "add the dataset to the notebook's inputs", args.input,
    )  # fmt: skip
    print(f"pawpipe package:  {package}", flush=True)
    return package


def locate_data(args, manifest):
    """The competition's folder: as given, else the one under --input that holds the test table."""
    table = manifest.task["tables"]["test"]
    data = args.data or choose(
        find_inputs(args.input, manifest.competition, table)[0], f"competition data (a folder with {table})",
        f"add the competition {manifest.competition} to the notebook's inputs", args.input,
    )  # fmt: skip
    print(f"competition data: {data} (test table {table})", flush=True)
    return data


def install_wheel(package):
    wheels = sorted(glob.glob(os.path.join(glob.escape(package), WHEEL)))
    if not wheels:
        sys.exit(f"{package}: no pawpipe wheel; rebuild the dataset with the pipeline's package rule")
    lib = tempfile.mkdtemp(prefix="pawpipe-lib-")
    cmd = [sys.executable, "-m", "pip", "install", "--no-index", "--no-deps", "--quiet", "--target", lib, wheels[-1]]
    subprocess.run(cmd, check=True)
    sys.path.insert(0, lib)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", default="/kaggle/input", help="where Kaggle mounts the inputs (searched at any depth)")
    ap.add_argument("--package", help="the dataset folder built by the package rule (default: found under --input)")
    ap.add_argument("--data", help="folder with test.csv and test/ (default: found under --input)")
    ap.add_argument("--out", default="submission.csv")
    ap.add_argument("--device", default="auto", help="auto: every visible GPU, else the CPU; or e.g. cuda:0,cuda:1")
    ap.add_argument("--timings", help="write the decode and per-fold seconds to this JSON file")
    args, _ = ap.parse_known_args()  # a notebook's kernel passes arguments of its own
    package = locate_package(args)
    install_wheel(package)
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    import logging

    import pawpipe
    from pawpipe.kaggle.manifest import Manifest, ManifestError
    from pawpipe.kaggle.predict import predict_package

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("pawpipe").info("pawpipe %s from %s", pawpipe.__version__, os.path.dirname(pawpipe.__file__))
    try:
        manifest = Manifest.read(package)
    except ManifestError as exc:
        sys.exit(str(exc))
    data = locate_data(args, manifest)
    predict_package(package, data, args.out, device=args.device, timings_json=args.timings)


if __name__ == "__main__":
    main()
