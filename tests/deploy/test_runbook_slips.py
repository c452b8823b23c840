"""The slips a person makes copying runbook commands at 3 a.m. are caught here, in every runbook and in
deploy/README.md: a Lightsail command without ``--region`` (an instance's CLI has no default region, and
an operator's may point elsewhere: the command then finds nothing, or acts on another region), an IAM
access-key command without ``--user-name`` (without it IAM acts on the *caller's own* keys: deactivating
"the old key" would lock the operator out, not the app), and a shopper-data dump left in /var/backups.

Commands are read with tests/deploy/test_runbook_commands.py's parser (fenced blocks and inline code).
"""

import re

import pytest

from tests.deploy.conftest import REPO
from tests.deploy.test_runbook_commands import aws_commands, test_command_matches_the_api_model

DOCUMENTS = [*sorted((REPO / "deploy/runbooks").glob("*.md")), REPO / "deploy/README.md"]
IAM_KEY_OPERATIONS = {"create-access-key", "update-access-key", "delete-access-key", "list-access-keys"}
# Services without a region of their own; every other one acts in the region the command names (or none).
GLOBAL_SERVICES = {"iam", "sts", "cloudfront", "route53", "organizations"}


def slips(markdown: str) -> list[str]:
    found = []
    for command in aws_commands(markdown):
        if len(command) < 2:
            continue
        service, operation, args = command[0], command[1], command[2:]
        line = " ".join(command)
        # Not only Lightsail: secretsmanager, cloudwatch, cognito-idp... are regional as well.
        if service not in GLOBAL_SERVICES and "--region" not in args:
            found.append(f"no --region: aws {line}")
        if service == "iam" and operation in IAM_KEY_OPERATIONS and "--user-name" not in args:
            found.append(f"no --user-name: aws {line}")
    # A word without a full command ("a day later `delete-access-key`") is a command to copy too.
    for span in re.findall(r"`([a-z-]+-access-key)`", markdown):
        found.append(f"bare IAM key operation: {span}")
    return found


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_no_runbook_command_misses_its_region_or_user(document):
    assert slips(document.read_text()) == []


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_lightsail_and_iam_commands_match_the_api_model(document):
    # Placeholders (<old>, <new address>) stand for one value each.
    for command in aws_commands(re.sub(r"<[^<>`]+>", "X", document.read_text())):
        if command[:1] in (["lightsail"], ["iam"]) and len(command) > 1:
            test_command_matches_the_api_model(document.name, command)


def test_the_old_slips_are_caught():
    """Lines these runbooks carried before issue #22."""
    old = (
        "`aws lightsail get-relational-database --relational-database-name aurelia-db-restored`\n"
        "4. `aws iam update-access-key --status Inactive --access-key-id AKIAOLD`; a day later `delete-access-key`.\n"
    )
    assert slips(old) == [
        "no --region: aws lightsail get-relational-database --relational-database-name aurelia-db-restored",
        "no --user-name: aws iam update-access-key --status Inactive --access-key-id AKIAOLD",
        "bare IAM key operation: delete-access-key",
    ]
    # Lines the merged runbooks of issue #22 still carried: regional services other than Lightsail.
    merged = (
        "`aws secretsmanager get-secret-value --secret-id aurelia/db-master --query SecretString --output text`\n"
        "`aws cloudwatch describe-alarms --state-value ALARM`\n"
    )
    assert len(slips(merged)) == 2


def test_the_backup_does_not_read_the_master_secret_with_the_instances_key():
    """pg_dump runs on the instance, whose only AWS key is the app's, which may not read db-master (the
    template's AppPolicy): the master secret is read on the operator's machine and pasted, never
    fetched inside the block that dumps (failed on the merged runbook: it fetched it right there)."""
    text = (REPO / "deploy/runbooks/backup-restore.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL)
    dumping = [block for block in blocks if "pg_dump" in block]
    assert dumping
    for block in dumping:
        assert "secretsmanager" not in block


def test_dumps_of_shopper_data_are_removed_by_the_runbook():
    """pg_dump writes names, addresses and orders: the step that writes one also removes it."""
    text = (REPO / "deploy/runbooks/backup-restore.md").read_text()
    assert "pg_dump" in text
    assert re.search(r"shred -u /var/backups/shop-\*\.dump", text)
