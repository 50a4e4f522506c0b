"""Functions for "Run remotely" lenses: only the top-level defs get one."""
import functools


def add(a, b):
    return a + b


def fail():
    raise ValueError("fail() always raises")


def outer():
    # Nested, so not runnable remotely on its own: no lens above it.
    def inner_helper(x):
        return x * 2

    return inner_helper(21)


@functools.lru_cache(maxsize=None)
def square(x):
    return x * x
