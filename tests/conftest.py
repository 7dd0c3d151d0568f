"""Shared test configuration.

Hypothesis runs derandomised and without deadlines by default, so that the
suite gives the same verdict on every run and on a loaded CI machine.  Set
HYPOTHESIS_PROFILE=explore to let it search with fresh random examples.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    deadline=None,
    derandomize=True,
    max_examples=50,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("explore", deadline=None, max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
