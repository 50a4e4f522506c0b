# Run once by the VM's cloud-init setup, as root, after sshd has its final host key: writes that
# key's public half to this VM's own row of the allocation table (property hostKey, a Merge that
# leaves every other property as it is), with the VM's managed identity's token from the metadata
# service. The client pins the key it reads there (the row is written only by Meadowrun's clients
# and VMs); the boot diagnostics' serial log stays its fallback. An emulator's config (Azurite in
# tests) names its table endpoint (reached with the token as Azure is), or a connection string, and
# then the request is signed with its key (SharedKeyLite). A token the table refuses ends it at once,
# saying why; a missing row or a role not yet in effect are waited for.
# Standard library only: it runs before anything is installed for the agent.
#
# usage: python3 publish-host-key.py AGENT_CONFIG HOST_KEY_PUB
import base64
import email.utils
import hashlib
import hmac
import json
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

DEADLINE_S = 60
PARTITION = "instances"
VERSION = "2020-12-06"


def managed_identity_token(config):
    query = {"api-version": "2018-02-01", "resource": "https://storage.azure.com"}
    if config.get("identityClientId"):
        query["client_id"] = config["identityClientId"]
    url = config["interruption"]["imdsEndpoint"] + "/metadata/identity/oauth2/token?" + urllib.parse.urlencode(query)
    req = urllib.request.Request(url, headers={"Metadata": "true"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read().decode())["access_token"]


def connection_string(text):
    return dict(part.split("=", 1) for part in text.split(";") if "=" in part)


def merge_host_key(config, key):
    storage = config["storage"]
    row = "%s(PartitionKey='%s',RowKey='%s')" % (config["table"]["tableName"], PARTITION, config["instanceId"])
    body = json.dumps({"hostKey": key}).encode()
    headers = {
        "x-ms-version": VERSION,
        "x-ms-date": email.utils.formatdate(usegmt=True),
        "DataServiceVersion": "3.0",
        "Accept": "application/json;odata=nometadata",
        "Content-Type": "application/json",
        "If-Match": "*",
    }
    if storage.get("connectionString") is not None:
        conn = connection_string(storage["connectionString"])
        url = conn["TableEndpoint"].rstrip("/") + "/" + urllib.parse.quote(row, safe="()=',")
        resource = "/" + conn["AccountName"] + urllib.parse.urlsplit(url).path
        digest = hmac.new(base64.b64decode(conn["AccountKey"]), (headers["x-ms-date"] + "\n" + resource).encode(), hashlib.sha256).digest()
        headers["Authorization"] = "SharedKeyLite %s:%s" % (conn["AccountName"], base64.b64encode(digest).decode())
    else:
        endpoint = (storage.get("endpoints") or {}).get("table") or "https://%s.table.core.windows.net" % storage["account"]
        url = endpoint.rstrip("/") + "/" + urllib.parse.quote(row, safe="()=',")
        headers["Authorization"] = "Bearer " + managed_identity_token(config)
    req = urllib.request.Request(url, data=body, method="PATCH", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            if r.status != 204:
                raise RuntimeError("the table answered HTTP %d" % r.status)
    except urllib.error.HTTPError as e:
        code, why = storage_error(e)
        # Storage refuses the token itself with 401, or 403 AuthenticationFailed (expired, another
        # audience or issuer): sending it again will not help. Other 403s are a role not yet in effect.
        if e.code == 401 or code in ("AuthenticationFailed", "InvalidAuthenticationInfo"):
            raise Refused("the table at %s refused the credential: HTTP %d %s: %s" % (urllib.parse.urlsplit(url).netloc, e.code, code, why))
        raise RuntimeError("the table answered HTTP %d %s: %s" % (e.code, code, why))


class Refused(Exception):
    pass


def storage_error(e):
    """The storage service's error code and its reason, from its headers and body (XML or JSON)."""
    try:
        text = e.read().decode("utf-8", "replace")
    except OSError:
        text = ""
    code = e.headers.get("x-ms-error-code") or ""
    match = re.search(r"<Code>([^<]*)</Code>", text)
    if match and not code:
        code = match.group(1)
    for pattern in (r"<AuthenticationErrorDetail>([^<]*)</AuthenticationErrorDetail>", r"<Message>([^<\n]*)", r'"value"\s*:\s*"([^"\\]*)'):
        match = re.search(pattern, text)
        if match:
            return code, match.group(1).strip()
    challenge = re.search(r'error_description="([^"]*)"', e.headers.get("WWW-Authenticate") or "")
    return code, challenge.group(1) if challenge else (text.strip()[:200] or e.reason)


def main():
    config = json.load(open(sys.argv[1]))
    fields = open(sys.argv[2]).read().split()
    if len(fields) < 2 or not fields[0].startswith("ssh-"):
        raise SystemExit("publish-host-key: %s is not an OpenSSH public key" % sys.argv[2])
    deadline = time.time() + DEADLINE_S
    # The row may not be there yet (the client registers it as the launch returns), the identity's
    # role may take a moment to apply, and the metadata service may be slow after boot: try again.
    while True:
        try:
            merge_host_key(config, fields[1])
            return
        except Refused as e:
            raise SystemExit("publish-host-key: %s" % e)
        except (urllib.error.URLError, OSError, RuntimeError, ValueError, KeyError) as e:
            if time.time() > deadline:
                raise SystemExit("publish-host-key: giving up: %s" % e)
            time.sleep(2)


main()
