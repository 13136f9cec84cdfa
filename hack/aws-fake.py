#!/usr/bin/env python3
"""The AWS the end-to-end tests talk to: the moto server on loopback, with small fakes in
front of it for what moto does not do.

- SSM public parameters (`/aws/service/...`, the EKS-optimized AMI aliases): moto refuses to
  store names under `/aws`; GetParameter for them is answered from a table the test fills
  through `POST /_fake/ssm` ({"name": "value", ...}).
- The Pricing API (GetProducts): moto has none; answered with the repository's on-demand
  price table (crates/catalog/data/on-demand-prices.json, us-east-1) for every type.
- Capacity errors: `POST /_fake/ice` with {"types": ["m5.large", ...]} makes CreateFleet
  answer InsufficientInstanceCapacity for overrides of those types (moto never fails).
- Security groups of fleet instances: moto's CreateFleet reads a template's groups from a key
  the API never sends and gives every instance the VPC's default group, so each node would
  look drifted (SecurityGroupDrift); its instances are given the groups their request's
  templates name, as EC2 does.
- Capacity reservations: moto has no DescribeCapacityReservations; it is answered from
  the list the test sets through `POST /_fake/reservations` ([{"id", "instanceType",
  "zone", "available", "ownerId"?, "matchCriteria"?, "type"?}, ...]), filtered by
  `capacity-reservation-id` and `state` as EC2 filters them.

Everything else goes to moto unchanged. Usage: aws-fake.py PORT
"""
import json
import os
import re
import sys
import threading
import urllib.parse

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
PRICES = json.load(open(os.path.join(ROOT, "crates/catalog/data/on-demand-prices.json")))[
    "onDemand"
]["us-east-1"]

state = {"ssm": {}, "ice": set(), "reservations": [], "lock": threading.Lock()}


def respond(start, status, body, content_type="application/x-amz-json-1.1"):
    data = body.encode() if isinstance(body, str) else body
    start(status, [("Content-Type", content_type), ("Content-Length", str(len(data)))])
    return [data]


def price_document(instance_type, price):
    return json.dumps(
        {
            "product": {"attributes": {"instanceType": instance_type, "regionCode": "us-east-1"}},
            "terms": {
                "OnDemand": {
                    "T1": {"priceDimensions": {"D1": {"pricePerUnit": {"USD": "%.6f" % price}}}}
                }
            },
        }
    )


def fleet_ice_answer(form):
    """An instant-fleet answer with a capacity error per override of an ICE'd type, or
    None when some override is not ICE'd (moto launches it)."""
    overrides = []
    i = 1
    while True:
        prefix = "LaunchTemplateConfigs.%d." % i
        if prefix + "LaunchTemplateSpecification.LaunchTemplateName" not in form:
            break
        j = 1
        while prefix + "Overrides.%d.InstanceType" % j in form:
            overrides.append(
                (
                    form[prefix + "Overrides.%d.InstanceType" % j],
                    form.get(prefix + "Overrides.%d.AvailabilityZone" % j, ""),
                )
            )
            j += 1
        i += 1
    with state["lock"]:
        iced = state["ice"]
        if not overrides or any(t not in iced for t, _ in overrides):
            return None
    errors = "".join(
        "<item><launchTemplateAndOverrides><overrides><instanceType>%s</instanceType>"
        "<availabilityZone>%s</availabilityZone></overrides></launchTemplateAndOverrides>"
        "<lifecycle>on-demand</lifecycle><errorCode>InsufficientInstanceCapacity</errorCode>"
        "<errorMessage>We currently do not have sufficient %s capacity.</errorMessage></item>"
        % (t, z, t)
        for t, z in overrides
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><CreateFleetResponse '
        'xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>fake</requestId>'
        "<fleetId>fleet-fake</fleetId><errorSet>%s</errorSet><fleetInstanceSet/>"
        "</CreateFleetResponse>" % errors
    )


def template_groups(data):
    """The security group ids a launch template's data names, on it or on its interfaces."""
    found = []

    def ids(value):
        if isinstance(value, str):
            return [value]
        if isinstance(value, dict):
            return [v for _, v in sorted(value.items())]
        return list(value or [])

    for key in ("SecurityGroupIds", "SecurityGroupId"):
        found += ids(data.get(key))
    interfaces = data.get("NetworkInterfaces") or data.get("NetworkInterface") or []
    if isinstance(interfaces, dict):
        interfaces = [v for _, v in sorted(interfaces.items())]
    for nic in interfaces:
        for key in ("Groups", "SecurityGroupId", "SecurityGroupIds"):
            found += ids(nic.get(key))
    return found


