#!/usr/bin/env bash
# Rehearsal of the full reproduction (issue 11): config/config.yaml end to end, every experiment
# on (the LLM branch too), against miniature replicas of every source, served on loopback:
# datasets through `downloads_mirror` (config/rehearsal.yaml), models through HF_ENDPOINT, so
# that rules download_dataset and download_model run their own code. Hand-placed datasets are
# put under resources/local/ as the docs say; LAVA's videos go into the downloaded folder's
# videos/ as config.yaml says, once rule download_dataset has made it.
# Usage: bash scripts/rehearsal.sh [extra snakemake arguments]   (CORES=2 by default)
# REHEARSAL_SIZE=ci adds config/rehearsal-ci.yaml (shorter training loops only), as CI runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
CORES=${CORES:-2}
WORK=${REHEARSAL_DIR:-resources/rehearsal}
# One --configfile with every file: a second --configfile replaces the first (argparse), it
# does not layer over it.
CONFIGS=(--configfile config/config.yaml config/rehearsal.yaml)
case "${REHEARSAL_SIZE:-full}" in
  full) ;;
  ci) CONFIGS+=(config/rehearsal-ci.yaml) ;;
  *) echo "REHEARSAL_SIZE=$REHEARSAL_SIZE: expected full or ci" >&2; exit 2 ;;
esac
MIRROR_PORT=$(sed -n 's#^downloads_mirror: *http://127\.0\.0\.1:\([0-9]*\).*#\1#p' config/rehearsal.yaml)
[[ -n "$MIRROR_PORT" ]] || { echo "config/rehearsal.yaml: downloads_mirror is not http://127.0.0.1:<port>" >&2; exit 2; }
HUB_PORT=${HUB_PORT:-$((MIRROR_PORT + 1))}

# The overlay keeps config.yaml's paths, so the rehearsal writes where a real run does. It
# replaces only what an earlier rehearsal made (marker file), never a user's downloads.
LOCK=$(sed -n 's/^downloads_lock: *//p' config/config.yaml); LOCK=${LOCK:-resources/downloads.lock.json}
OURS=(resources/datasets resources/models resources/local/flickr30k resources/local/vwsd_test
      "$LOCK" results/main logs/main benchmarks/main)
MARKER=resources/.rehearsal-owns
if [[ ! -f "$MARKER" && -z "${REHEARSAL_FORCE:-}" ]]; then
  for path in "${OURS[@]}"; do
    if [[ -e "$path" ]]; then
      echo "$path exists and is not from a rehearsal; the rehearsal writes there (config.yaml's" \
        "paths): move it away, or set REHEARSAL_FORCE=1 to let the rehearsal replace it" >&2
      exit 2
    fi
  done
fi
rm -rf "$WORK" "${OURS[@]}"
mkdir -p resources && printf '%s\n' "${OURS[@]}" > "$MARKER"

start=$(date +%s)
"$BIN/semspace" rehearsal build --config config/config.yaml --mirror "$WORK/mirror" \
  --hub "$WORK/hub" --local resources/local --videos "$WORK/lava-videos"

"$BIN/semspace" rehearsal serve --mirror "$WORK/mirror" --hub "$WORK/hub" \
  --mirror-port "$MIRROR_PORT" --hub-port "$HUB_PORT" --urls "$WORK/urls.env" \
  > "$WORK/serve.log" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true' EXIT
for _ in $(seq 100); do [[ -s "$WORK/urls.env" ]] && break; kill -0 "$SERVER" || break; sleep 0.2; done
[[ -s "$WORK/urls.env" ]] || { cat "$WORK/serve.log" >&2; echo "servers did not start" >&2; exit 1; }
# shellcheck disable=SC1091
source "$WORK/urls.env"
export HF_ENDPOINT HF_HUB_OFFLINE=0
echo "mirror $MIRROR, hub $HF_ENDPOINT"

# Extra arguments first: the config files take every word up to the `--` before a target.
SNAKEMAKE=("$BIN/snakemake" --cores "$CORES" --resources gpu=1 "$@" "${CONFIGS[@]}")
# LAVA: the videos are unpacked into the downloaded folder (datasets.lava in config.yaml).
"${SNAKEMAKE[@]}" -- resources/datasets/lava
cp -r "$WORK/lava-videos" resources/datasets/lava/videos
"${SNAKEMAKE[@]}"
echo "rehearsal passed in $(( $(date +%s) - start )) s"
