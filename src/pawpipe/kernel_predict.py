"""Pawpularity code-competition notebook: offline inference from a pawpipe dataset.

Kaggle runs this with the internet off. It installs the pawpipe wheel shipped in the dataset
(no index, no dependencies: the Kaggle image has torch, timm, scikit-learn and pandas), then
predicts the competition's test images with every fold's Swin + MLP head, SVR and blend weight.
Locally: python predict.py --package <dataset folder> --data <folder with test.csv and test/>
"""

import argparse
import glob
import os
import subprocess
import sys
import tempfile


def find_package(root="/kaggle/input"):
    hits = sorted(
        glob.glob(os.path.join(root, "*", "pawpipe.json")) + glob.glob(os.path.join(root, "*", "*", "pawpipe.json"))
    )
    if not hits:
        sys.exit(f"no pawpipe dataset (a folder with pawpipe.json) under {root}; add it to the notebook's inputs")
    return os.path.dirname(hits[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--package", help="the dataset folder built by `snakemake package` (default: found under /kaggle/input)"
    )
    ap.add_argument(
        "--data", default="/kaggle/input/petfinder-pawpularity-score", help="folder with test.csv and test/"
    )
    ap.add_argument("--out", default="submission.csv")
    ap.add_argument("--device", default="auto")
    args, _ = ap.parse_known_args()
    package = args.package or find_package()
    wheels = glob.glob(os.path.join(package, "pawpipe-*.whl"))
    if not wheels:
        sys.exit(f"{package}: no pawpipe wheel; rebuild the dataset with `snakemake package`")
    lib = tempfile.mkdtemp(prefix="pawpipe-lib-")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-index", "--no-deps", "--quiet", "--target", lib, wheels[0]],
        check=True,
    )
    sys.path.insert(0, lib)
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    import logging

    import pawpipe
    from pawpipe.infer import predict_package

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("pawpipe").info("pawpipe %s from %s", pawpipe.__version__, os.path.dirname(pawpipe.__file__))
    predict_package(package, args.data, args.out, device=args.device)


if __name__ == "__main__":
    main()
