# Run once by the user data's setup, as root, after sshd has its final host key: writes that key's
# public half to this instance's own row of the allocation table (attribute hostKey), signed with
# the instance role's credentials from IMDSv2. The client pins the key it reads there (the row is
# written only by Meadowrun's clients and instances); the serial console stays its fallback.
# Standard library only: it runs before anything is installed for the agent.
#
# usage: python3 publish-host-key.py AGENT_CONFIG HOST_KEY_PUB
import datetime
import hashlib
import hmac
import json
import sys
import time
import urllib.error
import urllib.request

DEADLINE_S = 60


def imds(base, path, token=None, method="GET"):
    headers = {"X-aws-ec2-metadata-token": token} if token else {"X-aws-ec2-metadata-token-ttl-seconds": "300"}
    req = urllib.request.Request(base + path, method=method, headers=headers)
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.read().decode()


def role_credentials(base):
    token = imds(base, "/latest/api/token", method="PUT")
    role = imds(base, "/latest/meta-data/iam/security-credentials/", token).strip().split("\n")[0]
    if not role:
        raise RuntimeError("the instance has no role")
    return json.loads(imds(base, "/latest/meta-data/iam/security-credentials/" + role, token))


def sign(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def dynamodb(config, creds, operation, body):
    """One DynamoDB call (JSON 1.0), signed with Signature Version 4."""
    region = config["region"]
    endpoint = config.get("endpoint") or "https://dynamodb.%s.amazonaws.com" % region
    host = endpoint.split("://", 1)[1].rstrip("/")
    payload = json.dumps(body).encode()
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    headers = {
        "content-type": "application/x-amz-json-1.0",
        "host": host,
        "x-amz-date": amz_date,
        "x-amz-security-token": creds["Token"],
        "x-amz-target": "DynamoDB_20120810." + operation,
    }
    names = sorted(headers)
    canonical = "\n".join(["POST", "/", "", "".join("%s:%s\n" % (n, headers[n]) for n in names), ";".join(names), hashlib.sha256(payload).hexdigest()])
    scope = "%s/%s/dynamodb/aws4_request" % (day, region)
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    k = sign(sign(sign(sign(("AWS4" + creds["SecretAccessKey"]).encode(), day), region), "dynamodb"), "aws4_request")
    headers["authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
        creds["AccessKeyId"], scope, ";".join(names), hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest())
    req = urllib.request.Request(endpoint.rstrip("/") + "/", data=payload, method="POST", headers=headers)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read().decode() or "{}")


def main():
    config = json.load(open(sys.argv[1]))
    fields = open(sys.argv[2]).read().split()
    if len(fields) < 2 or fields[0] != "ssh-ed25519":
        raise SystemExit("publish-host-key: %s is not an ed25519 public key" % sys.argv[2])
    update = {
        "TableName": config["table"]["tableName"],
        "Key": {"id": {"S": config["instanceId"]}},
        "UpdateExpression": "SET #hostKey = :hostKey",
        # Only into the row the client registered (it does so as RunInstances answers): a row
        # deregistered meanwhile (a cancelled launch) is not made again.
        "ConditionExpression": "attribute_exists(#id)",
        "ExpressionAttributeNames": {"#hostKey": "hostKey", "#id": "id"},
        "ExpressionAttributeValues": {":hostKey": {"S": fields[1]}},
    }
    deadline = time.time() + DEADLINE_S
    while True:
        try:
            dynamodb(config, role_credentials(config["interruption"]["imdsEndpoint"]), "UpdateItem", update)
            print("meadowrun-host-key-published")
            return
        except (urllib.error.URLError, OSError, RuntimeError, ValueError) as e:
            detail = e.read().decode(errors="replace") if isinstance(e, urllib.error.HTTPError) else str(e)
            # Worth another try: the row not registered yet, throttling, a 5xx, the network; not a refusal.
            retry = not isinstance(e, urllib.error.HTTPError) or e.code >= 500 or "ConditionalCheckFailed" in detail or "Throttl" in detail
            if not retry or time.time() > deadline:
                # Not fatal: the client falls back to the key cloud-init prints on the console.
                print("publish-host-key: gave up: %s" % detail)
                return
            time.sleep(2)


if __name__ == "__main__":
    main()
