"""pawpipe: a reproducible Pawpularity pipeline (Swin + MLP head, SVR on embeddings, blend)."""

import os

# albumentations checks PyPI for a newer version on import unless told not to; runs must stay offline.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

__version__ = "0.1.0"
