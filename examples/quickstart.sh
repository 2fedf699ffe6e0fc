#!/usr/bin/env bash
# Register a user, log in and call an authenticated endpoint through the gateway (needs `cognitionos up`).
set -euo pipefail
GATEWAY="${GATEWAY:-http://127.0.0.1:8000}"
USER_NAME="${USER_NAME:-demo_$RANDOM}"
PASSWORD="correct-horse-battery"
json() { python3 -c "import json,sys; print(json.load(sys.stdin)[\"$1\"])"; }

curl -sf "$GATEWAY/api/v1/auth/register" -H 'content-type: application/json' \
  -d "{\"username\": \"$USER_NAME\", \"email\": \"$USER_NAME@example.com\", \"password\": \"$PASSWORD\"}" >/dev/null
TOKEN=$(curl -sf "$GATEWAY/api/v1/auth/login" -H 'content-type: application/json' \
  -d "{\"username\": \"$USER_NAME\", \"password\": \"$PASSWORD\"}" | json access_token)
curl -sf "$GATEWAY/api/v1/auth/me" -H "Authorization: Bearer $TOKEN"
echo
