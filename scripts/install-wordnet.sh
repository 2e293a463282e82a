#!/usr/bin/env bash
# Installs Debian's WordNet 3.0 files (/usr/share/wordnet) for offline use by NLTK.
set -euo pipefail
if [ -f /usr/share/wordnet/data.noun ]; then exit 0; fi
if ! command -v apt-get >/dev/null; then
  echo "WordNet files not found in /usr/share/wordnet and apt-get is not available." >&2
  echo "Install WordNet 3.0 (e.g. Debian/Ubuntu: wordnet-base) or run python -m nltk.downloader wordnet." >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wordnet-base wordnet-sense-index
