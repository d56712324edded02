#!/usr/bin/env bash
# Reproduce a shipped detector from the shared data and a COCO-pretrained start:
#   ./scripts/train-detector.sh road_damage 1.0.0 [--device 0]
# Fine-tunes with the recipe datasets/<detector>.train.yaml, exports fp32 + INT8 ONNX with
# evaluation and model card, and publishes into weights/<detector>/ unless the candidate is
# worse than the version there. Needs the [train] extra; ../shared or $STADTBLICK_SHARED.
set -euo pipefail
cd "$(dirname "$0")/.."
detector=${1:?usage: train-detector.sh DETECTOR VERSION [finetune options]}
version=${2:?usage: train-detector.sh DETECTOR VERSION [finetune options]}
shift 2
shared=${STADTBLICK_SHARED:-../shared}
data="$shared/datasets/$detector/data.yaml"
run="work/runs/$detector"
export YOLO_OFFLINE=1
stb=.venv/bin/stadtblick
$stb train validate "$data" --json "work/$detector-validation.json" || echo "validation found issues (see above); training anyway"
$stb train finetune --detector "$detector" --data "$data" --start coco --shared "$shared" \
    --project "$run" --name "v$version" "$@"
$stb train export --detector "$detector" --weights "$run/v$version/weights/best.pt" --data "$data" \
    --version "$version" --out "work/build/$detector-$version"
if [ "$detector" = lost_property ]; then  # the desk's photo search pools the detector's own features
    $stb train export-embedding "work/build/$detector-$version"
    $stb train lost-property-retrieval "work/build/$detector-$version" --data "$data"
fi
$stb train publish "work/build/$detector-$version" --data "$data" --weights-dir weights
