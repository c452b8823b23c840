"""cfn-lint rules for what the resource providers refuse or cannot do, which the published schemas do not say.

Loaded with ``cfn-lint --append-rules deploy/cfn-lint-rules`` (tests/deploy/test_cloudformation.py runs them in
``make test``). Each rule is a failure a real create or update met, or would meet, 15-30 minutes in:

* E9101: the Lightsail load-balancer certificate provider (``aws-lightsail-loadbalancertlscertificate``,
  ``validateTemplate``) throws "HttpsRedirectionEnabled field can only be set from a LoadBalancerTlsCertificate
  that is attached" whenever ``IsAttached`` is not true and the field is not null: ``false`` is not null.
* E9102: a change to a create-only property means a replacement, which CloudFormation makes by creating the new
  resource before deleting the old one; with a fixed name the new one cannot be created ("already exists"), the
  update fails and rolls back. So a parameter may feed a create-only property of a named resource only if the
  name changes with it.
* E9103: Lightsail accepts per monitored resource type only some of the metric names its schema lists together.

Not covered: the providers' other runtime checks (quotas, name uniqueness across stacks, bundle availability).
"""

from cfnlint.rules import CloudFormationLintRule, RuleMatch

PSEUDO = "AWS::"

# PutAlarm's metricName, per resource type (Lightsail API reference, PutAlarm).
LIGHTSAIL_ALARM_METRICS = {
    "AWS::Lightsail::Instance": {
        "BurstCapacityPercentage",
        "BurstCapacityTime",
        "CPUUtilization",
        "NetworkIn",
        "NetworkOut",
        "StatusCheckFailed",
        "StatusCheckFailed_Instance",
        "StatusCheckFailed_System",
    },
    "AWS::Lightsail::LoadBalancer": {
        "ClientTLSNegotiationErrorCount",
        "HealthyHostCount",
        "UnhealthyHostCount",
        "HTTPCode_LB_4XX_Count",
        "HTTPCode_LB_5XX_Count",
        "HTTPCode_Instance_2XX_Count",
        "HTTPCode_Instance_3XX_Count",
        "HTTPCode_Instance_4XX_Count",
        "HTTPCode_Instance_5XX_Count",
        "InstanceResponseTime",
        "RejectedConnectionCount",
        "RequestCount",
    },
    "AWS::Lightsail::Database": {
        "CPUUtilization",
        "DatabaseConnections",
        "DiskQueueDepth",
        "FreeStorageSpace",
        "NetworkReceiveThroughput",
        "NetworkTransmitThroughput",
    },
}