def apply_template_groups(form, answer, region):
    """Give the instances a CreateFleet answer names the groups of the request's templates."""
    from moto.ec2.models import ec2_backends

    instance_ids = re.findall(r"<item>(i-[0-9a-f]+)</item>", answer)
    names = sorted(
        v for k, v in form.items() if k.endswith("LaunchTemplateSpecification.LaunchTemplateName")
    )
    if not instance_ids or not names:
        return
    for account in list(ec2_backends.keys()):
        backend = ec2_backends[account][region]
        groups = []
        for name in names:
            try:
                data = backend.get_launch_template_by_name(name).latest_version().data
            except Exception:
                continue
            for gid in template_groups(data):
                group = backend.get_security_group_from_id(gid)
                if group is not None and group not in groups:
                    groups.append(group)
        if not groups:
            continue
        for reservation in backend.all_reservations():
            for instance in reservation.instances:
                if instance.id in instance_ids:
                    instance.security_groups = groups
                    for nic in instance.nics.values():
                        nic._group_set = list(groups)


def form_filters(form):
    """The EC2 query filters of a request: name -> values."""
    out = {}
    i = 1
    while "Filter.%d.Name" % i in form:
        values = []
        j = 1
        while "Filter.%d.Value.%d" % (i, j) in form:
            values.append(form["Filter.%d.Value.%d" % (i, j)])
            j += 1
        out[form["Filter.%d.Name" % i]] = values
        i += 1
    return out


def reservations_answer(form):
    filters = form_filters(form)
    ids = filters.get("capacity-reservation-id")
    states = filters.get("state")
    with state["lock"]:
        chosen = [
            r
            for r in state["reservations"]
            if (ids is None or r["id"] in ids) and (states is None or "active" in states)
        ]
    items = "".join(
        "<item><capacityReservationId>%s</capacityReservationId><ownerId>%s</ownerId>"
        "<instanceType>%s</instanceType><availabilityZone>%s</availabilityZone>"
        "<availableInstanceCount>%d</availableInstanceCount>"
        "<totalInstanceCount>%d</totalInstanceCount><state>active</state>"
        "<instanceMatchCriteria>%s</instanceMatchCriteria>"
        "<reservationType>%s</reservationType></item>"
        % (
            r["id"],
            r.get("ownerId", "123456789012"),
            r["instanceType"],
            r["zone"],
            r["available"],
            r["available"],
            r.get("matchCriteria", "targeted"),
            r.get("type", "default"),
        )
        for r in chosen
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><DescribeCapacityReservationsResponse '
        'xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>fake</requestId>'
        "<capacityReservationSet>%s</capacityReservationSet>"
        "</DescribeCapacityReservationsResponse>" % items
    )


class Fakes:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start):
        path = environ.get("PATH_INFO", "")
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        # hand the body on to moto unchanged
        import io

        environ["wsgi.input"] = io.BytesIO(body)
        if path == "/_fake/ssm":
            with state["lock"]:
                state["ssm"].update(json.loads(body or b"{}"))
            return respond(start, "200 OK", "{}", "application/json")
        if path == "/_fake/ice":
            with state["lock"]:
                state["ice"] = set(json.loads(body or b"{}").get("types", []))
            return respond(start, "200 OK", "{}", "application/json")
        if path == "/_fake/reservations":
            with state["lock"]:
                state["reservations"] = json.loads(body or b"[]")
            return respond(start, "200 OK", "{}", "application/json")
        if environ.get("REQUEST_METHOD") == "POST" and b"Action=DescribeCapacityReservations" in body:
            form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode()).items()}
            return respond(start, "200 OK", reservations_answer(form), "text/xml")
        if target == "AmazonSSM.GetParameter":
            name = json.loads(body or b"{}").get("Name", "")
            if name.startswith("/aws/service/") and not name.startswith(
                "/aws/service/ami-amazon-linux-latest"
            ):
                with state["lock"]:
                    value = state["ssm"].get(name)
                if value is None:
                    return respond(
                        start,
                        "400 Bad Request",
                        json.dumps({"__type": "ParameterNotFound", "message": name}),
                    )
                return respond(
                    start,
                    "200 OK",
                    json.dumps(
                        {"Parameter": {"Name": name, "Type": "String", "Value": value, "Version": 1}}
                    ),
                )
        if target == "AWSPriceListService.GetProducts":
            docs = [price_document(t, p) for t, p in sorted(PRICES.items())]
            return respond(
                start, "200 OK", json.dumps({"FormatVersion": "aws_v1", "PriceList": docs})
            )
        if environ.get("REQUEST_METHOD") == "POST" and b"Action=CreateFleet" in body:
            form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode()).items()}
            answer = fleet_ice_answer(form)
            if answer is not None:
                return respond(start, "200 OK", answer, "text/xml")
            captured = {}

            def capture(status, headers, exc_info=None):
                captured["status"], captured["headers"] = status, headers
                return lambda _data: None

            text = b"".join(self.app(environ, capture)).decode()
            scope = re.search(r"Credential=[^/]+/[0-9]+/([a-z0-9-]+)/", environ.get("HTTP_AUTHORIZATION", ""))
            apply_template_groups(form, text, scope.group(1) if scope else "us-east-1")
            start(captured.get("status", "200 OK"), captured.get("headers", []))
            return [text.encode()]
        return self.app(environ, start)


def main():
    port = int(sys.argv[1])
    app = Fakes(DomainDispatcherApplication(create_backend_app))
    run_simple("127.0.0.1", port, app, threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
