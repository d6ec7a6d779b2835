"""Client settings files: the Kafka ecosystem's own KEY=VALUE format, read strictly."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from wire.kafka_client import ClientSettings, CredentialsError, find_credentials

GOOD = """\
# a comment
bootstrap.servers=127.0.0.1:19092
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.username=recipient-vrp
sasl.password=s3cret=with=equals
ssl.ca.location=/tmp/ca.pem
"""


def test_round_trip_and_kafka_python_mapping(tmp_path: Path) -> None:
    settings = ClientSettings.parse(GOOD, "f")
    assert settings.password == "s3cret=with=equals"
    assert settings.principal == "User:recipient-vrp"
    path = tmp_path / "c.properties"
    settings.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ClientSettings.load(path) == settings
    args = settings.kafka_python()
    assert args["security_protocol"] == "SASL_SSL"
    assert args["sasl_mechanism"] == "SCRAM-SHA-512"
    assert args["sasl_plain_username"] == "recipient-vrp"
    assert "s3cret" not in repr(settings)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (GOOD.replace("SASL_SSL", "PLAINTEXT"), "accepts only SASL_SSL"),
        (GOOD.replace("SCRAM-SHA-512", "PLAIN"), "accepts only SCRAM-SHA-512"),
        (GOOD + "sasl.username=other\n", "line 8: sasl.username is given twice"),
        (GOOD + "ssl.endpoint.identification.algorithm=\n", "unknown key"),
        (GOOD.replace("sasl.password=s3cret=with=equals\n", ""), "missing sasl.password"),
        (GOOD + "just words\n", "expected KEY=VALUE"),
    ],
)
def test_a_bad_file_names_the_line_and_the_key(text: str, words: str) -> None:
    with pytest.raises(CredentialsError, match=words):
        ClientSettings.parse(text, "creds.properties")


def test_credentials_come_from_the_option_then_the_environment_then_the_default(
    tmp_path: Path,
) -> None:
    default = tmp_path / "default.properties"
    given = tmp_path / "given.properties"
    env = {"SVDHUB_KAFKA_CREDENTIALS": str(tmp_path / "env.properties")}
    assert find_credentials(given, default, env) == given
    assert find_credentials(None, default, env) == tmp_path / "env.properties"
    with pytest.raises(CredentialsError, match="no Kafka credentials"):
        find_credentials(None, default, {})
    default.write_text(GOOD, encoding="utf-8")
    assert find_credentials(None, default, {}) == default
