"""The instance metadata service of the machine emulator, for emulated machines only: EC2's (IMDSv1
and v2) and, for a machine whose metadata has an "azure" part (a VM of the fake Resource Manager),
Azure's: Scheduled Events, the VM's managed identity tokens and its compute metadata.

It listens on 169.254.169.254:80 in the host's namespace with IP_TRANSPARENT: that address is local
only in routing table 169, which an `ip rule iif VETH lookup 169` selects for traffic coming out of
an instance's veth, so nothing else on this machine reaches it (and nothing here sends to it).
It tells instances apart by source address: DATA_DIR/<private-ip>.json, written by the emulator,
holds what that instance's metadata says (re-read on every request, so a spot notice switched on
by the emulator shows at once). Several emulators may run at once: each starts one of these with
SO_REUSEPORT, and any of them can answer any instance because they share DATA_DIR and the token key.

Azure's tokens are JWTs signed with the shared key (HS256, where Azure's are RS256): the audience
is the resource asked for, the subject the identity's principal; test stand-ins for Azure's data
plane can check them with that key (DATA_DIR/.token-key).

    usage: imds.py DATA_DIR
"""
import base64
import ctypes
import hashlib
import hmac
import json
import os
import signal
import socket
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Dies with the test process that started it, even one killed with SIGKILL (PR_SET_PDEATHSIG).
ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)

DATA_DIR = sys.argv[1]
ADDRESS = "169.254.169.254"


def token_key() -> bytes:
    path = os.path.join(DATA_DIR, ".token-key")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(os.urandom(32))
    except FileExistsError:
        pass
    with open(path, "rb") as f:
        return f.read()


KEY = token_key()


def sign(ip: str, expires: int) -> str:
    mac = hmac.new(KEY, f"{ip}|{expires}".encode(), hashlib.sha256).hexdigest()[:32]
    return base64.urlsafe_b64encode(f"{ip}|{expires}|{mac}".encode()).decode()


def valid(ip: str, token: str) -> bool:
    try:
        tip, expires, _ = base64.urlsafe_b64decode(token.encode()).decode().split("|")
        return tip == ip and int(expires) > time.time() and hmac.compare_digest(sign(ip, int(expires)), token)
    except Exception:
        return False


