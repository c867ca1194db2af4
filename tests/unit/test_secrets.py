import boto3
import pytest

from resources.secrets import SecretNotFound, Secrets


def test_env_backend(monkeypatch):
    monkeypatch.setenv("NGRL_SECRET_RELEASE_KEY_V19", "00ff")
    secrets = Secrets(backend="env")
    assert secrets.get("release-key-v19") == "00ff"
    assert secrets.get_bytes("release-key-v19") == b"\x00\xff"
    with pytest.raises(SecretNotFound, match="NGRL_SECRET_MISSING"):
        secrets.get("missing")


@pytest.mark.s3
def test_aws_backend_reads_secrets_manager(aws_env):
    client = boto3.client("secretsmanager", endpoint_url=aws_env, region_name="eu-west-2")
    client.create_secret(Name="ngrl-test/release-key", SecretString="k3y")
    secrets = Secrets(backend="aws", prefix="ngrl-test/")
    assert secrets.get("release-key") == "k3y"
    with pytest.raises(SecretNotFound):
        secrets.get("absent")
