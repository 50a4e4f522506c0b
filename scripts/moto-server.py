"""Starts moto server with EC2 address pools that the EC2 emulator routes only into its own
network namespaces, so no instance address can ever be one that exists outside this machine.

    MEADOWRUN_MOTO_PRIVATE_CIDR  the default VPC (its default subnets are /20s of it), e.g. 10.200.0.0/16
    MEADOWRUN_MOTO_PUBLIC_CIDR   public IPv4 addresses handed out in order, e.g. 198.51.100.0/27
    argv: host port
"""
import base64
import ctypes
import ipaddress
import itertools
import os
import signal
import sys
import threading

from moto.awslambda.models import LambdaFunction
from moto.dynamodb.responses import DynamoHandler
from moto.ec2.models import elastic_network_interfaces, instances, vpcs
from moto.server import main

# Dies with the test process that started it, even one killed with SIGKILL (PR_SET_PDEATHSIG).
ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)

private = os.environ.get("MEADOWRUN_MOTO_PRIVATE_CIDR")
public = os.environ.get("MEADOWRUN_MOTO_PUBLIC_CIDR")

if private:
    def create_default_vpc(self):
        if self.describe_vpcs(filters={"is-default": "true"}):
            raise vpcs.DefaultVpcAlreadyExists
        return self.create_vpc(cidr_block=private, is_default=True)

    vpcs.VPCBackend.create_default_vpc = create_default_vpc

    # An instance launched without a subnet gets a "random" private address: hand out this pool's
    # addresses in order instead (a subnet's own addresses already come from the VPC above).
    hosts = itertools.cycle([str(a) for a in ipaddress.ip_network(private).hosts()][10:])
    for module in (instances, elastic_network_interfaces):
        original = module.random_private_ip
        module.random_private_ip = lambda cidr=None, ipv6=False, original=original: (
            original(cidr, ipv6) if cidr or ipv6 else next(hosts))

if public:
    # In order, not at random: a test launches few instances, and an address reused while still
    # in use would route two instances into one namespace.
    addresses = itertools.cycle([str(a) for a in ipaddress.ip_network(public).hosts()])
    elastic_network_interfaces.random_public_ip = lambda: next(addresses)

# DynamoDB's conditional writes are atomic; moto's are not: the server answers requests on threads,
# and its UpdateItem checks the condition, then changes the item in place, with nothing in between
# holding others off (two writers at the same version both win, a reader can see half a write).
# One DynamoDB request at a time makes them atomic, as AWS's are.
dynamodb_lock = threading.Lock()
call_action = DynamoHandler.call_action


def atomic_call_action(self):
    with dynamodb_lock:
        return call_action(self)


DynamoHandler.call_action = atomic_call_action

# GetFunction's Code.Location is a presigned S3 URL on AWS; moto's points nowhere. A data: URL of the
# code uploaded lets a test fetch back the very zip that was deployed, as it would from AWS.
get_code = LambdaFunction.get_code


def get_code_inline(self):
    answer = get_code(self)
    if self.code_bytes and "Location" in answer.get("Code", {}):
        answer["Code"]["Location"] = "data:application/zip;base64," + base64.b64encode(self.code_bytes).decode()
    return answer


LambdaFunction.get_code = get_code_inline

main(["-H", sys.argv[1], "-p", sys.argv[2]])
