"""Every `aws ...` command in the release and restore runbooks names a real operation and real
options of the AWS API, with flags used as flags (botocore's service models, the same ones the AWS
CLI is generated from). Not covered: the values themselves (names, times) and IAM permissions."""

import re
import shlex

import botocore.session
import pytest

from tests.deploy.conftest import REPO

RUNBOOKS = [
    REPO / "deploy" / "runbooks" / name for name in ("backup-restore.md", "deploy-and-rollback.md", "rotate-secrets.md")
]
CLI_GLOBAL = {"query", "output", "region", "profile", "no-cli-pager", "endpoint-url", "debug"}
SEPARATORS = {"|", "||", "&&", ";", "(", ")", ">"}


def code_text(markdown: str) -> list[str]:
    """Fenced blocks (continuation lines joined) and inline code spans."""
    blocks = re.findall(r"```[a-z]*\n(.*?)```", markdown, re.DOTALL)
    rest = re.sub(r"```[a-z]*\n.*?```", "", markdown, flags=re.DOTALL)
    spans = re.findall(r"`([^`]+)`", rest)
    return [block.replace("\\\n", " ").replace("\n", " ; ") for block in blocks] + [
        span.replace("\n", " ") for span in spans
    ]


def aws_commands(markdown: str) -> list[list[str]]:
    commands = []
    for text in code_text(markdown):
        lexer = shlex.shlex(text.replace("$(", " ( "), posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        tokens = list(lexer)
        for index, token in enumerate(tokens):
            if token == "aws":
                command = []
                for part in tokens[index + 1 :]:
                    if part in SEPARATORS:
                        break
                    command.append(part)
                commands.append(command)
    return commands


def camel(words: str) -> str:
    return "".join(part.capitalize() for part in words.split("-"))


COMMANDS = [(path.name, command) for path in RUNBOOKS for command in aws_commands(path.read_text())]


def test_the_runbooks_have_the_restore_commands():
    operations = {(command[0], command[1]) for _name, command in COMMANDS}
    assert ("lightsail", "create-relational-database-from-snapshot") in operations
    assert ("lightsail", "get-relational-database") in operations


@pytest.mark.parametrize(("runbook", "command"), COMMANDS, ids=[" ".join(c[:2]) for _n, c in COMMANDS])
def test_command_matches_the_api_model(runbook, command):
    service, operation, *args = command
    model = botocore.session.get_session().get_service_model(service)
    name = camel(operation)
    assert name in model.operation_names, f"{runbook}: no {service} {operation}"
    members = model.operation_model(name).input_shape.members
    by_option = {re.sub(r"(?<!^)(?=[A-Z])", "-", member).lower(): shape for member, shape in members.items()}
    given = set()
    index = 0
    while index < len(args):
        option = args[index]
        assert option.startswith("--"), f"{runbook}: stray value {option!r} in {' '.join(command)}"
        option = option[2:]
        has_value = index + 1 < len(args) and not args[index + 1].startswith("--")
        index += 2 if has_value else 1
        if option in CLI_GLOBAL:
            continue
        plain = option.removeprefix("no-") if option.removeprefix("no-") in by_option else option
        assert plain in by_option, f"{runbook}: {service} {operation} has no --{option}"
        given.add(plain)
        if by_option[plain].type_name == "boolean":
            assert not has_value, f"{runbook}: --{option} is a flag (--{plain} / --no-{plain}), it takes no value"
        else:
            assert option == plain, f"{runbook}: --{option} is not a flag"
            assert has_value, f"{runbook}: --{option} needs a value"
    required = {
        re.sub(r"(?<!^)(?=[A-Z])", "-", member).lower()
        for member in model.operation_model(name).input_shape.required_members
    }
    assert required <= given, f"{runbook}: {service} {operation} misses {required - given}"


def test_the_old_mistake_is_caught():
    """The line this runbook used to carry: a boolean given a value."""
    old = (
        "aws lightsail create-relational-database-from-snapshot --relational-database-name x "
        "--use-latest-restorable-time false"
    )
    (command,) = aws_commands(f"`{old}`")
    with pytest.raises(AssertionError, match="is a flag"):
        test_command_matches_the_api_model("old", command)
