"""The CloudFormation templates (deploy/cloudformation/) pass cfn-lint and checkov, and keep the promises issue #12
is about: a first create that succeeds (two-phase certificate), nothing left behind by a failed create, alarms
that can reach a person, CloudFront in front of everything, an origin nobody can reach around it.

What is not covered without an AWS account: that AWS accepts each value (cfn-lint checks names and types
against the published resource schemas, not the service's own validation), the real delivery of alarm
e-mails, and CloudFront's and the load balancer's header behaviour (documented in client_address.py).
"""

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from jewelry_site.logs import security_event
from tests.deploy.conftest import REPO

TEMPLATES = sorted((REPO / "deploy/cloudformation").glob("*.yaml"))
SHOP = REPO / "deploy/cloudformation/shop.yaml"
CERTIFICATE = REPO / "deploy/cloudformation/cloudfront-certificate.yaml"
CFN_LINT = Path(sys.executable).with_name("cfn-lint")
PROVIDER_RULES = REPO / "deploy/cfn-lint-rules"
# The template before issue #22 (phase 1 failed on create): the provider rules must refuse it.
BEFORE_ISSUE_22 = "452ee88ec07ee27c03c081765e1d32171c9d9dab"
CHECKOV = REPO / os.environ.get("TOOLS_VENV", ".venv-tools") / "bin/checkov"
BOOTSTRAP = REPO / "deploy/bootstrap-instance.sh"

CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
ALL_VIEWER = "216adef6-5c7f-47e4-b989-5492eafa07d3"
LIGHTSAIL_PRIVATE_RANGE = "172.26.0.0/16"


class _Loader(yaml.SafeLoader):
    """Reads CloudFormation short tags as their long form: ``!Ref X`` -> ``{"Ref": "X"}``, ``!If [...]`` ->
    ``{"Fn::If": [...]}``, so tests can tell a condition from a plain value."""


def _tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_Loader.add_multi_constructor("!", _tag)


def load(path: Path) -> dict:
    return yaml.load(path.read_text(), Loader=_Loader)  # noqa: S506 - SafeLoader subclass


def load_text(text: str) -> dict:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - SafeLoader subclass


def template() -> dict:
    return load(SHOP)


def resources() -> dict:
    return template()["Resources"]


def of_type(kind: str) -> dict:
    return {name: r for name, r in resources().items() if r["Type"] == kind}


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


