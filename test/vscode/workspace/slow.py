"""A function that takes its time, for Stop Job and cancel."""
import time


def wait(seconds):
    print("waiting", flush=True)
    time.sleep(seconds)
    return seconds
