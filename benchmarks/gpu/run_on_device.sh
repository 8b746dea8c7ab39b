#!/usr/bin/env bash
# One shot on the GPU machine (no network): install the wheels carried in .whl/ (README, "GPU validation") and
# the project, then run the validation, writing to $OUT when set (else reports/gpu-validation). Arguments are
# passed to validate.py (e.g. --quick, --data-dir DIR). Exit status: validate.py's.
set -uo pipefail
cd "$(dirname "$0")/../.."
python="${PYTHON:-$(command -v python || command -v python3)}"
begin=$(date +%s)
if compgen -G ".whl/*.whl" > /dev/null; then
    "$python" -m pip install --quiet --no-index --no-deps .whl/*.whl \
        || echo "run_on_device: the wheels in .whl/ did not install" >&2
else
    echo "run_on_device: no wheels in .whl/ (only 'tradeoff-bench history plot' needs ruptures)" >&2
fi
"$python" -m pip install --quiet --no-deps --no-build-isolation -e . \
    || echo "run_on_device: editable install failed; validate.py runs from this checkout anyway" >&2
installed=$(date +%s)
"$python" -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda, 'available', torch.cuda.is_available())"
"$python" benchmarks/gpu/validate.py --out "${OUT:-reports/gpu-validation}" "$@"
status=$?
end=$(date +%s)
echo "run_on_device: installation $((installed - begin)) s, validation $((end - installed)) s, total $((end - begin)) s"
exit "$status"
