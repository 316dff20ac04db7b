#!/usr/bin/env bash
# Run here (the build machine) before using the GPU machine: copies what the GPU machine lacks
# into .gpu-carry/ (git-ignored), to be named in the device tool's `carry`:
#   GoogleTest's sources (built there with RNNX_GTEST_SOURCE_DIR), Google Benchmark's headers,
#   library and CMake config (found there with benchmark_DIR), and oneDNN and OpenBLAS with the
#   libraries they load, xz-compressed (about 7 MB; 60 MB unpacked would not fit the 64 MiB that
#   travels), with zlib's headers and static library, for scripts/gpu-check.sh to unpack there;
#   and Fashion-MNIST (30 MB, already gzip) for the seed classifier; the Python package's build
#   and test tools as wheels (scikit-build-core, nanobind, pytest);
#   and commit.txt, the commit and whether the tree differs from it (.git does not travel), with
#   files.txt and a hash of those files, by which scripts/gpu-check.sh tells whether the tree it
#   runs on is still the one described.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
carry="$root/.gpu-carry"
rm -rf "$carry"
mkdir -p "$carry/benchmark/include" "$carry/benchmark/lib/x86_64-linux-gnu/cmake"

cp -r /usr/src/googletest "$carry/googletest"
cp -r /usr/include/benchmark "$carry/benchmark/include/"
cp -a /usr/lib/x86_64-linux-gnu/libbenchmark.so* /usr/lib/x86_64-linux-gnu/libbenchmark_main.a \
  "$carry/benchmark/lib/x86_64-linux-gnu/"
cp -r /usr/lib/x86_64-linux-gnu/cmake/benchmark "$carry/benchmark/lib/x86_64-linux-gnu/cmake/"
# oneDNN and OpenBLAS (the cpu engine), with the libraries they load that a CUDA image may lack.
lib=usr/lib/x86_64-linux-gnu
files=(usr/include/oneapi/dnnl $(cd / && ls usr/include/dnnl*.h)
       $lib/libdnnl.so $lib/libdnnl.so.2 $lib/libdnnl.so.2.6
       usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h
       usr/include/x86_64-linux-gnu/openblas-pthread/openblas_config.h
       $lib/openblas-pthread/libopenblas.so $lib/openblas-pthread/libopenblas.so.0
       $lib/openblas-pthread/libopenblasp-r0.3.21.so
       $lib/libgfortran.so.5 $lib/libgfortran.so.5.0.0 $lib/libquadmath.so.0
       $lib/libquadmath.so.0.0.0 $lib/libOpenCL.so.1 $lib/libOpenCL.so.1.0.0
       usr/include/zlib.h usr/include/zconf.h $lib/libz.a)
(cd / && tar -cJf "$carry/cpu-libs.tar.xz" "${files[@]}")
cp -r /usr/share/datasets/fashion-mnist "$carry/fashion-mnist"
# The Python package's build and test tools, as wheels for the device's Python (3.12; these are
# pure Python, about 2.5 MB): the device has torch and numpy but no network for pip.
source "$root/scripts/common.sh"
wheels=()
for pkg in "${RNNX_PYTHON_PIP[@]}"; do
  [[ $pkg == numpy==* ]] || wheels+=("$pkg")  # numpy: the device's own, beside its torch
done
python3 -m pip download -q --disable-pip-version-check --dest "$carry/wheels" \
  --only-binary=:all: --python-version 3.12 --platform any --implementation py "${wheels[@]}"

# What travels to the device: tracked files and untracked ones git does not ignore.
cd "$root"
{ git ls-files; git ls-files --others --exclude-standard; } | sort -u >"$carry/files.txt"
changes=$(git status --porcelain --untracked-files=normal | wc -l)
{
  echo "commit: $(git rev-parse --short HEAD) ($(git log -1 --format=%cs HEAD))$([ "$changes" -gt 0 ] &&
    echo " + $changes uncommitted change(s)")"
  echo "carried: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "tree: $(tr '\n' '\0' <"$carry/files.txt" | xargs -0 sha1sum 2>/dev/null | sha1sum | cut -c1-12)"
} >"$carry/commit.txt"
cat "$carry/commit.txt"
du -sh "$carry" "$carry/cpu-libs.tar.xz"
