"""Issue #22 (operations, smaller): what the templates promise about the edge, the balancer's TLS, SSH,
Cognito's e-mail and the edge alarm. Read from the templates as CloudFormation sees them (short tags in
their long form); cfn-lint and checkov run over both in test_cloudformation.py.

Not covered without an AWS account: that Lightsail knows the TLS policy name (the names come from
`aws lightsail get-load-balancer-tls-policies`; the parameter lets an operator correct it), that SES
accepts Cognito's use of the identity, and real alarm delivery.
"""

import re
import subprocess
from pathlib import Path

import pytest

from tests.deploy.conftest import REPO
from tests.deploy.test_cloudformation import (  # noqa: F401 - fake_machine is a fixture
    CERTIFICATE,
    fake_machine,
    load,
    resources,
    run_bootstrap,
    shop_distribution,
    template,
)

# Every status CloudFront lets a distribution configure error caching for.
CLOUDFRONT_ERROR_CODES = {400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504}
# Lightsail's policies that refuse TLS 1.0 and 1.1 (TLS-2016-08, the default, accepts them).
TLS12_POLICIES = {"TLS-FS-Res-1-2-2019-08"}


def test_error_answers_are_never_cached_at_the_edge():
    """An error page is rendered for one shopper; cached by path, it would be shown to the next one."""
    responses = {r["ErrorCode"]: r for r in shop_distribution().get("CustomErrorResponses", [])}
    assert set(responses) == CLOUDFRONT_ERROR_CODES
    for code, response in responses.items():
        assert response["ErrorCachingMinTTL"] == 0, code
        # The origin's own page and status go through untouched.
        assert "ResponsePagePath" not in response, code
        assert "ResponseCode" not in response, code


def test_load_balancer_accepts_tls_1_2_and_up_only():
    balancer = resources()["LoadBalancer"]["Properties"]
    assert balancer["TlsPolicyName"] == {"Ref": "LoadBalancerTlsPolicy"}
    parameter = template()["Parameters"]["LoadBalancerTlsPolicy"]
    assert parameter["Default"] in TLS12_POLICIES
    assert re.fullmatch(parameter["AllowedPattern"], parameter["Default"])


@pytest.mark.parametrize(
    ("cidr", "accepted"),
    [
        ("203.0.113.0/24", True),
        ("198.51.100.7/32", True),
        ("10.0.0.0/8", True),
        ("0.0.0.0/0", False),
        ("203.0.113.9/0", False),
        ("0.0.0.0/1", False),
        ("128.0.0.0/7", False),
        ("203.0.113.0/33", False),
    ],
)
def test_ssh_range_is_required_and_never_the_whole_internet(cidr, accepted):
    parameter = template()["Parameters"]["AdminCidr"]
    assert "Default" not in parameter  # the operator must name it (deploy/README.md step 3)
    assert bool(re.fullmatch(parameter["AllowedPattern"], cidr)) is accepted


