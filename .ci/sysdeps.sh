#!/usr/bin/env bash
# Install the Debian tools the tests use (oracles and a real browser) when they are missing.
set -euo pipefail
declare -A pkg_for=([plink2]=plink2 [plink1.9]=plink1.9 [bcftools]=bcftools [tabix]=tabix [bgzip]=tabix
                    [chromium]=chromium [java]=openjdk-17-jre-headless)
missing=()
for cmd in "${!pkg_for[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${pkg_for[$cmd]}")
done
# libdeflate: the VCF import's BGZF inflater loads it at run time (htslib depends on it, but say so)
ldconfig -p 2>/dev/null | grep -q "libdeflate.so.0 " || missing+=(libdeflate0)
[ ${#missing[@]} -eq 0 ] && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
echo "installing Debian packages: ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