# --- Linters ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_cfn_lint_passes(path):
    result = subprocess.run(
        [str(CFN_LINT), "--include-checks", "I", "--append-rules", str(PROVIDER_RULES), "--", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def cfn_lint_findings(text: str, tmp_path: Path, *, provider_rules: bool = True) -> list[str]:
    """The rule ids cfn-lint reports for a template given as text (one per finding)."""
    path = tmp_path / "shop.yaml"
    path.write_text(text)
    extra = ["--append-rules", str(PROVIDER_RULES)] if provider_rules else []
    result = subprocess.run(
        [str(CFN_LINT), "--format", "parseable", *extra, "--", str(path)], capture_output=True, text=True, timeout=300
    )
    assert "E0002" not in result.stdout, result.stdout  # a rule that crashed proves nothing
    return [line.split(":")[5] for line in result.stdout.splitlines() if line.count(":") >= 6]


def old_template() -> str:
    return subprocess.run(
        ["git", "show", f"{BEFORE_ISSUE_22}:deploy/cloudformation/shop.yaml"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout


def test_provider_rules_refuse_the_template_before_issue_22_which_cfn_lint_alone_passed(tmp_path):
    text = old_template()
    assert cfn_lint_findings(text, tmp_path, provider_rules=False) == []
    found = cfn_lint_findings(text, tmp_path)
    # Phase 1's unattached certificate with HttpsRedirectionEnabled false (the create that failed).
    assert found.count("E9101") == 1
    # Bundles and the zone from parameters on named instances (3) and the database (4 x 2), and the
    # certificate's domain names (2; now an accepted, explained exception in its Metadata).
    assert found.count("E9102") == 10
    assert set(found) == {"E9101", "E9102"}


def test_alarm_metric_rule_refuses_a_metric_of_another_resource_type(tmp_path):
    # The old template's metrics were right; the rule is shown on it with one alarm made wrong. The
    # schema lists every Lightsail metric together, so cfn-lint alone accepts StatusCheckFailed here.
    text = old_template()
    wrong = text.replace(
        "MonitoredResourceName: !Ref Database\n      MetricName: CPUUtilization",
        "MonitoredResourceName: !Ref Database\n      MetricName: StatusCheckFailed",
    )
    assert wrong != text
    assert "E9103" not in cfn_lint_findings(wrong, tmp_path, provider_rules=False)
    assert cfn_lint_findings(wrong, tmp_path).count("E9103") == 1
    assert "E9103" not in cfn_lint_findings(text, tmp_path)


def test_checkov_passes_and_every_skip_says_why():
    assert len(TEMPLATES) >= 2
    result = subprocess.run(
        [
            *(str(CHECKOV), "--directory", str(REPO / "deploy/cloudformation"), "--framework", "cloudformation"),
            *("--output", "json", "--skip-download", "--compact"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    report = json.loads(result.stdout)
    assert report["summary"]["failed"] == 0
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["resource_count"] >= 50
    skipped = report["results"]["skipped_checks"]
    for check in skipped:
        reason = check["check_result"].get("suppress_comment", "")
        assert len(reason) > 30, (check["check_id"], check["resource"], reason)
    # Every skip written in a template is one checkov used (no stale skips hiding nothing).
    written = set()
    for path in TEMPLATES:
        for resource_id, rule in _skips_by_resource(path.read_text()):
            written.add((resource_id, rule))
    used = {(check["resource"].split(".", 1)[1], check["check_id"]) for check in skipped}
    assert written == used


def _skips_by_resource(text: str) -> list[tuple[str, str]]:
    found, current = [], None
    for line in text.splitlines():
        if match := re.match(r"^  ([A-Za-z0-9]+):\s*$", line):
            current = match[1]
        if match := re.search(r"checkov:skip=([A-Z0-9_]+):(.+)$", line):
            found.append((current, match[1]))
    return found


# --- A first create that succeeds, and nothing left behind when it does not -----------------------


def test_every_resource_that_keeps_data_is_retained_except_on_create():
    policies = {name: r.get("DeletionPolicy") for name, r in resources().items()}
    retained = {name for name, policy in policies.items() if policy and policy.startswith("Retain")}
    assert retained == {
        "MediaBucket",
        "UserPool",
        "DbMasterSecret",
        "DbPasswordSecret",
        "OriginVerifySecret",
        "AppConfigSecret",
        "StackSecretsSecret",
        "OperatorConfigSecret",
        "AppLogGroup",
        "Database",
    }
    for name in retained:
        assert policies[name] == "RetainExceptOnCreate", name
        assert resources()[name]["UpdateReplacePolicy"] == "Retain", name


def test_user_pool_deletion_protection_starts_in_phase_two():
    # A protected pool cannot be rolled back, so a failed first create would leave it behind.
    assert resources()["UserPool"]["Properties"]["DeletionProtection"] == {
        "Fn::If": ["CertificateValidated", "ACTIVE", "INACTIVE"]
    }


def test_load_balancer_certificate_is_attached_only_once_validated():
    parameters, conditions = template()["Parameters"], template()["Conditions"]
    assert parameters["LoadBalancerDnsName"]["Default"] == ""
    assert conditions["CertificateValidated"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "LoadBalancerDnsName"}, ""]}]}
    certificate = resources()["LoadBalancerCertificate"]["Properties"]
    assert certificate["IsAttached"] == {"Fn::If": ["CertificateValidated", True, False]}
    # Not false in phase 1: the provider refuses any value on an unattached certificate (issue #22).
    assert certificate["HttpsRedirectionEnabled"] == {"Fn::If": ["CertificateValidated", True, {"Ref": "AWS::NoValue"}]}
    # CloudFront verifies the origin's certificate against the forwarded Host or the origin name.
    assert certificate["CertificateDomainName"] == {"Ref": "DomainName"}
    assert certificate["CertificateAlternativeNames"] == [{"Fn::Sub": "origin.${DomainName}"}]


def test_cloudfront_certificate_is_validated_by_the_stack_in_us_east_1():
    cert_template = load(CERTIFICATE)
    assertion = cert_template["Rules"]["CloudFrontNeedsUsEast1"]["Assertions"][0]["Assert"]
    assert assertion == {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]}
    certificate = cert_template["Resources"]["Certificate"]["Properties"]
    assert certificate["ValidationMethod"] == "DNS"
    (option,) = certificate["DomainValidationOptions"]
    assert option["HostedZoneId"] == {"Fn::If": ["HasHostedZone", {"Ref": "HostedZoneId"}, {"Ref": "AWS::NoValue"}]}
    assert "CertificateArn" in cert_template["Outputs"]
    assert template()["Parameters"]["CloudFrontCertificateArn"]["AllowedPattern"].startswith(
        "^arn:aws[a-z-]*:acm:us-east-1:"
    )


# --- Alarms that reach a person ----------------------------------------------------------------


def test_alarm_topic_uses_a_key_cloudwatch_may_use():
    topic = resources()["AlertTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Ref": "AlertTopicKey"}
    key = resources()["AlertTopicKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    grants = [s for s in key["KeyPolicy"]["Statement"] if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    (grant,) = grants
    assert grant["Effect"] == "Allow"
    assert set(as_list(grant["Action"])) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    assert grant["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}


def test_every_cloudwatch_alarm_notifies_the_topic():
    for name, alarm in of_type("AWS::CloudWatch::Alarm").items():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlertTopic"}], name


def test_zero_traffic_alarm_fires_on_silence():
    alarm = resources()["ZeroTrafficAlarm"]["Properties"]
    assert alarm["TreatMissingData"] == "breaching"
    assert (alarm["MetricName"], alarm["Statistic"]) == ("Requests", "Sum")
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("LessThanThreshold", 1)
    assert alarm["Namespace"] == {"Fn::Sub": "${ShopName}/app"}
    # The metric it watches is the one the access-log filter emits.
    requests_filter = resources()["RequestsMetricFilter"]["Properties"]
    (transformation,) = requests_filter["MetricTransformations"]
    assert transformation["MetricName"] == "Requests"
    assert requests_filter["FilterPattern"] == '{ $.logger = "shop.access" }'


def test_lightsail_alarms_cover_instances_balancer_and_database():
    alarms = of_type("AWS::Lightsail::Alarm")
    watched = {
        (next(iter(a["Properties"]["MonitoredResourceName"].values())), a["Properties"]["MetricName"])
        for a in alarms.values()
    }
    for n in (1, 2, 3):
        assert (f"Instance{n}", "StatusCheckFailed") in watched
        assert (f"Instance{n}", "CPUUtilization") in watched
    assert {
        ("LoadBalancer", "UnhealthyHostCount"),
        ("LoadBalancer", "HTTPCode_LB_5XX_Count"),
        ("LoadBalancer", "HTTPCode_Instance_5XX_Count"),
        ("Database", "CPUUtilization"),
        ("Database", "FreeStorageSpace"),
    } <= watched
    for name, alarm in alarms.items():
        props = alarm["Properties"]
        assert props["ContactProtocols"] == ["Email"], name
        assert "ALARM" in props["NotificationTriggers"], name
        assert props["NotificationEnabled"] is True, name
        instance = next(iter(props["MonitoredResourceName"].values()))
        if instance in ("Instance2", "Instance3"):
            assert alarm["Condition"] == resources()[instance]["Condition"], name
    assert resources()["Instance1StatusAlarm"]["Properties"]["TreatMissingData"] == "breaching"


# --- CloudFront in front of everything ----------------------------------------------------------


def shop_distribution() -> dict:
    return resources()["ShopDistribution"]["Properties"]["DistributionConfig"]


def test_pages_are_not_cached_and_get_everything_the_app_needs():
    config = shop_distribution()
    assert config["Aliases"] == [{"Ref": "DomainName"}]
    assert config["ViewerCertificate"]["MinimumProtocolVersion"] == "TLSv1.2_2021"
    assert config["ViewerCertificate"]["SslSupportMethod"] == "sni-only"
    pages = config["DefaultCacheBehavior"]
    assert pages["ViewerProtocolPolicy"] == "redirect-to-https"
    assert {"POST", "PUT", "DELETE"} <= set(pages["AllowedMethods"])
    ids = template()["Mappings"]["CloudFront"]["Ids"]
    assert ids["CachingDisabled"] == CACHING_DISABLED
    assert ids["AllViewer"] == ALL_VIEWER
    assert pages["CachePolicyId"] == {"Fn::FindInMap": ["CloudFront", "Ids", "CachingDisabled"]}
    # Cookies, query strings and every header, Host included (ALLOWED_HOSTS, OIDC redirect URI).
    assert pages["OriginRequestPolicyId"] == {"Fn::FindInMap": ["CloudFront", "Ids", "AllViewer"]}


def test_static_files_are_cached_long_and_need_only_the_host():
    (static,) = shop_distribution()["CacheBehaviors"]
    assert static["PathPattern"] == "/static/*"
    assert static["CachePolicyId"] == {"Fn::FindInMap": ["CloudFront", "Ids", "CachingOptimized"]}
    assert template()["Mappings"]["CloudFront"]["Ids"]["CachingOptimized"] == CACHING_OPTIMIZED
    assert static["AllowedMethods"] == ["GET", "HEAD"]
    policy = resources()["ShopStaticOriginRequestPolicy"]["Properties"]["OriginRequestPolicyConfig"]
    assert policy["HeadersConfig"] == {"HeaderBehavior": "whitelist", "Headers": ["Host"]}
    assert policy["CookiesConfig"]["CookieBehavior"] == "none"
    assert policy["QueryStringsConfig"]["QueryStringBehavior"] == "none"
    # whitenoise marks hashed files immutable for a year, which CachingOptimized honours.
    from django.conf import settings

    assert settings.WHITENOISE_MAX_AGE == 31536000


def test_origin_is_https_and_carries_the_secret_header_the_app_checks():
    (origin,) = shop_distribution()["Origins"]
    assert origin["DomainName"] == {"Fn::Sub": "origin.${DomainName}"}
    assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    assert origin["CustomOriginConfig"]["OriginSSLProtocols"] == ["TLSv1.2"]
    (header,) = origin["OriginCustomHeaders"]
    assert header["HeaderName"] == "X-Origin-Verify"
    reference = "{{resolve:secretsmanager:${OriginVerifySecret}:SecretString}}"
    assert header["HeaderValue"] == {"Fn::Sub": reference}
    # The app gets the same value through the stack's derived secret (ORIGIN_VERIFY_SECRET).
    stack_secrets = resources()["StackSecretsSecret"]["Properties"]["SecretString"]
    text = stack_secrets["Fn::Sub"][0]
    assert f'"ORIGIN_VERIFY_SECRET": "{reference}"' in text
    json.loads(re.sub(r"\$\{[^}]+\}", "x", text.replace("{{resolve:", "(").replace("}}", ")")))


def test_product_images_still_come_from_the_private_bucket_through_oac():
    media = resources()["MediaDistribution"]["Properties"]["DistributionConfig"]
    (origin,) = media["Origins"]
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": ["MediaOriginAccessControl", "Id"]}
    statement = resources()["MediaBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert statement["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert "${MediaDistribution}" in statement["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"]


def test_route53_records_exist_only_with_a_hosted_zone():
    alias = resources()["ShopAliasRecord"]
    assert alias["Condition"] == "HasHostedZone"
    kinds = {record["Type"] for record in alias["Properties"]["RecordSets"]}
    assert kinds == {"A", "AAAA"}
    for record in alias["Properties"]["RecordSets"]:
        assert record["AliasTarget"]["DNSName"] == {"Fn::GetAtt": ["ShopDistribution", "DomainName"]}
    origin = resources()["OriginRecord"]
    assert origin["Condition"] == "CreateOriginRecord"
    assert template()["Conditions"]["CreateOriginRecord"] == {
        "Fn::And": [{"Condition": "HasHostedZone"}, {"Condition": "CertificateValidated"}]
    }
    assert origin["Properties"]["ResourceRecords"] == [{"Ref": "LoadBalancerDnsName"}]


# --- The instances ------------------------------------------------------------------------------


def test_port_80_is_open_only_to_the_load_balancers_private_range():
    instances = of_type("AWS::Lightsail::Instance")
    assert set(instances) == {"Instance1", "Instance2", "Instance3"}
    for name, instance in instances.items():
        ports = {port["FromPort"]: port for port in instance["Properties"]["Networking"]["Ports"]}
        assert set(ports) == {22, 80}, name
        assert ports[80]["Cidrs"] == [LIGHTSAIL_PRIVATE_RANGE], name
        assert "Ipv6Cidrs" not in ports[80], name
        assert "CidrListAliases" not in ports[80], name
        assert ports[22]["Cidrs"] == [{"Ref": "AdminCidr"}], name


def test_one_to_three_instances_behind_the_load_balancer():
    count = template()["Parameters"]["InstanceCount"]
    assert (count["MinValue"], count["MaxValue"], count["AllowedValues"]) == (1, 3, [1, 2, 3])
    assert "Condition" not in resources()["Instance1"]
    assert resources()["Instance2"]["Condition"] == "HasSecondInstance"
    assert resources()["Instance3"]["Condition"] == "HasThirdInstance"
    attached = resources()["LoadBalancer"]["Properties"]["AttachedInstances"]
    assert attached == [
        {"Ref": "Instance1"},
        {"Fn::If": ["HasSecondInstance", {"Ref": "Instance2"}, {"Ref": "AWS::NoValue"}]},
        {"Fn::If": ["HasThirdInstance", {"Ref": "Instance3"}, {"Ref": "AWS::NoValue"}]},
    ]
    assert resources()["LoadBalancer"]["Properties"]["HealthCheckPath"] == "/healthz"


def rendered_user_data(instance: str = "Instance1") -> str:
    """The instance's UserData with each ${...} of its Fn::Sub replaced by a plausible value."""
    values = {
        "RepositoryRef": "main",
        "RepositoryUrl": "https://github.com/example/jewelry-shop.git",
        "DomainName": "shop.example.com",
        "AWS::Region": "eu-west-2",
        "AppLogGroup": "/aurelia/app",
        "DbPasswordSecret": "arn:aws:secretsmanager:eu-west-2:123456789012:secret:DbPasswordSecret-AbCdEf",
        "AppConfigSecret": "arn:aws:secretsmanager:eu-west-2:123456789012:secret:AppConfigSecret-GhIjKl",
        "StackSecretsSecret": "arn:aws:secretsmanager:eu-west-2:123456789012:secret:StackSecrets-MnOpQr",
        "OperatorConfigSecret": "arn:aws:secretsmanager:eu-west-2:123456789012:secret:OperatorConfig-StUvWx",
        "MediaBucket": "aurelia-media-123456789012",
        "MediaDistribution.DomainName": "d1111abcdef8.cloudfront.net",
        "UserPool": "eu-west-2_AbCdEfGhI",
        "UserPoolClient": "1example23456789",
        "CognitoDomainPrefix": "aurelia-shop",
        "FromEmail": "Maison Aurelia <orders@example.com>",
    }
    text = resources()[instance]["Properties"]["UserData"]["Fn::Sub"]
    return re.sub(r"\$\{([^}!]+)\}", lambda m: values[m[1]], text)


def test_user_data_is_valid_bash_and_hands_bootstrap_every_input_it_requires():
    texts = {rendered_user_data(name) for name in ("Instance1", "Instance2", "Instance3")}
    assert len(texts) == 1  # the same first boot everywhere
    (text,) = texts
    syntax = subprocess.run(["bash", "-n"], input=text, capture_output=True, text=True, timeout=30)
    assert syntax.returncode == 0, syntax.stderr
    assert "/srv/jewelry/repo/deploy/bootstrap-instance.sh" in text
    required = re.search(r"^: (.*)$", BOOTSTRAP.read_text(), re.MULTILINE)[1]
    for name in re.findall(r"\$\{(\w+):\?\}", required):
        assert f"{name}='" in text, name


STUBS = {
    # Each stub records its arguments; the few that must leave something behind do so in the fake root.
    "apt-get": "",
    "useradd": "",
    "id": "exit 1",  # no jewelry user yet
    "chown": "",
    "nginx": "",
    "systemctl": "",
    "curl": "",
    # Installing the agent's package leaves its control script, itself a recording stub.
    "dpkg": 'if [ "$1" = --print-architecture ]; then echo amd64; exit 0; fi\n'
    'ctl="$JEWELRY_BOOTSTRAP_ROOT/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl"\n'
    'mkdir -p "$(dirname "$ctl")"\n'
    'printf \'#!/bin/sh\\necho "amazon-cloudwatch-agent-ctl $*" >> "%s"\\n\' "$CALLS" > "$ctl"\n'
    'chmod +x "$ctl"',
}


@pytest.fixture
def fake_machine(tmp_path):
    """A root folder laid out like Debian after the packages are in, and stub commands that record calls.

    Stand-in: apt, useradd, nginx, systemd and the agent's installer are stubs (this is about what the
    script decides and writes, not about Debian); the files it writes are real and checked below.
    """
    root, bin_dir, calls = tmp_path / "root", tmp_path / "bin", tmp_path / "calls.log"
    for folder in ("etc/nginx/sites-available", "etc/nginx/sites-enabled", "etc/logrotate.d", "etc/systemd/system"):
        (root / folder).mkdir(parents=True)
    (root / "etc/nginx/sites-enabled/default").write_text("# Debian's default site\n")
    bin_dir.mkdir()
    for name, body in STUBS.items():
        stub = bin_dir / name
        stub.write_text(f'#!/bin/sh\necho "{name} $*" >> "{calls}"\n{body}\n')
        stub.chmod(stub.stat().st_mode | stat.S_IXUSR)
    agent_ctl = root / "opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl"
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "CALLS": str(calls),
        "JEWELRY_BOOTSTRAP_ROOT": str(root),
        "SHOP_DOMAIN": "shop.example.com",
        "AWS_REGION": "eu-central-1",
        "LOG_GROUP": "/maison/app",
        "DB_PASSWORD_SECRET_ARN": "arn:aws:secretsmanager:eu-central-1:1:secret:Db-x",
        "APP_CONFIG_SECRET_ARN": "arn:aws:secretsmanager:eu-central-1:1:secret:App-y",
        "STACK_SECRETS_SECRET_ARN": "arn:aws:secretsmanager:eu-central-1:1:secret:Stack-z",
        "OPERATOR_CONFIG_SECRET_ARN": "arn:aws:secretsmanager:eu-central-1:1:secret:Operator-w",
        "MEDIA_BUCKET": "maison-media-1",
        "CLOUDFRONT_DOMAIN": "d2222abcdef8.cloudfront.net",
        "COGNITO_USER_POOL_ID": "eu-central-1_Pool",
        "COGNITO_CLIENT_ID": "client123",
        "COGNITO_DOMAIN": "maison.auth.eu-central-1.amazoncognito.com",
        "FROM_EMAIL": "Maison <orders@shop.example.com>",
    }
    return root, calls, env, agent_ctl


# What bootstrap writes to the env file from the fixture's inputs (what APP_CONFIG used to carry).
STACK_VALUES = {
    "DJANGO_STACK_SECRETS_SECRET_ID": "arn:aws:secretsmanager:eu-central-1:1:secret:Stack-z",
    "DJANGO_OPERATOR_CONFIG_SECRET_ID": "arn:aws:secretsmanager:eu-central-1:1:secret:Operator-w",
    "DJANGO_ALLOWED_HOSTS": "shop.example.com",
    "DJANGO_SHOP_SITE_URL": "https://shop.example.com",
    "DJANGO_AWS_STORAGE_BUCKET_NAME": "maison-media-1",
    "DJANGO_AWS_S3_REGION_NAME": "eu-central-1",
    "DJANGO_CLOUDFRONT_DOMAIN": "d2222abcdef8.cloudfront.net",
    "DJANGO_COGNITO_REGION": "eu-central-1",
    "DJANGO_COGNITO_USER_POOL_ID": "eu-central-1_Pool",
    "DJANGO_COGNITO_CLIENT_ID": "client123",
    "DJANGO_COGNITO_DOMAIN": "maison.auth.eu-central-1.amazoncognito.com",
    "DJANGO_DEFAULT_FROM_EMAIL": "Maison <orders@shop.example.com>",
    "DJANGO_EMAIL_HOST": "email-smtp.eu-central-1.amazonaws.com",
}


def run_bootstrap(env: dict, agent_ctl: Path) -> subprocess.CompletedProcess:
    assert not agent_ctl.exists() or os.access(agent_ctl, os.X_OK)
    return subprocess.run(["bash", str(BOOTSTRAP)], env=env, capture_output=True, text=True, timeout=60)


def test_bootstrap_sets_up_an_instance_from_the_stacks_values(fake_machine):
    root, calls, env, agent_ctl = fake_machine
    result = run_bootstrap(env, agent_ctl)
    assert result.returncode == 0, result.stdout + result.stderr
    log = calls.read_text()
    assert "apt-get install -y -q --no-install-recommends" in log
    assert " nginx " in log
    assert "useradd --system --create-home --home-dir /srv/jewelry --shell /usr/sbin/nologin jewelry" in log
    assert "nginx -t" in log
    assert "systemctl enable jewelry.service" in log
    assert "systemctl daemon-reload" in log
    env_file = (root / "etc/jewelry/jewelry.env").read_text()
    assert "DJANGO_SETTINGS_MODULE=jewelry_site.settings.prod\n" in env_file
    assert "DJANGO_DB_PASSWORD_SECRET_ID=arn:aws:secretsmanager:eu-central-1:1:secret:Db-x\n" in env_file
    assert "DJANGO_APP_CONFIG_SECRET_ID=arn:aws:secretsmanager:eu-central-1:1:secret:App-y\n" in env_file
    assert "DJANGO_TRUSTED_PROXY_HOPS=3\n" in env_file
    assert "AWS_SECRET_ACCESS_KEY" not in env_file
    # The stack's values that are not secret, as check-live.sh (bash) reads the file.
    sourced = subprocess.run(
        ["bash", "-c", 'set -a; . "$1"; env', "-", str(root / "etc/jewelry/jewelry.env")],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert sourced.returncode == 0, sourced.stderr
    seen = dict(line.split("=", 1) for line in sourced.stdout.splitlines() if line.startswith(("DJANGO_", "AWS_")))
    assert {k: seen.get(k) for k in STACK_VALUES} == STACK_VALUES
    assert stat.S_IMODE((root / "etc/jewelry/jewelry.env").stat().st_mode) == 0o640
    site = (root / "etc/nginx/sites-available/jewelry").read_text()
    assert "server_name shop.example.com;" in site
    assert "example.com" not in site.replace("shop.example.com", "")
    assert os.readlink(root / "etc/nginx/sites-enabled/jewelry") == "/etc/nginx/sites-available/jewelry"
    assert not (root / "etc/nginx/sites-enabled/default").exists()
    assert (root / "etc/logrotate.d/jewelry").read_text() == (REPO / "deploy/logrotate.conf").read_text()
    assert (root / "etc/systemd/system/jewelry.service").exists()
    agent = json.loads((root / "opt/aws/amazon-cloudwatch-agent/etc/jewelry.json").read_text())
    assert agent["agent"]["region"] == "eu-central-1"
    (collected,) = agent["logs"]["logs_collected"]["files"]["collect_list"]
    assert collected["log_group_name"] == "/maison/app"
    assert collected["file_path"] == "/var/log/jewelry/app.log"
    toml = (root / "opt/aws/amazon-cloudwatch-agent/etc/common-config.toml").read_text()
    assert 'shared_credential_file = "/etc/jewelry/aws-credentials"' in toml
    config = "file:/opt/aws/amazon-cloudwatch-agent/etc/jewelry.json"
    assert f"amazon-cloudwatch-agent-ctl -a fetch-config -m onPremise -c {config}" in log


def test_bootstrap_run_again_keeps_what_a_person_added(fake_machine):
    root, calls, env, agent_ctl = fake_machine
    assert run_bootstrap(env, agent_ctl).returncode == 0
    env_file = root / "etc/jewelry/jewelry.env"
    env_file.write_text(env_file.read_text() + "DJANGO_DATABASE_URL=postgres://db.internal:5432/shop\n")
    again = run_bootstrap(env, agent_ctl)
    assert again.returncode == 0, again.stderr
    assert "DJANGO_DATABASE_URL=postgres://db.internal:5432/shop" in env_file.read_text()
    # The agent was installed by the first run; the second does not download it again.
    assert [line for line in calls.read_text().splitlines() if line.startswith("curl ") and "cloudwatch" in line] == [
        "curl -fsSL --retry 3 --max-time 300 -o /tmp/amazon-cloudwatch-agent.deb "
        "https://amazoncloudwatch-agent.s3.amazonaws.com/debian/amd64/latest/amazon-cloudwatch-agent.deb"
    ]


def test_bootstrap_refuses_to_run_without_the_stacks_values(fake_machine):
    _root, calls, env, agent_ctl = fake_machine
    del env["APP_CONFIG_SECRET_ARN"]
    result = run_bootstrap(env, agent_ctl)
    assert result.returncode != 0
    assert "APP_CONFIG_SECRET_ARN" in result.stderr
    assert not calls.exists()  # nothing was done


# --- Logs: filters and saved queries read fields the app really writes --------------------------


def test_metric_filters_match_the_fields_the_app_logs():
    patterns = {
        r["Properties"]["FilterName"]: r["Properties"]["FilterPattern"]
        for r in of_type("AWS::Logs::MetricFilter").values()
    }
    assert patterns["server-errors"] == '{ $.logger = "shop.access" && $.status >= 500 }'
    assert patterns["order-place-failures"] == '{ $.event = "order_place_failed" }'
    assert patterns["order-email-failures"] == (
        '{ ($.event = "mail_failed_for_good") || ($.event = "mail_unconfirmed") '
        '|| ($.event = "mail_attempt_failed" && $.attempts >= 3) }'
    )
    assert "$.duration_ms" in patterns["latency"]
    # The ERROR events payments/ writes where money may be in the wrong place (issue #20).
    for event in (
        "payment_unconfirmed",
        "stripe_webhook_handler_error",
        "refund_failed",
        "refund_retry_exceeds",
        "cancel_finish_refused",
        "refund_restock_refused",
        "cancel_refunded_but_moved_on",
    ):
        assert f'($.event = "{event}")' in patterns["payment-errors"]
    assert patterns["large-unpaid-holds"] == '{ $.event = "large_unpaid_hold" }'  # orders/holds.py
    assert (
        patterns["staff-login-locked-everywhere"] == '{ $.event = "staff_login_locked_everywhere" }'
    )  # accounts/lockout.py


def queries() -> dict[str, str]:
    return {
        r["Properties"]["Name"]["Fn::Sub"].split("/", 1)[1]: r["Properties"]["QueryString"]
        for r in of_type("AWS::Logs::QueryDefinition").values()
    }


def test_saved_queries_cover_the_promised_analytics():
    assert set(queries()) == {
        "slowest-pages",
        "errors-by-path",
        "orders-per-hour",
        "sign-in-failures-by-reason",
        "most-searched-words",
    }
    for definition in of_type("AWS::Logs::QueryDefinition").values():
        assert definition["Properties"]["LogGroupNames"] == [{"Ref": "AppLogGroup"}]


@pytest.mark.django_db
def test_saved_queries_name_fields_present_in_real_log_lines(client, json_log):
    import logging

    client.get("/")
    client.get("/no-such-page/")
    security_event("login_failed", username="a@example.com", client_ip="203.0.113.7", failures=1)
    logging.getLogger("shop.security").warning(
        "oidc_login_failed", extra={"event": "oidc_login_failed", "reason": "state_mismatch", "status": 400}
    )
    # Written as orders/services.py and accounts/auth_views.py write them (same logger, event, fields).
    logging.getLogger("shop.orders").info("order_placed", extra={"event": "order_placed", "order_number": "A1"})
    # The search line as the catalogue helper writes it (shared brief): logger, event and field names.
    logging.getLogger("shop.catalog").info(
        "catalog_search", extra={"event": "catalog_search", "search_query": "gold ring", "search_results": 3}
    )
    lines = json_log()
    access = next(line for line in lines if line.get("logger") == "shop.access")
    assert {"method", "path", "status", "duration_ms", "request_id"} <= set(access)
    fields_by_query = {
        "slowest-pages": (access, {"duration_ms", "method", "path"}),
        "errors-by-path": (access, {"status", "path", "request_id"}),
        "orders-per-hour": (next(x for x in lines if x.get("event") == "order_placed"), {"event"}),
        "sign-in-failures-by-reason": (next(x for x in lines if x.get("event") == "login_failed"), {"client_ip"}),
        "most-searched-words": (
            next(x for x in lines if x.get("event") == "catalog_search"),
            {"search_query", "search_results", "logger"},
        ),
    }
    for name, (line, fields) in fields_by_query.items():
        text = queries()[name]
        for field in fields:
            assert re.search(rf"\b{field}\b", text), (name, field)
            assert field in line, (name, field)
    oidc = next(x for x in lines if x.get("event") == "oidc_login_failed")
    assert "reason" in oidc
    assert "coalesce(reason, event)" in queries()["sign-in-failures-by-reason"]


def test_app_policy_is_least_privilege():
    statements = resources()["AppPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    for statement in statements:
        actions = as_list(statement["Action"])
        assert not any(action.endswith("*") for action in actions), statement
        assert "*" not in as_list(statement["Resource"]), statement
    readable = {r["Ref"] for s in statements if s["Sid"] == "ReadOwnSecrets" for r in as_list(s["Resource"])}
    # The app reads its secrets; the origin header value reaches it only through the stack's derived
    # secret, and the database master's password never (issue #22).
    assert readable == {"DbPasswordSecret", "AppConfigSecret", "StackSecretsSecret", "OperatorConfigSecret"}


def test_media_bucket_is_private_versioned_and_expires_uploads():
    bucket = resources()["MediaBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["VersioningConfiguration"]["Status"] == "Enabled"
    rules = {rule["Id"]: rule for rule in bucket["LifecycleConfiguration"]["Rules"]}
    assert (rules["expire-raw-uploads"]["Prefix"], rules["expire-raw-uploads"]["ExpirationInDays"]) == ("uploads/", 1)


def test_readme_counts_at_most_ten_manual_steps_each_saying_why():
    readme = (REPO / "deploy/README.md").read_text()
    section = readme.split("## The manual steps", 1)[1].split("\n## ", 1)[0]
    steps = re.split(r"\n\*\*(?=\d+\. )", section)[1:]
    numbers = [int(step.split(".", 1)[0]) for step in steps]
    assert numbers == list(range(1, len(steps) + 1))
    assert len(steps) <= 10
    assert f"({len(steps)})" in section.splitlines()[0]
    for step in steps:
        assert "*Why" in step, step[:80]


# --- Secrets that survive stack updates (issue #22) ------------------------------------------------

PARAMETERS = {
    "ShopName": "aurelia",
    "DomainName": "shop.example.com",
    "HostedZoneId": "Z0123456789ABC",
    "CloudFrontCertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/abc",
    "LoadBalancerDnsName": "",
    "RepositoryUrl": "https://github.com/example/jewelry-shop.git",
    "RepositoryRef": "main",
    "OriginVerifyRotation": 1,
    "InstanceCount": 2,
    "FromEmail": "Maison Aurelia <orders@example.com>",
    "AlertEmail": "ops@example.com",
    "CognitoDomainPrefix": "aurelia-shop",
    "AdminCidr": "203.0.113.0/24",
}
# Another value for each parameter, as an operator's later update would pass it.
CHANGED = {
    "DomainName": "jewels.example.org",
    "HostedZoneId": "",
    "LoadBalancerDnsName": "aurelia-lb-1.eu-west-2.elb.amazonaws.com",
    "RepositoryRef": "v2",
    "OriginVerifyRotation": 2,
    "InstanceCount": 3,
    "FromEmail": "Maison Aurelia <boutique@example.com>",
    "AlertEmail": "night@example.com",
    "CognitoDomainPrefix": "aurelia-login",
    "AdminCidr": "198.51.100.0/24",
}


def render(value, parameters: dict):
    """A template value with the parameters filled in; resources and pseudo parameters become stable
    placeholders (``<MediaBucket>``): what CloudFormation would send the provider, up to resource ids."""

    def name(ref: str) -> str:
        return str(parameters[ref]) if ref in parameters else f"<{ref}>"

    if isinstance(value, list):
        return [render(item, parameters) for item in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"}:
        return name(value["Ref"])
    if set(value) == {"Fn::GetAtt"}:
        return f"<{'.'.join(value['Fn::GetAtt'])}>"
    if set(value) == {"Fn::Sub"}:
        text, local = (value["Fn::Sub"], {}) if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"]
        local = {key: render(item, parameters) for key, item in local.items()}
        return re.sub(r"\$\{([^}!]+)\}", lambda m: str(local[m[1]]) if m[1] in local else name(m[1]), text)
    return {key: render(item, parameters) for key, item in value.items()}


def secret_properties(tmpl: dict, parameters: dict) -> dict:
    return {
        name: render(r["Properties"], parameters)
        for name, r in tmpl["Resources"].items()
        if r["Type"] == "AWS::SecretsManager::Secret"
    }


def test_changing_from_email_rewrites_no_secret():
    before = secret_properties(template(), PARAMETERS)
    after = secret_properties(template(), {**PARAMETERS, "FromEmail": CHANGED["FromEmail"]})
    assert before == after
    # Negative control: the template before issue #22 regenerated APP_CONFIG (SECRET_KEY and every hand-added
    # key) on this very update.
    old = load_text(old_template())
    changed = {**PARAMETERS, "FromEmail": CHANGED["FromEmail"]}
    assert secret_properties(old, PARAMETERS)["AppConfigSecret"] != secret_properties(old, changed)["AppConfigSecret"]


# Written once at create, never again: no parameter may reach them (ShopName names everything: a new shop).
WRITTEN_ONCE = ("AppConfigSecret", "OperatorConfigSecret", "DbMasterSecret", "DbPasswordSecret")


@pytest.mark.parametrize("parameter", sorted(CHANGED))
def test_no_parameter_reaches_a_secret_written_once(parameter):
    before = secret_properties(template(), PARAMETERS)
    after = secret_properties(template(), {**PARAMETERS, parameter: CHANGED[parameter]})
    for name in WRITTEN_ONCE:
        assert before[name] == after[name], (name, parameter)


def test_secrets_written_once_hold_no_reference_but_the_masters_password():
    for name in ("AppConfigSecret", "OperatorConfigSecret", "DbMasterSecret"):
        # Name, Description and Tags may change (no new value is written); the value's part may not.
        value = {k: v for k, v in resources()[name]["Properties"].items() if k not in ("Name", "Description", "Tags")}
        assert "Ref" not in json.dumps(value), name
        assert "Fn::" not in json.dumps(value), name
    assert resources()["OperatorConfigSecret"]["Properties"]["SecretString"] == "{}"
    generated = resources()["AppConfigSecret"]["Properties"]["GenerateSecretString"]
    assert (generated["SecretStringTemplate"], generated["GenerateStringKey"]) == ("{}", "SECRET_KEY")
    # The app's login starts as a copy of the master's; the text never changes, so no update resends it.
    app_login = resources()["DbPasswordSecret"]["Properties"]["SecretString"]["Fn::Sub"]
    assert app_login == (
        '{"username": "shop", "password": "{{resolve:secretsmanager:${DbMasterSecret}:SecretString:password}}"}'
    )


def test_the_master_password_resolves_only_the_master_secret():
    database = resources()["Database"]["Properties"]
    assert database["MasterUserPassword"] == {
        "Fn::Sub": "{{resolve:secretsmanager:${DbMasterSecret}:SecretString:password}}"
    }
    assert resources()["DbMasterSecret"]["Properties"]["GenerateSecretString"]["SecretStringTemplate"] == (
        '{"username": "shop"}'
    )
    assert database["MasterUsername"] == "shop"
    # Negative control: before issue #22 it resolved the secret the rotation hands to the app's users.
    old = load_text(old_template())["Resources"]["Database"]["Properties"]["MasterUserPassword"]
    assert "${DbPasswordSecret}" in old["Fn::Sub"]


def test_stack_values_reach_the_instances_env_file_not_a_secret():
    text = rendered_user_data()
    for value in (
        "aurelia-media-123456789012",
        "d1111abcdef8.cloudfront.net",
        "eu-west-2_AbCdEfGhI",
        "1example23456789",
    ):
        assert value in text, value
    assert "FROM_EMAIL='Maison Aurelia <orders@example.com>'" in text
    for name in ("StackSecretsSecret", "OperatorConfigSecret"):
        assert f"'${{{name}}}'" in resources()["Instance1"]["Properties"]["UserData"]["Fn::Sub"], name
