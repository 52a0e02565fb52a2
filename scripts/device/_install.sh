# Sourced by the device scripts, from the repository root on the device machine (carrying
# build/dev, made by scripts/device/wheels.sh): install the carried wheels into /tmp/site and
# copy bench/ to /tmp/b, where the scripts run it (not from the root: there `neuro` is the source).
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
REPO=$(pwd)
python3 -m pip install -q --no-index --no-deps --target /tmp/site build/dev/wheels/*.whl 2>&1 | tail -2
export PYTHONPATH=/tmp/site
mkdir -p /tmp/b && cp -r bench /tmp/b/ && cd /tmp/b
python3 -c "import neuro, torch; print('neuro ok', torch.cuda.is_available())"
nvidia-smi --query-gpu=name,power.draw --format=csv 2>&1 | tail -2
