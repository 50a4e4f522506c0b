"""A script the README's demo runs remotely with `meadowrun run-command`."""
import os
import sys

from analysis import estimate_pi

print(f"Arguments: {sys.argv[1:]}")
print(f"Working directory: {os.getcwd()}")
for n in (1_000, 10_000, 100_000):
    print(f"pi ≈ {estimate_pi(n):.5f} with {n:,} samples")
