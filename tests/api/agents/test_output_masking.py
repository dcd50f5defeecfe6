"""What an agent reports of a script is masked before it leaves the host: whole secrets,
each line of a multi-line one, and a piece of one where a line or the kept output was cut."""

from __future__ import annotations

from shiplane.agents.runtime import masker


def test_secrets_are_masked_whole_by_line_and_at_the_cuts() -> None:
    mask = masker(["s3cr3t-value-123", "-----BEGIN KEY-----\nMIIEvQIBADANBg\n-----END KEY-----"])
    assert mask("token=s3cr3t-value-123 ok") == "token=*** ok"
    assert mask("token=s3cr3t-va") == "token=***"  # a long line cut inside the secret
    assert mask("lue-123 and the rest") == "*** and the rest"  # the kept tail starts inside it
    assert mask("key: MIIEvQIBADANBg") == "key: ***"  # one line of a multi-line secret
    assert mask("plain text, nothing secret") == "plain text, nothing secret"
    assert masker([])("anything") == "anything"
