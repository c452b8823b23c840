"""Hypothesis profiles for the state machine: a bounded, repeatable run in ``make test`` and a long one
(``make machine``). Registered here and read by the machine's test only (never loaded globally), so other
hypothesis users in the suite keep their own settings."""

import os

from hypothesis import HealthCheck, Phase, settings

# Repeatable (derandomize) and bounded: the same 50 sequences of up to 25 steps on every run. No shrinking
# here (it can take minutes): a failure prints its whole sequence; `make machine` shrinks to the fewest steps.
settings.register_profile(
    "lifecycle-default",
    phases=[Phase.explicit, Phase.generate],
    max_examples=50,
    stateful_step_count=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
# `make machine`: random sequences, many more and longer; a failure prints the steps and a @seed to replay.
settings.register_profile(
    "long",
    max_examples=int(os.environ.get("MACHINE_EXAMPLES", "500")),
    stateful_step_count=30,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def machine_settings() -> settings:
    """The profile named by HYPOTHESIS_PROFILE ("long"), else the bounded default."""
    name = os.environ.get("HYPOTHESIS_PROFILE", "")
    return settings.get_profile("long" if name == "long" else "lifecycle-default")
