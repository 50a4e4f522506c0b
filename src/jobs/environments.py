# Lists (and prunes) the virtual environments an instance's agent built, run on the instance with
# its python3: envs.py ENVS_DIR list | prune MAX_AGE_SECONDS. Prints one JSON list. The client runs
# it over SSH (`meadowrun envs`, the local management); the instance's own watch runs it too.
# An environment in use (a process runs its python: a job, or the agent's warm fork server for it)
# or being built (its .lock exists) is never removed. The pruner holds the environment's build lock
# (ENV.lock, a directory naming its holder's pid, as agent/environments.ts takes it) while it looks
# again and removes it: an agent that marks the environment used meanwhile sees the lock, waits, and
# builds it again if it went.
import json
import os
import shutil
import sys
import time

envs, action = sys.argv[1], sys.argv[2]
max_age = float(sys.argv[3]) if action == 'prune' else None


def environments_in_use():
    found = set()
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            with open(f'/proc/{pid}/cmdline', 'rb') as f:
                command = f.read().split(b'\0')[0].decode(errors='replace')
        except OSError:
            continue
        if command.startswith(envs + '/'):
            found.add(command[len(envs) + 1:].split('/')[0])
    return found


in_use = environments_in_use()


def size(folder):
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                total += os.path.getsize(path)
    return total


def prune(name, folder, marker):
    lock = folder + '.lock'
    try:
        os.mkdir(lock, 0o700)
    except FileExistsError:
        return False  # being built, or another pruner's
    try:
        with open(os.path.join(lock, 'pid'), 'w') as f:
            f.write(str(os.getpid()))
        # Again, under the lock: a job may have chosen it since it was first looked at.
        if time.time() - os.path.getmtime(marker) <= max_age or name in environments_in_use():
            return False
        # Out of the agent's sight first (no marker where it looks), then gone.
        doomed = f'{folder}.pruning-{os.getpid()}'
        os.rename(folder, doomed)
        shutil.rmtree(doomed, ignore_errors=True)
        return True
    finally:
        shutil.rmtree(lock, ignore_errors=True)


found = []
for name in sorted(os.listdir(envs)) if os.path.isdir(envs) else []:
    folder = os.path.join(envs, name)
    marker = os.path.join(folder, 'meadowrun-environment.json')
    if not os.path.isfile(marker):
        continue  # a lock, or one being built
    with open(marker) as f:
        info = json.load(f)
    last_used = os.path.getmtime(marker)
    entry = {
        'hash': name,
        'source': info.get('source'),
        'builtAt': info.get('builtAt'),
        'lastUsedAt': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(last_used)),
        'bytes': size(folder),
        'inUse': name in in_use,
    }
    if action == 'prune' and not entry['inUse'] and time.time() - last_used > max_age:
        entry['removed'] = prune(name, folder, marker)
    found.append(entry)
print(json.dumps(found))
