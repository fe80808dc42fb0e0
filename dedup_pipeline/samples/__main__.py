"""``python -m dedup_pipeline.samples``: same as ``python -m dedup_pipeline.samples.generator``."""

import sys

from dedup_pipeline.samples.generator import main

if __name__ == "__main__":
    sys.exit(main())
