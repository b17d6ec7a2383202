"""The secrets `deploy/compose.yaml` reads, made once: `python -m services.compose_env` (or
`make compose-env`) writes into `.data/compose/`: `<service>.env` with each service's own
token and the digests of the tokens it accepts (intake's and notify's also with the key that
signs reply addresses), the operator's token (Prometheus scrapes with it) and the payload keys.
Existing files are kept: new tokens would lock running services out of each other, new keys
would leave histories unreadable and customers' answers unmatched."""

import json
import sys
from pathlib import Path

from services.common.codec import PayloadKeys
from services.common.local_secrets import kept_secret
from services.common.service_auth import digest, new_service_tokens

# Compose's application services and the caller each presents itself as.
SERVICES = {
    "intake": "intake",
    "workflow": "workflow",
    "worker": "workflow",
    "notify": "notify",
    "reporting": "reporting",
}


def write(data_dir: Path) -> list[Path]:
    compose = data_dir / "compose"
    compose.mkdir(parents=True, exist_ok=True)
    written = []
    tokens_file = compose / "tokens.json"  # the tokens themselves: only this folder holds them
    if not tokens_file.exists():
        tokens_file.write_text(json.dumps(new_service_tokens()), encoding="utf-8")
        tokens_file.chmod(0o600)
        written.append(tokens_file)
    tokens: dict[str, str] = json.loads(tokens_file.read_text(encoding="utf-8"))
    accepted = json.dumps({caller: digest(token) for caller, token in tokens.items()})
    reply_key = kept_secret(compose / "mail-reply-key.txt", 32)  # notify signs, intake checks
    for service, caller in SERVICES.items():
        env = compose / f"{service}.env"
        lines = [f"COMPLAINTS_SERVICE_TOKEN={tokens[caller]}", f"COMPLAINTS_CALLER_TOKENS={accepted}"]
        if service in ("intake", "notify"):
            lines.append(f"COMPLAINTS_MAIL_REPLY_KEY={reply_key}")
        env.write_text("\n".join(lines) + "\n", encoding="utf-8")
        env.chmod(0o600)
        written.append(env)
    operator = compose / "operator-token.txt"
    operator.write_text(tokens["operator"], encoding="utf-8")
    keys = compose / "payload-keys.json"
    if not keys.exists():
        PayloadKeys.create(keys)
        written.append(keys)
    return [*written, operator]


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".data")
    for path in write(folder):
        print(path)