def test_cognito_sends_through_ses_once_the_identity_is_verified():
    parameters, conditions = template()["Parameters"], template()["Conditions"]
    assert parameters["SesIdentityArn"]["Default"] == ""
    assert re.fullmatch(
        parameters["SesIdentityArn"]["AllowedPattern"], "arn:aws:ses:eu-west-2:123456789012:identity/example.com"
    )
    assert not re.fullmatch(parameters["SesIdentityArn"]["AllowedPattern"], "orders@example.com")
    assert conditions["HasSesIdentity"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "SesIdentityArn"}, ""]}]}
    pool = resources()["UserPool"]["Properties"]
    assert pool["EmailConfiguration"] == {
        "Fn::If": [
            "HasSesIdentity",
            {"EmailSendingAccount": "DEVELOPER", "SourceArn": {"Ref": "SesIdentityArn"}, "From": {"Ref": "FromEmail"}},
            {"EmailSendingAccount": "COGNITO_DEFAULT"},
        ]
    }
    # TOTP is offered to everyone; staff without it are refused by the app (accounts/auth.py).
    assert pool["MfaConfiguration"] == "OPTIONAL"
    assert pool["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]


def test_the_edge_alarm_lives_in_us_east_1_and_mails_the_alert_address():
    edge = load(CERTIFICATE)
    assert edge["Rules"]["CloudFrontNeedsUsEast1"]["Assertions"][0]["Assert"] == {
        "Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]
    }
    # Optional on the first run (the shop's stack, and so its distribution, does not exist yet).
    assert edge["Parameters"]["ShopDistributionId"]["Default"] == ""
    assert edge["Conditions"]["HasEdgeAlarm"] == {
        "Fn::And": [
            {"Fn::Not": [{"Fn::Equals": [{"Ref": "ShopDistributionId"}, ""]}]},
            {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlertEmail"}, ""]}]},
        ]
    }
    found = edge["Resources"]
    for name in ("EdgeAlertTopicKey", "EdgeAlertTopic", "Edge5xxRateAlarm"):
        assert found[name]["Condition"] == "HasEdgeAlarm", name
    topic = found["EdgeAlertTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Ref": "EdgeAlertTopicKey"}
    assert topic["Subscription"] == [{"Protocol": "email", "Endpoint": {"Ref": "AlertEmail"}}]
    grants = [
        s
        for s in found["EdgeAlertTopicKey"]["Properties"]["KeyPolicy"]["Statement"]
        if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert len(grants) == 1
    alarm = found["Edge5xxRateAlarm"]["Properties"]
    assert alarm["AlarmActions"] == alarm["OKActions"] == [{"Ref": "EdgeAlertTopic"}]
    metrics = {m["Id"]: m for m in alarm["Metrics"]}
    for metric_id, name in (("rate", "5xxErrorRate"), ("requests", "Requests")):
        metric = metrics[metric_id]["MetricStat"]["Metric"]
        assert (metric["Namespace"], metric["MetricName"]) == ("AWS/CloudFront", name)
        # CloudFront publishes with these two dimensions only, Region always "Global".
        assert metric["Dimensions"] == [
            {"Name": "DistributionId", "Value": {"Ref": "ShopDistributionId"}},
            {"Name": "Region", "Value": "Global"},
        ]
    assert metrics["edge5xx"]["ReturnData"] is True
    # The shop's stack hands over the id this stack needs.
    assert template()["Outputs"]["ShopDistributionId"]["Value"] == {"Ref": "ShopDistribution"}


# --- First boot: security updates, the database CA, the runbooks' tools ---------------------------

# Debian 12's own /etc/apt/apt.conf.d/50unattended-upgrades (the package's file), which the shop's must override.
DEBIAN_DEFAULT_ORIGINS = """Unattended-Upgrade::Origins-Pattern {
        "origin=Debian,codename=${distro_codename},label=Debian";
        "origin=Debian,codename=${distro_codename},label=Debian-Security";
        "origin=Debian,codename=${distro_codename}-security,label=Debian-Security";
};
"""


def apt_config(parts: Path, tmp_path: Path) -> str:
    """What the real apt reads from ``parts`` (apt.conf.d), as ``apt-config dump`` prints it."""
    main = tmp_path / "apt.conf"
    main.write_text(f'Dir::Etc::parts "{parts}/";\nDir::Etc::main "/dev/null";\n')
    result = subprocess.run(
        ["apt-config", "dump", "Unattended-Upgrade"],
        env={"APT_CONFIG": str(main), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_first_boot_turns_on_security_updates_only_and_never_reboots(fake_machine, tmp_path):  # noqa: F811
    root, calls, env, agent_ctl = fake_machine
    parts = root / "etc/apt/apt.conf.d"
    parts.mkdir(parents=True)
    (parts / "50unattended-upgrades").write_text(DEBIAN_DEFAULT_ORIGINS)
    result = run_bootstrap(env, agent_ctl)
    assert result.returncode == 0, result.stdout + result.stderr
    (install,) = [line for line in calls.read_text().splitlines() if line.startswith("apt-get install")]
    # unattended-upgrades, and the tools the runbooks run on the instance.
    assert {"unattended-upgrades", "awscli", "jq", "postgresql-client-15"} <= set(install.split())
    assert 'APT::Periodic::Unattended-Upgrade "1";' in (parts / "20auto-upgrades").read_text()
    dump = apt_config(parts, tmp_path)
    origins = re.findall(r'^Unattended-Upgrade::Origins-Pattern:: "(.*)";$', dump, re.MULTILINE)
    assert origins, dump
    assert all(origin.endswith("label=Debian-Security") for origin in origins), origins
    assert 'Unattended-Upgrade::Automatic-Reboot "false";' in dump


def test_the_security_only_override_is_needed(tmp_path):
    """Negative control: Debian's file alone also installs every stable point release."""
    parts = tmp_path / "parts"
    parts.mkdir()
    (parts / "50unattended-upgrades").write_text(DEBIAN_DEFAULT_ORIGINS)
    assert 'label=Debian";' in apt_config(parts, tmp_path)


def test_first_boot_verifies_the_database_certificate(fake_machine):  # noqa: F811
    root, calls, env, agent_ctl = fake_machine
    assert run_bootstrap(env, agent_ctl).returncode == 0
    env_file = (root / "etc/jewelry/jewelry.env").read_text()
    assert "DJANGO_DB_SSLROOTCERT=/etc/jewelry/rds-ca-bundle.pem\n" in env_file
    # No DJANGO_DB_SSLMODE: with the bundle, production picks verify-full (jewelry_site/db_tls.py).
    assert "DJANGO_DB_SSLMODE" not in env_file
    assert (
        "curl -fsSL --retry 3 --max-time 120 -o "
        f"{root}/etc/jewelry/rds-ca-bundle.pem https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"
    ) in calls.read_text()


# --- Runbooks that match what the stack can do -----------------------------------------------------


def _references(value, name: str) -> bool:
    """Whether a template value refers to resource ``name`` (Ref, GetAtt, or ${name} in a Sub)."""
    if isinstance(value, dict):
        if value.get("Ref") == name or (value.get("Fn::GetAtt") or [None])[0] == name:
            return True
        if isinstance(value.get("Fn::Sub"), str) and re.search(rf"\$\{{{name}[.}}]", value["Fn::Sub"]):
            return True
        return any(_references(v, name) for v in value.values())
    if isinstance(value, list):
        return any(_references(v, name) for v in value)
    return False


def test_the_restored_database_can_be_adopted_by_import():
    """backup-restore.md's detach step deletes exactly what refers to the database; its name takes a suffix."""
    found = template()
    referring = {n for n, r in found["Resources"].items() if _references(r, "Database")}
    assert referring == {"DatabaseCpuAlarm", "DatabaseFreeStorageAlarm"}
    assert {n for n, o in found["Outputs"].items() if _references(o, "Database")} == {"DatabaseName"}
    runbook = (REPO / "deploy/runbooks/backup-restore.md").read_text()
    for name in ("`Database`", "`DatabaseCpuAlarm`", "`DatabaseFreeStorageAlarm`", "output `DatabaseName`"):
        assert name in runbook, name
    assert "--change-set-type IMPORT" in runbook
    database = found["Resources"]["Database"]
    assert database["Properties"]["RelationalDatabaseName"] == {"Fn::Sub": "${ShopName}-db${DatabaseNameSuffix}"}
    # Import needs a deletion policy, and the detach step needs the old database kept.
    assert database["DeletionPolicy"] == "RetainExceptOnCreate"
    suffix = found["Parameters"]["DatabaseNameSuffix"]
    assert suffix["Default"] == ""
    assert re.fullmatch(suffix["AllowedPattern"], "-restored")
    assert not re.fullmatch(suffix["AllowedPattern"], "restored")


def test_no_runbook_restores_an_instance_from_a_snapshot_nobody_takes():
    assert "AddOns" not in resources()["Instance1"]["Properties"]  # no automatic instance snapshots
    for path in (REPO / "deploy/runbooks").glob("*.md"):
        text = path.read_text()
        assert "from the latest snapshot" not in text, path.name
        assert "snapshot, create bigger instance" not in text, path.name


def test_imdsv2_and_one_at_a_time_reboots_are_in_the_procedures():
    readme = (REPO / "deploy/README.md").read_text()
    assert re.search(
        r"update-instance-metadata-options --region \S+ --instance-name aurelia-web-1 --http-tokens required", readme
    )
    runbook = (REPO / "deploy/runbooks/deploy-and-rollback.md").read_text()
    assert "one instance at a time" in runbook
    assert "aws lightsail reboot-instance --region" in runbook
    assert "/var/run/reboot-required" in runbook


def test_the_readme_shows_the_bill_before_the_stack_is_created():
    readme = (REPO / "deploy/README.md").read_text()
    section = readme.split("## What it costs a month", 1)[1].split("\n## ", 1)[0]
    assert "2026-12-07" in section.splitlines()[0]
    for part in (
        "Lightsail instance",
        "load balancer",
        "database",
        "CloudFront",
        "S3",
        "Secrets Manager",
        "CloudWatch",
        "Cognito",
    ):
        assert part in section, part
    assert "Not confirmed today" in section
    assert "What one instance serves" in section


def _billed_alarm_metrics(alarms: dict) -> int:
    """CloudWatch bills a metric-math alarm per metric it reads, any other alarm once."""
    return sum(
        sum(1 for m in a["Properties"]["Metrics"] if "MetricStat" in m) if "Metrics" in a["Properties"] else 1
        for a in alarms.values()
    )


def test_the_bill_counts_what_the_templates_create():
    """The cost table's counts are the templates' own: a secret or an alarm added later shows in the bill.
    Failed on the merged README: 3 secrets billed where shop.yaml makes 6, 9 log metrics for 11 filters."""
    readme = (REPO / "deploy/README.md").read_text()
    section = readme.split("## What it costs a month", 1)[1].split("\n## ", 1)[0]
    shop = resources()
    edge = load(CERTIFICATE)["Resources"]

    def count(kind: str, *groups: dict) -> dict:
        return {n: r for g in groups for n, r in g.items() if r["Type"] == kind}

    secrets = len(count("AWS::SecretsManager::Secret", shop))
    filters = len(count("AWS::Logs::MetricFilter", shop))
    alarms = count("AWS::CloudWatch::Alarm", shop, edge)
    keys = len(count("AWS::KMS::Key", shop, edge))
    secrets_row = next(line for line in section.splitlines() if line.startswith("| Secrets Manager"))
    assert f"{secrets} secrets at $0.40" in secrets_row
    assert f"${secrets * 0.40:.2f}" in secrets_row
    cloudwatch_row = next(line for line in section.splitlines() if line.startswith("| CloudWatch"))
    assert f"{filters} log metrics" in cloudwatch_row
    assert f"{len(alarms)} alarms" in cloudwatch_row
    assert f"{_billed_alarm_metrics(alarms)} billed alarm metrics" in cloudwatch_row
    assert f"{keys} keys" in section
