"""Prints for a while: for logs that follow a running job."""
import time


def tick(n):
    for i in range(n):
        print("tick", i, flush=True)
        time.sleep(0.2)
    return n
