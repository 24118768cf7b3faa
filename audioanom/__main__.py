"""``python -m audioanom`` (and ``torchrun ... -m audioanom train``): the command line."""

import sys

from .cli import main

sys.exit(main())