class Handler(BaseHTTPRequestHandler):
    server_version = "EC2ws"
    sys_version = ""

    def log_message(self, *args):  # the emulator's test output stays quiet
        pass

    def send(self, status: int, body=b"", content_type="text/plain"):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def instance(self):
        ip = self.client_address[0]
        try:
            with open(os.path.join(DATA_DIR, f"{ip}.json"), encoding="utf-8") as f:
                return ip, json.load(f)
        except (FileNotFoundError, json.JSONDecodeError):
            return ip, None

    def do_PUT(self):
        ip, data = self.instance()
        if data is None:
            return self.send(403, "Forbidden")
        if self.path != "/latest/api/token":
            return self.send(404, "Not Found")
        if "X-Forwarded-For" in self.headers:
            return self.send(403, "Forbidden")
        try:
            ttl = int(self.headers.get("X-aws-ec2-metadata-token-ttl-seconds", ""))
        except ValueError:
            return self.send(400, "Bad Request")
        if not 1 <= ttl <= 21600:
            return self.send(400, "Bad Request")
        self.send(200, sign(ip, int(time.time()) + ttl))

    def do_GET(self):
        ip, data = self.instance()
        if data is None:
            return self.send(403, "Forbidden")
        if self.path.startswith("/metadata/"):
            return self.azure(data)
        token = self.headers.get("X-aws-ec2-metadata-token")
        if token is not None and not valid(ip, token):
            return self.send(401, "Unauthorized")
        if token is None and data.get("httpTokens") == "required":
            return self.send(401, "Unauthorized")
        answer = self.answer(data, self.path.split("?")[0].rstrip("/"))
        if answer is None:
            return self.send(404, "Not Found")
        if isinstance(answer, (dict, list)) and not isinstance(answer, str):
            return self.send(200, json.dumps(answer, indent=2))
        return self.send(200, answer)

    def answer(self, d, path):
        if path == "/latest/user-data":
            return base64.b64decode(d["userData"]) if d.get("userData") else None
        if path == "/latest/dynamic/instance-identity/document":
            return {
                "instanceId": d["instanceId"], "instanceType": d["instanceType"], "imageId": d["imageId"],
                "availabilityZone": d["availabilityZone"], "region": d["region"], "privateIp": d["privateIp"],
                "accountId": d.get("accountId", "123456789012"), "architecture": d.get("architecture", "x86_64"),
            }
        m = "/latest/meta-data"
        role = d.get("role")
        creds = d.get("credentials")
        spot = d.get("spotAction")
        values = {
            "instance-id": d["instanceId"],
            "instance-type": d["instanceType"],
            "ami-id": d["imageId"],
            "local-ipv4": d["privateIp"],
            "public-ipv4": d.get("publicIp"),
            "local-hostname": d["hostname"],
            "hostname": d["hostname"],
            "placement/availability-zone": d["availabilityZone"],
            "placement/region": d["region"],
            "iam/security-credentials": role,
            "spot/instance-action": json.dumps(spot) if spot else None,
        }
        if role and creds:
            values[f"iam/security-credentials/{role}"] = json.dumps({
                "Code": "Success", "LastUpdated": creds.get("lastUpdated"), "Type": "AWS-HMAC",
                "AccessKeyId": creds["accessKeyId"], "SecretAccessKey": creds["secretAccessKey"],
                "Token": creds["sessionToken"], "Expiration": creds["expiration"],
            }, indent=2)
        if path == m:
            return "\n".join(sorted({k.split("/")[0] + ("/" if "/" in k else "") for k, v in values.items() if v}))
        if not path.startswith(m + "/"):
            return None
        key = path[len(m) + 1:]
        if values.get(key):
            return values[key]
        below = sorted({k[len(key) + 1:].split("/")[0] for k, v in values.items() if v and k.startswith(key + "/")})
        return "\n".join(below) if below else None


    def azure(self, d):
        """Azure's metadata service (learn.microsoft.com/azure/virtual-machines/instance-metadata-service)."""
        azure = d.get("azure")
        if azure is None:
            return self.send(404, "Not Found")
        if self.headers.get("Metadata") != "true" or "X-Forwarded-For" in self.headers:
            return self.send(400, json.dumps({"error": "Bad request. Required metadata header not specified"}), "application/json")
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if "api-version" not in query:
            return self.send(400, json.dumps({"error": "Bad request. api-version was not specified in the request"}), "application/json")
        if url.path == "/metadata/scheduledevents":
            events = d.get("scheduledEvents", [])
            return self.send(200, json.dumps({"DocumentIncarnation": len(events), "Events": events}), "application/json")
        if url.path == "/metadata/instance/compute/resourceId" and query.get("format") == "text":
            return self.send(200, azure["resourceId"])
        if url.path == "/metadata/identity/oauth2/token":
            return self.token(azure, query)
        return self.send(404, "Not Found")

    def token(self, azure, query):
        identities = azure.get("identities", [])
        wanted = query.get("client_id")
        found = [i for i in identities if i["clientId"] == wanted] if wanted else identities
        if len(found) != 1 or not query.get("resource"):
            return self.send(400, json.dumps({"error": "invalid_request", "error_description": "Identity not found"}), "application/json")
        identity = found[0]
        now = int(time.time())
        claims = {
            "aud": query["resource"], "iss": "https://sts.windows.net/%s/" % azure.get("tenantId", ""), "iat": now, "nbf": now,
            "exp": now + 3600, "oid": identity["principalId"], "sub": identity["principalId"], "appid": identity["clientId"],
            "xms_mirid": identity["resourceId"],
        }
        part = lambda o: base64.urlsafe_b64encode(json.dumps(o).encode()).decode().rstrip("=")
        signed = part({"alg": "HS256", "typ": "JWT"}) + "." + part(claims)
        mac = base64.urlsafe_b64encode(hmac.new(KEY, signed.encode(), hashlib.sha256).digest()).decode().rstrip("=")
        self.send(200, json.dumps({
            "access_token": signed + "." + mac, "client_id": identity["clientId"], "expires_in": "3599", "expires_on": str(now + 3600),
            "ext_expires_in": "3599", "not_before": str(now), "resource": query["resource"], "token_type": "Bearer",
        }), "application/json")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def server_bind(self):
        self.socket.setsockopt(socket.SOL_IP, socket.IP_TRANSPARENT, 1)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()


server = Server((ADDRESS, 80), Handler)
print("ready", flush=True)
server.serve_forever()
