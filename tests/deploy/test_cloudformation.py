"""deploy/cloudformation/shop.yaml passes cfn-lint (pinned in requirements-dev.txt), info-level included,
and keeps the promises the app depends on (metric filters match our log fields, least privilege)."""

import subprocess
import sys
from pathlib import Path

import yaml

from tests.deploy.conftest import REPO

TEMPLATE = REPO / "deploy/cloudformation/shop.yaml"
CFN_LINT = Path(sys.executable).with_name("cfn-lint")


def test_cfn_lint_passes():
    result = subprocess.run(
        [str(CFN_LINT), "--include-checks", "I", "--", str(TEMPLATE)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr


class _Loader(yaml.SafeLoader):
    """Reads CloudFormation short tags (!Ref, !Sub...) as plain values."""


def _any_tag(loader, _suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


_Loader.add_multi_constructor("!", _any_tag)


def resources() -> dict:
    return yaml.load(TEMPLATE.read_text(), Loader=_Loader)["Resources"]  # noqa: S506 - SafeLoader subclass


def test_metric_filters_match_the_fields_the_app_logs():
    patterns = {
        r["Properties"]["FilterName"]: r["Properties"]["FilterPattern"]
        for r in resources().values()
        if r["Type"] == "AWS::Logs::MetricFilter"
    }
    assert patterns["server-errors"] == '{ $.logger = "shop.access" && $.status >= 500 }'
    assert patterns["order-place-failures"] == '{ $.event = "order_place_failed" }'
    assert patterns["order-email-failures"] == '{ $.event = "order_email_failed" }'
    assert "$.duration_ms" in patterns["latency"]


def test_app_policy_is_least_privilege():
    statements = resources()["AppPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert not any(action.endswith("*") for action in actions), statement
        resources_ = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        assert "*" not in resources_, statement


def test_media_bucket_is_private_versioned_and_expires_uploads():
    bucket = resources()["MediaBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["VersioningConfiguration"]["Status"] == "Enabled"
    rules = {rule["Id"]: rule for rule in bucket["LifecycleConfiguration"]["Rules"]}
    assert (rules["expire-raw-uploads"]["Prefix"], rules["expire-raw-uploads"]["ExpirationInDays"]) == ("uploads/", 1)
