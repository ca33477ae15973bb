"""Puts the fake host's bindings and the runner on ``sys.path`` for the tests."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
RUNNER = os.path.dirname(HERE)
REPO = os.path.dirname(os.path.dirname(RUNNER))
SAMPLES = os.path.join(REPO, "tests", "scramjet", "python")

for path in (RUNNER, os.path.join(HERE, "fake")):
    if path not in sys.path:
        sys.path.insert(0, path)
