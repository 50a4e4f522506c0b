"""Functions the README's demo runs remotely with `meadowrun run-function`."""
import platform
import random


def estimate_pi(samples):
    """Monte Carlo estimate of pi from `samples` random points."""
    rng = random.Random(42)
    inside = sum(1 for _ in range(samples) if rng.random() ** 2 + rng.random() ** 2 <= 1)
    return 4 * inside / samples


def where_am_i():
    return {"host": platform.node(), "python": platform.python_version()}


def divide(a, b):
    return a / b
