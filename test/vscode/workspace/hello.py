"""A script for "Run File Remotely": prints a greeting and its arguments."""
import sys

print("Hello from Meadowrun!")
print("argv:", sys.argv[1:])