def referenced_names(value) -> set[str]:
    """Every name a value reads through Ref, Fn::GetAtt or a ${...} of Fn::Sub (pseudo parameters included)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "Ref" and isinstance(item, str):
                found.add(item)
            elif key == "Fn::GetAtt":
                target = item.split(".", 1)[0] if isinstance(item, str) else item[0]
                if isinstance(target, str):
                    found.add(target)
            elif key == "Fn::Sub":
                text, variables = (item, {}) if isinstance(item, str) else (item[0], item[1])
                local = set(variables) if isinstance(variables, dict) else set()
                for name in _sub_names(text):
                    if name not in local:
                        found.add(name.split(".", 1)[0])
                found |= referenced_names(variables)
            else:
                found |= referenced_names(item)
    elif isinstance(value, list):
        for item in value:
            found |= referenced_names(item)
    return found


def _sub_names(text) -> list[str]:
    if not isinstance(text, str):
        return []
    names, start = [], 0
    while (open_at := text.find("${", start)) != -1:
        close = text.find("}", open_at)
        if close == -1:
            break
        inner = text[open_at + 2 : close]
        if not inner.startswith("!"):
            names.append(inner)
        start = close + 1
    return names


class LightsailCertificateRedirectOnlyWhenAttached(CloudFormationLintRule):
    id = "E9101"
    shortdesc = "Lightsail certificate: HttpsRedirectionEnabled only when attached"
    description = (
        "The provider rejects any non-null HttpsRedirectionEnabled while IsAttached is not true "
        "(use AWS::NoValue in that case, not false)."
    )
    source_url = "https://github.com/aws-cloudformation/aws-cloudformation-resource-providers-lightsail"
    tags = ["resources", "lightsail", "provider"]

    def match(self, cfn):
        matches = []
        for name, resource in cfn.get_resources(["AWS::Lightsail::LoadBalancerTlsCertificate"]).items():
            properties = resource.get("Properties") or {}
            for scenario in cfn.get_object_without_conditions(properties, ["IsAttached", "HttpsRedirectionEnabled"]):
                values = scenario["Object"]
                if values.get("HttpsRedirectionEnabled") is None:
                    continue
                if values.get("IsAttached") in (True, "true", "True"):
                    continue
                when = scenario["Scenario"] or "always"
                matches.append(
                    RuleMatch(
                        ["Resources", name, "Properties", "HttpsRedirectionEnabled"],
                        f"HttpsRedirectionEnabled is set while IsAttached is not true ({when}): the provider "
                        "fails the create; use !Ref AWS::NoValue there",
                    )
                )
        return matches


class CreateOnlyPropertiesOfNamedResources(CloudFormationLintRule):
    id = "E9102"
    shortdesc = "Parameters must not feed create-only properties of a resource with a fixed name"
    description = (
        "Changing such a parameter asks for a replacement, which a fixed name forbids (the new resource "
        "is created first and its name is taken): the update fails. Put the parameter in the name too, "
        "or make the value fixed and say how to change it (runbook)."
    )
    source_url = "https://docs.aws.amazon.com/cloudformation-cli/latest/userguide/resource-type-schema.html"
    tags = ["resources", "provider", "replacement"]

    def match(self, cfn):
        from cfnlint.schema import PROVIDER_SCHEMA_MANAGER, ResourceNotFoundError

        parameters = set(cfn.template.get("Parameters") or {})
        region = cfn.regions[0] if cfn.regions else "us-east-1"
        matches = []
        for name, resource in cfn.get_resources().items():
            kind = resource.get("Type", "")
            properties = resource.get("Properties") or {}
            try:
                schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(region, kind).schema
            except ResourceNotFoundError:
                continue  # a custom or unknown type: no schema to check against
            create_only = [
                path.removeprefix("/properties/")
                for path in schema.get("createOnlyProperties", [])
                if path.count("/") == 2 and path.removeprefix("/properties/") in properties
            ]
            # The resource's own name: CertificateDomainName or MasterUsername are values, not names.
            names = [p for p in create_only if p.endswith("Name") and not p.endswith("DomainName")]
            names = [p for p in names if not p.startswith("Master")]
            if not names:
                continue  # CloudFormation names it: a replacement gets a new name
            in_name = set().union(*(referenced_names(properties[p]) for p in names)) & parameters
            for prop in create_only:
                if prop in names:
                    continue
                fed = (referenced_names(properties[prop]) & parameters) - in_name
                for parameter in sorted(fed):
                    matches.append(
                        RuleMatch(
                            ["Resources", name, "Properties", prop],
                            f"{name}.{prop} is create-only and comes from parameter {parameter}, but "
                            f"{'/'.join(names)} does not change with it: changing {parameter} fails the update",
                        )
                    )
        return matches


class LightsailAlarmMetricPerResourceType(CloudFormationLintRule):
    id = "E9103"
    shortdesc = "Lightsail alarm metric must exist for the monitored resource's type"
    description = "PutAlarm accepts per resource type only some metrics (instances, load balancers, databases)."
    source_url = "https://docs.aws.amazon.com/lightsail/2016-11-28/api-reference/API_PutAlarm.html"
    tags = ["resources", "lightsail", "provider"]

    def match(self, cfn):
        matches = []
        resources = cfn.get_resources()
        for name, alarm in cfn.get_resources(["AWS::Lightsail::Alarm"]).items():
            properties = alarm.get("Properties") or {}
            metric = properties.get("MetricName")
            monitored = properties.get("MonitoredResourceName")
            if not isinstance(metric, str) or not isinstance(monitored, dict) or "Ref" not in monitored:
                continue
            target = resources.get(monitored["Ref"])
            if target is None:
                continue
            allowed = LIGHTSAIL_ALARM_METRICS.get(target.get("Type", ""))
            if allowed is None:
                matches.append(
                    RuleMatch(
                        ["Resources", name, "Properties", "MonitoredResourceName"],
                        f"Lightsail alarms watch instances, load balancers and databases, not {target.get('Type')}",
                    )
                )
            elif metric not in allowed:
                matches.append(
                    RuleMatch(
                        ["Resources", name, "Properties", "MetricName"],
                        f"{metric} is not a metric of {target['Type']} ({monitored['Ref']}); "
                        f"one of: {', '.join(sorted(allowed))}",
                    )
                )
        return matches
